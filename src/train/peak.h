// Measures this machine's sgemm throughput (the MFU denominator), in the same process that
// trains, so that MFU is relative to what BLAS actually delivers here and now.
#pragma once

namespace mor {

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
