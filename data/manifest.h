// The dataset manifest (DATASET/manifest.json): what `mor prepare` produced and from what.
//   { "format": "mor-dataset", "version": 1, "mor_version", "vocab_size", "eos_id", "token_bytes",
//     "tokenizer": {file, hash, trained},
//     "splits": { "train": {tokens, documents, shards: [{file, tokens}]}, "val": {...} },
//     "documents", "bytes", "sources": [{path, bytes}], "options": {...}, "seconds" }
// json_io.h reads and writes it.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mor::data {

constexpr int kManifestVersion = 1;

struct ShardInfo {
  std::string file;  // relative to the split directory
  uint64_t tokens = 0;
};

struct SplitInfo {
  uint64_t tokens = 0;
  uint64_t documents = 0;
  std::vector<ShardInfo> shards;
};

// The `mor prepare` options a dataset was built with (recorded for reproducibility).
struct ManifestOptions {
  std::vector<std::string> inputs, extensions;
  std::string tokenizer;  // "" when the tokenizer was trained
  int64_t vocab_size = 0;
  double val_fraction = 0;
  int64_t shard_tokens = 0;
  uint64_t seed = 0;
};

struct Manifest {
  int version = kManifestVersion;
  std::string mor_version;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  uint32_t token_bytes = 2;
  std::string tokenizer_file = "tokenizer.model";
  uint64_t tokenizer_hash = 0;
  bool tokenizer_trained = true;
  SplitInfo train, val;
  uint64_t documents = 0, bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> sources;  // path, bytes
  ManifestOptions options;
  double seconds = 0;

  const SplitInfo& split(const std::string& name) const { return name == "val" ? val : train; }
};

}  // namespace mor::data
