// One split of a dataset as a single token stream: its shards (in manifest order) concatenated,
// memory-mapped, with random access to windows of T+1 tokens (window w starts at token w*T).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shard.h"

namespace mor::data {

class TokenStream {
 public:
  // Opens every shard of `split_dir` (listed by DATASET/manifest.json when present, otherwise all
  // *.bin files sorted). expect_vocab > 0: the dataset's vocabulary must equal it.
  TokenStream(const std::string& split_dir, int64_t expect_vocab);

  uint64_t tokens() const { return total_; }
  int64_t vocab_size() const { return vocab_; }
  // Number of windows of seq_len + 1 tokens (BadInput when the split is shorter than one window).
  uint64_t windows(int64_t seq_len) const;
  // Copies tokens [begin, begin + n) as int32 (may span shards).
  void read(uint64_t begin, uint64_t n, int32_t* out) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<uint64_t> starts_;  // first token of each shard in the stream
  uint64_t total_ = 0;
  int64_t vocab_ = 0;
};

// A bijection of [0, n) keyed by (seed, epoch): a 4-round Feistel network on the next even power
// of two with cycle walking. O(1) memory; each call costs a few hash rounds.
class WindowPermutation {
 public:
  WindowPermutation(uint64_t n, uint64_t seed, uint64_t epoch);
  uint64_t operator()(uint64_t i) const;

 private:
  uint64_t n_, half_bits_, mask_;
  uint64_t keys_[4];
};

}  // namespace mor::data
