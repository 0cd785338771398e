// `mor prepare`: raw text files/directories -> dataset directory (tokenizer, shards, manifest).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mor::data {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files and/or directories (recursed)
  std::string out_dir;              // created; must not exist unless overwrite
  std::string tokenizer;            // existing SentencePiece .model to reuse ("" = train one)
  int64_t vocab_size = 8192;
  bool vocab_size_given = false;    // --vocab-size on the command line (with --tokenizer: must match it)
  double val_fraction = 0.01;       // of documents, held out deterministically
  int64_t shard_tokens = 1 << 24;   // tokens per shard
  int threads = 0;                  // 0 = all cores
  std::vector<std::string> extensions;  // when recursing directories, only these (empty = all text)
  uint64_t seed = 1234;
  bool overwrite = false;
  bool json = false;                // print a machine-readable summary on stdout
  bool quiet = false;               // no progress bar
  uint64_t tokenizer_sample_bytes = 64ull << 20;  // text the tokenizer is trained on (at most)
};

// Returns the process exit code; throws mor::Error (BadInput) with a hint on bad input. Writes
// OUT/{manifest.json, tokenizer.model, train/shard_*.bin, val/shard_*.bin} atomically; prints a
// summary line (or one JSON object with --json) on stdout and progress on stderr.
int run_prepare(const PrepareOptions& opts);

}  // namespace mor::data
