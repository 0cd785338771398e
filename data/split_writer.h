// Writes one split of a dataset (train/ or val/): documents' tokens appended in order into
// shard_NNNNNN.bin files of at most `shard_tokens` tokens each; and which split a document goes to.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "manifest.h"
#include "shard.h"

namespace mor::data {

// The validation hold-out: document 0 always trains and document 1 always validates (so both
// splits exist as soon as there are two documents); any other document is held out with
// probability val_fraction, by a seeded hash of its number. val_fraction == 0 holds out nothing.
bool is_validation_document(uint64_t document, double val_fraction, uint64_t seed);

class SplitWriter {
 public:
  SplitWriter(std::filesystem::path dir, uint64_t shard_tokens, uint64_t vocab, uint64_t tokenizer_hash);
  void append(const int32_t* tokens, size_t n);
  void end_document() { ++info_.documents; }
  SplitInfo finish();  // closes the last shard

 private:
  void open_next();
  void close();

  std::filesystem::path dir_;
  uint64_t shard_tokens_, vocab_, hash_;
  std::unique_ptr<ShardWriter> cur_;
  SplitInfo info_;
};

}  // namespace mor::data
