// `mor bench`: speed measurements (never pass/fail tests).
//   train  tokens/s, step time, executed GFLOP/s (flops.h), MFU against the FP32 FMA peak and
//          sgemm_util against sgemm (both measured in the same run), peak RSS, on random tokens
//          with the config's model and batch shape.
//   sgemm  the BLAS throughput sgemm_util divides by, beside the FMA peak MFU divides by.
#pragma once
#include <string>
#include <vector>

namespace mor {

struct BenchTrainOptions {
  std::string config;
  std::vector<std::string> overrides;
  int threads = 0;  // 0: OpenMP default
  int steps = 5;    // timed optimizer steps (after one warm-up step)
  bool json = false;
  bool profile = false;  // print the per-op time table (forward/backward)
  std::string device;    // "" : the config's train.device; else cpu, cuda, cuda:N, test
  bool max_batch = false;  // also search the largest micro batch that fits the device's memory
};
int run_bench_train(const BenchTrainOptions& o);

struct BenchCheckpointOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string dir = "runs/bench-checkpoint";  // where the file is written (and removed)
  bool json = false;
};
// Snapshot stall, background write, load time and file size for the config's model + AdamW state.
int run_bench_checkpoint(const BenchCheckpointOptions& o);

struct BenchSgemmOptions {
  int threads = 0;
  int size = 1024;
  double seconds = 2.0;
  bool json = false;
};
int run_bench_sgemm(const BenchSgemmOptions& o);

}  // namespace mor
