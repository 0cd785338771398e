// Fast encoding: text is cut where no BPE merge can cross (Tokenizer::segment_end: mostly word /
// punctuation / whitespace runs) and the tokens of each short segment are cached, so
// SentencePiece only runs on segments not seen before. The result is exactly
// Tokenizer::encode(text) (the cache is used only when Tokenizer::segmentable()); the tests check
// this on mixed text, and `mor prepare` runs at several times SentencePiece's speed.
//
// Each worker thread owns a TokenEncoder with a private cache; a SharedSegmentCache (behind one
// mutex, consulted only on private misses) lets the workers share the work of encoding new
// segments. Caches are flat open-addressing tables of 64-byte slots (segment of <= 32 bytes and
// its <= 5 tokens inline: one cache line per lookup), cleared when half full (fixed memory).
#pragma once
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "tokenizer.h"

namespace mor::data {

class SegmentTable {
 public:
  static constexpr size_t kMaxKey = 32, kMaxTokens = 5;
  struct alignas(64) Slot {
    uint64_t hash = 0;  // 0: empty
    char key[kMaxKey];
    uint8_t key_len = 0, n_tokens = 0;
    int32_t tokens[kMaxTokens];
  };
  static_assert(sizeof(Slot) == 64);

  explicit SegmentTable(int log2_slots);
  static uint64_t hash(std::string_view seg);  // never 0
  const Slot* find(std::string_view seg, uint64_t h) const;
  // Requires seg.size() <= kMaxKey and n <= kMaxTokens.
  void insert(std::string_view seg, uint64_t h, const int32_t* tokens, size_t n);

 private:
  std::vector<Slot> slots_;
  size_t mask_, used_ = 0;
};

// A segment cache shared by the encoders of one run (thread-safe).
class SharedSegmentCache {
 public:
  explicit SharedSegmentCache(int log2_slots = 18) : table_(log2_slots) {}
  bool find(std::string_view seg, uint64_t h, std::vector<int32_t>& out);  // appends on a hit
  void insert(std::string_view seg, uint64_t h, const int32_t* tokens, size_t n);

 private:
  std::mutex mu_;
  SegmentTable table_;
};

class TokenEncoder {
 public:
  explicit TokenEncoder(const Tokenizer& tok, SharedSegmentCache* shared = nullptr, int log2_slots = 17);
  // Appends the tokens of `text` to `out`.
  void encode(std::string_view text, std::vector<int32_t>& out);
  uint64_t hits() const { return hits_; }      // segments found in a cache
  uint64_t misses() const { return misses_; }  // segments SentencePiece encoded

 private:
  void encode_segment(std::string_view seg, std::vector<int32_t>& out);

  const Tokenizer& tok_;
  SharedSegmentCache* shared_;
  SegmentTable table_;
  std::vector<int> scratch_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace mor::data
