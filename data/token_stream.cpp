// Token stream over a split; see token_stream.h.
#include "token_stream.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "json_io.h"
#include "src/core/error.h"

namespace mor::data {
namespace fs = std::filesystem;

namespace {
std::optional<Manifest> manifest_of(const fs::path& split_dir) {
  const fs::path p = split_dir.parent_path() / "manifest.json";
  if (!fs::exists(p)) return std::nullopt;
  return read_manifest(p.string());
}
}  // namespace

TokenStream::TokenStream(const std::string& split_dir, int64_t expect_vocab, uint64_t expect_tokenizer_hash) : dir_(split_dir) {
  fs::path dir(split_dir);
  if (!dir.has_filename()) dir = dir.parent_path();  // "DATASET/train/"
  if (!fs::is_directory(dir))
    fail_input(split_dir, ": no such dataset split directory. Hint: run `mor prepare --out DATASET` and set data.path: DATASET.");
  if (fs::exists(dir / "manifest.json"))
    fail_input(split_dir, ": this is a dataset directory, not a split. Hint: use ", (dir / "train").string(), " or ",
               (dir / "val").string(), ".");
  const std::string split = dir.filename().string();
  const std::optional<Manifest> m = split == "train" || split == "val" ? manifest_of(dir) : std::nullopt;
  if (!m && (split == "train" || split == "val") && fs::exists(dir.parent_path() / "tokenizer.model"))
    fail_input((dir.parent_path() / "manifest.json").string(), ": missing, so the shards of ", split_dir,
               " cannot be checked against it (a lost shard would go unnoticed). Hint: re-run `mor prepare`.");
  const SplitInfo* listed = m ? &m->split(split) : nullptr;
  std::vector<std::string> files;
  if (listed) {
    for (const auto& sh : listed->shards) {
      const fs::path f = dir / sh.file;
      if (!fs::exists(f))
        fail_input(f.string(), ": shard listed in the dataset manifest is missing. Hint: re-run `mor prepare`.");
      files.push_back(f.string());
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".bin") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty() && !m)
    fail_input(split_dir, ": not a dataset split (no manifest.json beside it, no .bin shards in it). Hint: pass a "
               "directory written by `mor prepare` (or its train/ or val/).");
  if (files.empty())
    fail_input(split_dir, ": no token shards (the split is empty). Hint: re-run `mor prepare` with more text, or a larger "
               "--val-fraction for the validation split.");
  uint64_t hash = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& f = files[i];
    shards_.push_back(std::make_unique<ShardReader>(f));
    const ShardHeader& h = shards_.back()->header();
    if (i == 0) vocab_ = int64_t(h.vocab_size), hash = h.tokenizer_hash;
    if (int64_t(h.vocab_size) != vocab_ || h.tokenizer_hash != hash)
      fail_input(f, ": vocabulary size or tokenizer differs from ", files[0], ". Hint: a split must come from one `mor prepare` run.");
    if (listed && h.tokens != listed->shards[i].tokens)
      fail_input(f, ": holds ", h.tokens, " tokens but the manifest says ", listed->shards[i].tokens,
                 ". Hint: the dataset was modified after `mor prepare`; re-run it.");
    starts_.push_back(total_);
    total_ += h.tokens;
  }
  if (m && m->vocab_size != vocab_)
    fail_input(split_dir, ": the shards were written with another tokenizer than the manifest's (vocabulary ", vocab_,
               " vs ", m->vocab_size, "). Hint: the dataset was modified after `mor prepare`; re-run it.");
  if (m && m->tokenizer_hash != hash)
    fail_input(split_dir, ": the shards were written with another tokenizer than the manifest's (same vocabulary of ", vocab_,
               ", but tokenizer hash ", hash, " vs ", m->tokenizer_hash,
               "). Hint: the dataset was modified after `mor prepare` (shards or manifest.json from another run); re-run it.");
  hash_ = hash;
  if (expect_vocab > 0 && expect_vocab != vocab_)
    fail_input(split_dir, ": the dataset's vocabulary has ", vocab_, " tokens but model.vocab_size is ", expect_vocab,
               ". Hint: set model.vocab_size: ", vocab_, " (or --set model.vocab_size=", vocab_,
               "); to evaluate a trained model, pass a dataset prepared with its tokenizer.");
  if (expect_tokenizer_hash != 0 && expect_tokenizer_hash != hash_)
    fail_input(split_dir, ": encoded with another tokenizer than the model's (tokenizer hash ", hash_, " vs ",
               expect_tokenizer_hash, "). Hint: pass a dataset prepared with the model's tokenizer (mor prepare --tokenizer MODEL).");
}

uint64_t TokenStream::windows(int64_t seq_len) const {
  if (total_ < uint64_t(seq_len) + 1)
    fail_input(dir_, ": ", total_, " tokens is fewer than one window of seq_len + 1 = ", seq_len + 1,
               ". Hint: lower train.seq_len or add text.");
  return (total_ - 1) / uint64_t(seq_len);
}

void TokenStream::read(uint64_t begin, uint64_t n, int32_t* out) const {
  MOR_CHECK(begin + n <= total_, "token stream read past the end");
  size_t s = size_t(std::upper_bound(starts_.begin(), starts_.end(), begin) - starts_.begin()) - 1;
  while (n > 0) {
    const uint64_t local = begin - starts_[s];
    const uint64_t take = std::min(n, shards_[s]->tokens() - local);
    shards_[s]->read(local, take, out);
    out += take;
    begin += take;
    n -= take;
    ++s;
  }
}

}  // namespace mor::data
