// Subword tokenizer: a thin wrapper over SentencePiece (BPE with byte fallback). Training reads a
// bounded, deterministic sample of the corpus through a sentence iterator (never the whole corpus
// in memory); encoding is thread-safe. The end-of-text token (`</s>`, id 2) ends every document.
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

struct TokenizerTrainOptions {
  int64_t vocab_size = 8192;
  int threads = 1;
  uint64_t max_sample_bytes = 64ull << 20;  // text fed to the trainer
};

class Tokenizer {
 public:
  // Loads a SentencePiece .model file (BadInput error naming it otherwise).
  static Tokenizer load(const std::string& path);
  // Trains from `sample_lines` (a callback returning the next line, or false when done) and writes
  // the model to `out_path`.
  static Tokenizer train(const std::function<bool(std::string&)>& next_line, const TokenizerTrainOptions& o,
                         const std::string& out_path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;  // thread-safe
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  int32_t eos_id() const;
  uint64_t hash() const { return hash_; }        // of the model file bytes
  const std::string& model_bytes() const { return bytes_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string bytes_;
  uint64_t hash_ = 0;
};

// Minimum vocabulary: 256 byte-fallback pieces + <unk>, <s>, </s> + room for merges.
constexpr int64_t kMinVocab = 260;

}  // namespace mor::data
