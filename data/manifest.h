// The dataset manifest (DATASET/manifest.json): what `mor prepare` produced and from what.
//   { "format": "mor-dataset", "version": 1, "vocab_size", "eos_id", "tokenizer": {file, hash},
//     "splits": { "train": {tokens, documents, shards: [{file, tokens}]}, "val": {...} },
//     "sources": [{path, bytes}], "options": {...}, "seconds": ... }
#pragma once
#include <cstdint>
#include <map>
#include <string>
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

struct Manifest {
  int version = kManifestVersion;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  std::string tokenizer_file = "tokenizer.model";
  uint64_t tokenizer_hash = 0;
  SplitInfo train, val;
  std::vector<std::pair<std::string, uint64_t>> sources;  // path, bytes
  std::map<std::string, std::string> options;
  double seconds = 0;
};

void write_manifest(const std::string& path, const Manifest& m);
// BadInput errors name the file; unknown versions are rejected.
Manifest read_manifest(const std::string& path);

}  // namespace mor::data
