// `mor bench loader`: batches/s of the streaming loader alone (mmap reads, shuffle, prefetch
// thread), measured by pulling batches as fast as possible for a fixed time.
#pragma once
#include <cstdint>
#include <string>

namespace mor::data {

struct LoaderBenchOptions {
  std::string data;      // dataset directory (its train/ split is read) or a split directory
  int64_t batch = 8;     // B
  int64_t seq_len = 256; // T
  double seconds = 2.0;  // measurement time (after a short warm-up)
  int prefetch = 2;
  uint64_t seed = 1234;
  bool json = false;     // run_bench_loader: print one JSON object instead of a line
};

struct LoaderBenchResult {
  uint64_t batches = 0;
  double seconds = 0;
  double batches_per_s = 0, windows_per_s = 0, tokens_per_s = 0;  // tokens: B * T per batch
  uint64_t windows_per_epoch = 0;
};

LoaderBenchResult bench_loader(const LoaderBenchOptions& o);
// Runs bench_loader and prints the result on stdout; returns the exit code.
int run_bench_loader(const LoaderBenchOptions& o);

}  // namespace mor::data
