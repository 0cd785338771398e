// FMA and sgemm peaks, RSS and CPU-time probes; see peak.h.
#include "peak.h"

#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>

#include <cmath>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace mor {

namespace {

constexpr int kChains = 12;  // independent accumulators: covers FMA latency x issue width

// `iters` rounds of kChains vector FMAs; returns FLOPs done (2 per lane per FMA). The sum is
// written to `sink` so that the compiler keeps the work.
double fma_rounds(int64_t iters, float* sink) {
#if defined(__AVX512F__)
  __m512 acc[kChains];
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-6f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c));
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], mul, add);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  alignas(64) float v[16];
  _mm512_store_ps(v, s);
  *sink = 0;
  for (float x : v) *sink += x;
  return 2.0 * 16 * kChains * double(iters);
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[kChains];
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c));
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], mul, add);
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  *sink = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  return 2.0 * 8 * kChains * double(iters);
#else
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = float(c);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = std::fma(acc[c], 0.999999f, 1e-6f);
  float s = 0;
  for (float a : acc) s += a;
  *sink = s;
  return 2.0 * kChains * double(iters);
#endif
}

}  // namespace

FmaPeak measure_fma_peak(double seconds) {
  using clock = std::chrono::steady_clock;
  FmaPeak best;
  best.threads = omp_get_max_threads();
#if defined(__AVX512F__)
  best.isa = "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  best.isa = "avx2+fma";
#else
  best.isa = "scalar";
#endif
  // One core's best (stable even when the other cores are busy), times the threads training uses.
  float sink = 0;
  double core = 0;
  const auto start = clock::now();
  do {
    const auto t0 = clock::now();
    const double flops = fma_rounds(1 << 20, &sink);  // ~2-5 ms per round
    core = std::max(core, flops / std::chrono::duration<double>(clock::now() - t0).count() / 1e9);
  } while (std::chrono::duration<double>(clock::now() - start).count() < seconds);
  volatile float keep = sink;
  (void)keep;
  best.core_gflops = core;
  best.gflops = core * double(best.threads);
  return best;
}

SgemmPeak measure_sgemm_peak(double seconds, int n) {
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n, 0.0f);
  using clock = std::chrono::steady_clock;
  kernels::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);  // warm-up
  SgemmPeak best{0, n};
  auto start = clock::now();
  do {
    auto t0 = clock::now();
    kernels::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(clock::now() - t0).count();
    best.gflops = std::max(best.gflops, 2.0 * double(n) * n * n / s / 1e9);
  } while (std::chrono::duration<double>(clock::now() - start).count() < seconds);
  return best;
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0 / 1e6;  // kB (KiB) -> MB
  return 0;
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace mor
