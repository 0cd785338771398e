// Fast encoding for one thread: text is cut into whitespace segments (segment.h) and the tokens
// of each short segment (a word with its leading space) are cached, so SentencePiece only runs on
// words not seen before. The result is exactly Tokenizer::encode(text) (the cache is used only
// when Tokenizer::segmentable()); the tests check this on mixed text.
// Not thread-safe: give each worker thread its own TokenEncoder.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace mor::data {

class TokenEncoder {
 public:
  explicit TokenEncoder(const Tokenizer& tok, size_t max_entries = 1 << 18);
  // Appends the tokens of `text` to `out`.
  void encode(std::string_view text, std::vector<int32_t>& out);
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Span {
    uint32_t begin, size;  // into arena_
  };
  void encode_segment(std::string_view seg, std::vector<int32_t>& out);

  const Tokenizer& tok_;
  size_t max_entries_;
  std::unordered_map<std::string, Span, Hash, std::equal_to<>> cache_;
  std::vector<int32_t> arena_;  // cached token ids, back to back
  std::vector<int> scratch_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace mor::data
