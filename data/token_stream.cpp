// Token stream over a split and the window permutation; see token_stream.h.
#include "token_stream.h"

#include <algorithm>
#include <filesystem>

#include "manifest.h"
#include "src/core/error.h"
#include "src/core/rng.h"

namespace mor::data {
namespace fs = std::filesystem;

TokenStream::TokenStream(const std::string& split_dir, int64_t expect_vocab) : dir_(split_dir) {
  const fs::path dir(split_dir);
  if (!fs::is_directory(dir))
    fail_input(split_dir, ": no such dataset split directory. Hint: run `mor prepare --out DATASET` and set data.path: DATASET.");
  std::vector<std::string> files;
  const fs::path manifest = dir.parent_path() / "manifest.json";
  if (fs::exists(manifest)) {
    Manifest m = read_manifest(manifest.string());
    const SplitInfo& s = dir.filename() == "val" ? m.val : m.train;
    for (const auto& sh : s.shards) {
      if (!fs::exists(dir / sh.file))
        fail_input((dir / sh.file).string(), ": shard listed in ", manifest.string(), " is missing. Hint: re-run `mor prepare`.");
      files.push_back((dir / sh.file).string());
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".bin") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) fail_input(split_dir, ": no token shards. Hint: re-run `mor prepare` (the split may be empty).");
  for (const auto& f : files) {
    shards_.push_back(std::make_unique<ShardReader>(f));
    const ShardHeader& h = shards_.back()->header();
    if (vocab_ == 0) vocab_ = int64_t(h.vocab_size);
    if (int64_t(h.vocab_size) != vocab_)
      fail_input(f, ": vocabulary size ", h.vocab_size, " differs from the other shards (", vocab_,
                 "). Hint: a split must come from one `mor prepare` run.");
    starts_.push_back(total_);
    total_ += h.tokens;
  }
  if (expect_vocab > 0 && expect_vocab != vocab_)
    fail_input(split_dir, ": the dataset's vocabulary has ", vocab_, " tokens but model.vocab_size is ", expect_vocab,
               ". Hint: set model.vocab_size: ", vocab_, " (or --set model.vocab_size=", vocab_, ").");
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

WindowPermutation::WindowPermutation(uint64_t n, uint64_t seed, uint64_t epoch) : n_(n) {
  uint64_t bits = 2;
  while ((uint64_t(1) << bits) < n) ++bits;
  if (bits % 2) ++bits;
  half_bits_ = bits / 2;
  mask_ = (uint64_t(1) << half_bits_) - 1;
  uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ (epoch + 1) * 0xbf58476d1ce4e5b9ull;
  for (auto& k : keys_) k = splitmix64(x);
}

uint64_t WindowPermutation::operator()(uint64_t i) const {
  uint64_t x = i;
  do {  // cycle walking: re-apply until the value falls inside [0, n)
    uint64_t l = x >> half_bits_, r = x & mask_;
    for (uint64_t k : keys_) {
      uint64_t f = r ^ k;
      f = splitmix64(f) & mask_;
      const uint64_t nl = r;
      r = l ^ f;
      l = nl;
    }
    x = (l << half_bits_) | r;
  } while (x >= n_);
  return x;
}

}  // namespace mor::data
