// Subword tokenizer: a thin wrapper over SentencePiece (BPE with byte fallback, so any UTF-8 text
// encodes and decode(encode(text)) == text). Training reads sentences through a callback (the
// caller streams a bounded sample; the corpus is never loaded whole). Encoding is thread-safe.
// The end-of-text token `</s>` (id 2 in trained models) ends every document.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace mor::data {

// Smallest trainable vocabulary: 256 byte-fallback pieces + <unk>, <s>, </s> + one merge. The
// trainer also needs one piece per frequent character, so real corpora need a few dozen more.
constexpr int64_t kMinVocab = 260;

struct TokenizerTrainOptions {
  int64_t vocab_size = 8192;
  int threads = 1;
};

// One vocabulary entry as GGUF's tokenizer.ggml.* arrays describe it.
struct VocabEntry {
  std::string piece;  // SentencePiece text ("▁" for a space, "<0x0A>" for a byte)
  float score = 0;    // the model's score (BPE merge order)
  int type = 1;       // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
};

class Tokenizer {
 public:
  // Loads a SentencePiece .model file (BadInput error naming it otherwise).
  static Tokenizer load(const std::string& path);
  // Trains a BPE model on the sentences `next_sentence` yields (false when done), writes it to
  // `out_path` and loads it. `corpus` names the input in error messages. Settings: identity
  // normalisation, no dummy prefix, no whitespace collapsing, digits split, byte fallback.
  static Tokenizer train(const std::function<bool(std::string&)>& next_sentence, const TokenizerTrainOptions& o,
                         const std::string& out_path, const std::string& corpus);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;  // thread-safe
  void encode_append(std::string_view text, std::vector<int>& scratch, std::vector<int32_t>& out) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  int32_t eos_id() const;
  int32_t bos_id() const;  // -1 when the model has none
  int32_t unk_id() const;
  std::vector<VocabEntry> vocabulary() const;  // every id in order
  // The byte a byte-fallback piece stands for ("<0xE2>" -> 0xE2), or -1 for any other piece.
  int byte_value(int32_t id) const;
  uint64_t hash() const { return hash_; }  // 64-bit hash of the model file bytes
  const std::string& path() const { return path_; }
  // True when encoding whitespace segments separately (segment.h) is exact for this model: no
  // piece holds a space after a non-space character and the model adds no dummy prefix and does
  // not collapse whitespace (checked on probe texts). Trained models always qualify.
  bool segmentable() const { return segmentable_; }
  // Where encoding may be cut without changing the tokens, finer than whitespace: between two
  // ASCII characters that no vocabulary piece holds side by side (a BPE merge never joins them).
  // End of the segment starting at `begin`: the next such cut, or s.size().
  size_t segment_end(std::string_view s, size_t begin) const;

 private:
  Tokenizer() = default;
  bool check_segmentable() const;
  void build_join_table();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
  uint64_t hash_ = 0;
  bool segmentable_ = false;
  std::vector<uint8_t> joined_;  // [a * 128 + b]: some piece holds ASCII a then b (' ' for '▁')
};

}  // namespace mor::data
