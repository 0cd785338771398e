// SentencePiece wrapper; see tokenizer.h.
#include "tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "shard.h"
#include "src/core/error.h"

namespace mor::data {
namespace {

class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::function<bool(std::string&)>& next) : next_(next) { Next(); }
  bool done() const override { return done_; }
  void Next() override { done_ = !next_(line_); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::function<bool(std::string&)>& next_;
  std::string line_;
  bool done_ = false;
};

}  // namespace

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail_input(path, ": cannot open the tokenizer model. Hint: pass a SentencePiece .model file (e.g. DATASET/tokenizer.model).");
  std::stringstream ss;
  ss << f.rdbuf();
  Tokenizer t;
  t.bytes_ = ss.str();
  t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto st = t.sp_->LoadFromSerializedProto(t.bytes_);
  if (!st.ok()) fail_input(path, ": not a SentencePiece model (", st.ToString(), "). Hint: pass a .model file written by `mor prepare` or spm_train.");
  t.hash_ = checksum_bytes(t.bytes_.data(), t.bytes_.size());
  return t;
}

Tokenizer Tokenizer::train(const std::function<bool(std::string&)>& next_line, const TokenizerTrainOptions& o,
                           const std::string& out_path) {
  if (o.vocab_size < kMinVocab)
    fail_input("--vocab-size ", o.vocab_size, " is too small: byte fallback needs 256 byte pieces plus 3 specials. Hint: use at least ",
               kMinVocab, ".");
  std::unordered_map<std::string, std::string> kw = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"num_threads", std::to_string(std::max(1, o.threads))},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"max_sentence_length", "16384"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"hard_vocab_limit", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"minloglevel", "2"},
  };
  LineIterator it(next_line);
  std::string proto;
  auto st = sentencepiece::SentencePieceTrainer::Train(kw, &it, &proto);
  if (!st.ok()) {
    std::string msg = st.ToString();
    if (msg.find("smaller than required_chars") != std::string::npos)
      fail_input("tokenizer training failed: ", msg, ". Hint: --vocab-size ", o.vocab_size,
                 " is too small for the distinct characters of this corpus; raise it.");
    if (msg.find("Vocabulary size") != std::string::npos || msg.find("vocab_size") != std::string::npos)
      fail_input("tokenizer training failed: ", msg, ". Hint: the corpus is too small for --vocab-size ", o.vocab_size,
                 "; lower it or add text.");
    fail_input("tokenizer training failed: ", msg, ". Hint: check that the corpus holds enough text.");
  }
  {
    std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
    f.write(proto.data(), std::streamsize(proto.size()));
    if (!f) fail_internal(out_path, ": cannot write the tokenizer model");
  }
  return load(out_path);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  auto st = sp_->Encode(text, &ids);
  if (!st.ok()) fail_internal("tokenizer encode failed: ", st.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  std::vector<int> v(ids.begin(), ids.end());
  auto st = sp_->Decode(v, &out);
  if (!st.ok()) fail_internal("tokenizer decode failed: ", st.ToString());
  return out;
}

int64_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t Tokenizer::eos_id() const { return sp_->eos_id(); }

}  // namespace mor::data
