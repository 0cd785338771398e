// SentencePiece wrapper; see tokenizer.h.
#include "tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "segment.h"
#include "src/core/error.h"
#include "src/core/rng.h"

namespace mor::data {
namespace {

// Adapts the sentence callback to SentencePiece's iterator interface.
class CallbackSentences : public sentencepiece::SentenceIterator {
 public:
  explicit CallbackSentences(const std::function<bool(std::string&)>& next) : next_(next) { Next(); }
  bool done() const override { return done_; }
  void Next() override { done_ = !next_(sentence_); }
  const std::string& value() const override { return sentence_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::function<bool(std::string&)>& next_;
  std::string sentence_;
  bool done_ = false;
};

// The number after `marker` in a SentencePiece message ("... <= 15074." -> 15074), or -1.
long long number_after(const std::string& msg, const std::string& marker) {
  const size_t p = msg.find(marker);
  if (p == std::string::npos) return -1;
  try {
    return std::stoll(msg.substr(p + marker.size()));
  } catch (...) {
    return -1;
  }
}

[[noreturn]] void fail_training(const std::string& msg, const TokenizerTrainOptions& o, const std::string& corpus) {
  if (long long need = number_after(msg, " vs "); msg.find("smaller than required_chars") != std::string::npos)
    fail_input(corpus, ": --vocab-size ", o.vocab_size, " is too small: 259 byte and special pieces plus one piece for each of ",
               "the ", need - 259, " characters this corpus uses need ", need, ". Hint: use --vocab-size ", need + 256,
               " or more (room for merges).");
  if (long long most = number_after(msg, "value <= "); most > 0)
    fail_input(corpus, ": --vocab-size ", o.vocab_size, " is too large for this corpus (it supports at most ", most,
               " pieces). Hint: use --vocab-size ", most, " or less, or add text.");
  if (msg.find("sentences_.empty()") != std::string::npos)
    fail_input(corpus, ": no text to train the tokenizer on. Hint: point --input at text files.");
  fail_input(corpus, ": tokenizer training failed (", msg, "). Hint: check that the corpus holds enough text.");
}

}  // namespace

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  if (std::filesystem::is_directory(path))
    fail_input(path, ": is a directory, not a tokenizer model. Hint: pass its SentencePiece .model file (a dataset "
               "directory holds it as ", (std::filesystem::path(path) / "tokenizer.model").string(), ").");
  std::ifstream f(path, std::ios::binary);
  if (!f)
    fail_input(path, ": cannot open the tokenizer model. Hint: pass a SentencePiece .model file (e.g. DATASET/tokenizer.model).");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  Tokenizer t;
  t.path_ = path;
  t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (auto st = t.sp_->LoadFromSerializedProto(bytes); !st.ok())
    fail_input(path, ": not a SentencePiece model (", st.ToString(),
               "). Hint: pass a .model file written by `mor prepare` or spm_train.");
  if (t.sp_->eos_id() < 0)
    fail_input(path, ": the tokenizer has no end-of-text piece (</s>). Hint: train it with --eos_id set, or let `mor prepare` train one.");
  t.hash_ = hash_string(bytes);
  t.build_join_table();
  t.segmentable_ = t.check_segmentable();
  return t;
}

Tokenizer Tokenizer::train(const std::function<bool(std::string&)>& next_sentence, const TokenizerTrainOptions& o,
                           const std::string& out_path, const std::string& corpus) {
  if (o.vocab_size < kMinVocab)
    fail_input("--vocab-size ", o.vocab_size, " is too small: byte fallback needs 256 byte pieces plus 3 special pieces. "
               "Hint: use at least ", kMinVocab, " (a few hundred more for real text).");
  const std::unordered_map<std::string, std::string> kw = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"num_threads", std::to_string(std::max(1, o.threads))},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"max_sentence_length", "16384"},
      {"input_sentence_size", "0"},  // the caller bounds the sample
      {"shuffle_input_sentence", "false"},
      {"hard_vocab_limit", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"minloglevel", "2"},
  };
  CallbackSentences it(next_sentence);
  std::string proto;
  if (auto st = sentencepiece::SentencePieceTrainer::Train(kw, &it, &proto); !st.ok())
    fail_training(st.ToString(), o, corpus);
  {
    std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
    f.write(proto.data(), std::streamsize(proto.size()));
    if (!f) fail_input(out_path, ": cannot write the tokenizer model. Hint: check the output directory is writable.");
  }
  return load(out_path);
}

void Tokenizer::build_join_table() {
  joined_.assign(128 * 128, 0);
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    if (sp_->IsControl(id) || sp_->IsUnknown(id) || sp_->IsByte(id)) continue;  // "<0x0A>" is one byte, not text
    std::string piece = sp_->IdToPiece(id);
    for (size_t p; (p = piece.find("\xE2\x96\x81")) != std::string::npos;) piece.replace(p, 3, " ");
    for (size_t i = 1; i < piece.size(); ++i) {
      const auto a = static_cast<unsigned char>(piece[i - 1]), b = static_cast<unsigned char>(piece[i]);
      if (a < 128 && b < 128) joined_[a * 128 + b] = 1;
    }
  }
}

size_t Tokenizer::segment_end(std::string_view s, size_t begin) const {
  for (size_t i = begin + 1; i < s.size(); ++i) {
    const auto a = static_cast<unsigned char>(s[i - 1]), b = static_cast<unsigned char>(s[i]);
    if (a < 128 && b < 128 && !joined_[a * 128 + b]) return i;
  }
  return s.size();
}

bool Tokenizer::check_segmentable() const {
  // 1. No piece may hold a space after a non-space character ("a▁b", "x▁"): such a piece could
  //    cross a segment boundary. (Runs of spaces, "▁▁▁", are fine.)
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    const std::string& piece = sp_->IdToPiece(id);
    for (size_t i = 1; i < piece.size(); ++i)
      if (is_segment_boundary(piece, i) || (piece.compare(i, 3, "\xE2\x96\x81") == 0 && !ends_with_space(piece, i)))
        return false;
  }
  // 2. Normalisation, dummy prefix and whitespace handling: probe texts must encode the same whole
  //    and segment by segment (at whitespace and at the finer join-table cuts), and decode back
  //    unchanged.
  const char* probes[] = {"a b", "a  b", "  lead", "tail  ", "x\ny z", "a\tb c", "\xE2\x96\x81x y", "caf\xC3\xA9 d\xC3\xA9j\xC3\xA0",
                          "1234 5678", "(x, y).\n\n  - z: \"w\"\r\n"};
  std::vector<int> scratch;
  for (std::string_view p : probes) {
    std::vector<int32_t> whole = encode(p), by_space, by_table;
    for (size_t b = 0, e; b < p.size(); b = e) {
      e = b + 1;
      while (e < p.size() && !is_segment_boundary(p, e)) ++e;
      encode_append(p.substr(b, e - b), scratch, by_space);
    }
    for (size_t b = 0, e; b < p.size(); b = e) encode_append(p.substr(b, (e = segment_end(p, b)) - b), scratch, by_table);
    const bool has_space_symbol = p.find("\xE2\x96\x81") != std::string_view::npos;  // decodes as ' ' by design
    if (whole != by_space || whole != by_table || (!has_space_symbol && decode(whole) != p)) return false;
  }
  return true;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> scratch;
  std::vector<int32_t> out;
  encode_append(text, scratch, out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, std::vector<int>& scratch, std::vector<int32_t>& out) const {
  if (auto st = sp_->Encode(text, &scratch); !st.ok()) fail_internal("tokenizer encode failed: ", st.ToString());
  out.insert(out.end(), scratch.begin(), scratch.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  const std::vector<int> v(ids.begin(), ids.end());
  if (auto st = sp_->Decode(v, &out); !st.ok()) fail_internal("tokenizer decode failed: ", st.ToString());
  return out;
}

int64_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t Tokenizer::eos_id() const { return sp_->eos_id(); }
int32_t Tokenizer::bos_id() const { return sp_->bos_id(); }
int32_t Tokenizer::unk_id() const { return sp_->unk_id(); }

std::vector<VocabEntry> Tokenizer::vocabulary() const {
  std::vector<VocabEntry> v(size_t(sp_->GetPieceSize()));
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    VocabEntry& e = v[size_t(id)];
    e.piece = sp_->IdToPiece(id);
    e.score = sp_->GetScore(id);
    e.type = sp_->IsUnknown(id) ? 2 : sp_->IsControl(id) ? 3 : sp_->IsUnused(id) ? 5 : sp_->IsByte(id) ? 6 : 1;
  }
  return v;
}

int Tokenizer::byte_value(int32_t id) const {
  if (id < 0 || id >= sp_->GetPieceSize() || !sp_->IsByte(id)) return -1;
  const std::string& piece = sp_->IdToPiece(id);  // "<0xE2>"
  return piece.size() == 6 ? int(std::strtol(piece.substr(3, 2).c_str(), nullptr, 16)) : -1;
}

}  // namespace mor::data
