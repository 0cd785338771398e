// Register-only FMA peak; see fma_peak.h.
//
// Each thread runs kChains independent chains acc = acc * m + c (one FMA each, contracted by
// -ffp-contract=fast) on kLanes-wide vectors; kChains covers FMA latency x issue width on
// current x86 cores (4 cycles x 2 ports = 8 in flight; 12 leaves headroom). Values are chosen so
// the chains neither overflow nor go denormal, and the result is consumed so nothing is elided.
#include "fma_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

namespace mor::kernels {
namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
constexpr int kChains = 12;
typedef float vec __attribute__((vector_size(kLanes * 4)));

// Runs `iters` rounds of kChains FMAs; returns a value depending on all chains.
__attribute__((noinline)) float fma_rounds(long iters, float seed) {
  vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = vec{} + (seed + float(i) * 1e-3f);
  const vec m = vec{} + 0.999999f, c = vec{} + 1e-6f;
  for (long r = 0; r < iters; ++r)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * m + c;
  vec s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  float out = 0;
  for (int l = 0; l < kLanes; ++l) out += s[l];
  return out;
}

}  // namespace

FmaPeak measure_fma_peak(double seconds, int threads) {
  FmaPeak p;
  p.lanes = kLanes;
  p.threads = threads > 0 ? threads : omp_get_max_threads();
  constexpr long kIters = 1 << 20;  // ~2.5e7 FMAs per thread per sample: milliseconds
  const double flops_per_sample = 2.0 * kLanes * kChains * double(kIters) * p.threads;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  volatile float sink = 0;
  do {
    const auto t0 = clock::now();
    float sum = 0;
#pragma omp parallel num_threads(p.threads) reduction(+ : sum)
    sum += fma_rounds(kIters, 1.0f + 0.01f * float(omp_get_thread_num()));
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    sink = sink + sum;
    p.gflops = std::max(p.gflops, flops_per_sample / s / 1e9);
  } while (std::chrono::duration<double>(clock::now() - start).count() < seconds);
  return p;
}

}  // namespace mor::kernels
