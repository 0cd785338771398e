// Split writer and validation hold-out; see split_writer.h.
#include "split_writer.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "src/core/rng.h"

namespace mor::data {

bool is_validation_document(uint64_t document, double val_fraction, uint64_t seed) {
  if (val_fraction <= 0 || document == 0) return false;
  if (document == 1) return true;
  return Rng(seed, "val-split:" + std::to_string(document)).uniform() < val_fraction;
}

SplitWriter::SplitWriter(std::filesystem::path dir, uint64_t shard_tokens, uint64_t vocab, uint64_t tokenizer_hash)
    : dir_(std::move(dir)), shard_tokens_(shard_tokens), vocab_(vocab), hash_(tokenizer_hash) {}

void SplitWriter::append(const int32_t* tokens, size_t n) {
  while (n > 0) {
    if (!cur_) open_next();
    const size_t take = std::min<size_t>(n, shard_tokens_ - cur_->tokens());
    cur_->append(tokens, take);
    tokens += take;
    n -= take;
    info_.tokens += take;
    if (cur_->tokens() >= shard_tokens_) close();
  }
}

SplitInfo SplitWriter::finish() {
  close();
  return info_;
}

void SplitWriter::open_next() {
  char name[32];
  std::snprintf(name, sizeof name, "shard_%06zu.bin", info_.shards.size());
  cur_ = std::make_unique<ShardWriter>((dir_ / name).string(), vocab_, hash_);
  info_.shards.push_back({name, 0});
}

void SplitWriter::close() {
  if (!cur_) return;
  info_.shards.back().tokens = cur_->tokens();
  cur_->finish();
  cur_.reset();
}

}  // namespace mor::data
