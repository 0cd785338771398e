// `mor bench comm`: collective bandwidth of the world communicator (MPI backend, CPU memory),
// side by side with plain MPI calls over the same buffers.
//
// For each op (all_reduce, reduce_scatter, all_gather) and message size (default 4 KiB .. 64 MiB,
// x4 steps; f32), iterations alternate ours, plain, ours, plain ...; each timed call is preceded
// by a barrier, a call's time is the slowest rank's, and the median over iterations is reported.
// Definitions follow nccl-tests: size = the full buffer (all_reduce's buffer, reduce_scatter's
// input, all_gather's output), algbw = size / time, busbw = algbw * 2(n-1)/n for all_reduce and
// algbw * (n-1)/n for reduce_scatter and all_gather. Only rank 0 prints.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mor::dist {

struct BenchCommOptions {
  std::vector<std::string> sizes;  // "4K", "1M", "65536" (K/M/G = 2^10/2^20/2^30 bytes); empty: defaults
  int iters = 20;                  // timed iterations per variant
  int warmup = 3;                  // untimed calls per variant first
  bool json = false;
};

// Needs the runtime with MPI (the CLI starts it with force_mpi for this command).
int run_bench_comm(const BenchCommOptions& o);

// "64M" -> 67108864; BadInput for anything else but a positive size.
int64_t parse_bytes(const std::string& s);

}  // namespace mor::dist
