// FMA and sgemm peaks, RSS and CPU-time probes; see peak.h.
#include "peak.h"

#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/cpu/fma_peak.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/isa_level.h"

namespace mor {

FmaPeak measure_fma_peak(double seconds) {
  // One core's best (stable even when the other cores are busy), times the threads training uses.
  // The loop is a kernel (kernels/cpu/fma_peak.h), so it runs at the vector width of the kernel
  // build the loader picked for this CPU.
  const kernels::FmaPeak core = kernels::measure_fma_peak(seconds, 1);
  FmaPeak best;
  best.threads = omp_get_max_threads();
  best.core_gflops = core.gflops;
  best.gflops = core.gflops * double(best.threads);
  best.isa = std::string(kernels::isa_level()) + ", " + std::to_string(core.lanes) + " lanes";
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
