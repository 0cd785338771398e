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
  // Opens every shard of `split_dir` (DATASET/train or DATASET/val): the shards DATASET/manifest.json
  // lists, checked against it (token counts, vocabulary, tokenizer hash), or every *.bin file in
  // sorted order when there is no manifest. expect_vocab > 0: the dataset's vocabulary must
  // equal it; expect_tokenizer_hash != 0: so must its tokenizer (a trained model's). Every problem
  // is a BadInput error naming the file, with a hint.
  TokenStream(const std::string& split_dir, int64_t expect_vocab, uint64_t expect_tokenizer_hash = 0);

  uint64_t tokens() const { return total_; }
  int64_t vocab_size() const { return vocab_; }
  uint64_t tokenizer_hash() const { return hash_; }  // hash of the tokenizer.model the shards were encoded with
  // Number of windows of seq_len + 1 tokens (BadInput when the split is shorter than one window).
  uint64_t windows(int64_t seq_len) const;
  // Copies tokens [begin, begin + n) as int32 (may span shards).
  void read(uint64_t begin, uint64_t n, int32_t* out) const;
  const std::string& dir() const { return dir_; }

 private:
  std::vector<std::string> shard_files();

  std::string dir_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<uint64_t> starts_;  // first token of each shard in the stream
  uint64_t total_ = 0;
  int64_t vocab_ = 0;
  uint64_t hash_ = 0;
};

}  // namespace mor::data
