// Throughput probes, measured in the same process that trains:
//   FMA peak    the CPU's FP32 peak: fused multiply-adds on registers only (no memory traffic) on
//               one core, times the threads in use; the denominator of MFU on CPU (the hardware's
//               peak; one core's figure stays stable while other processes load the machine)
//   sgemm       what BLAS delivers on a 1024^3 product; the denominator of the separately named
//               "sgemm utilisation" (how close the step gets to BLAS, not to the hardware)
// On a GPU the MFU denominator is the published dense peak of the device (gpu_peaks.h).
#pragma once
#include <string>

namespace mor {

struct FmaPeak {
  double gflops = 0;       // core_gflops x threads: the peak of the cores this process trains on
  double core_gflops = 0;  // one core, best of the repetitions
  int threads = 0;
  std::string isa;         // the kernel build and vector width: "x86-64-v4, 16 lanes"
};

// Independent FMA chains on vector registers (kernels/cpu/fma_peak.h), on one core for ~`seconds`;
// threads = the current OpenMP thread count.
FmaPeak measure_fma_peak(double seconds = 0.2);

struct SgemmPeak {
  double gflops = 0;  // best of the repetitions
  int size = 0;       // n for the n x n x n product
};

// Times an n^3 sgemm (n = 1024 by default) for about `seconds`; uses the current thread count.
SgemmPeak measure_sgemm_peak(double seconds = 0.3, int n = 1024);

// Peak resident set size of this process in MB (10^6 bytes, like every MB figure of `mor bench`;
// VmHWM), 0 if unknown.
double peak_rss_mb();
// Process CPU time in seconds (user + system, all threads).
double process_cpu_seconds();

}  // namespace mor
