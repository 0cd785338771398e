// The CPU's physical f32 FMA peak, measured: independent FMA chains on vector registers only
// (no memory traffic), at the widest vector width this kernel build targets (512-bit on
// x86-64-v4, 256-bit on v3). This is the denominator "% of FMA peak" figures divide by.
#pragma once

namespace mor::kernels {

struct FmaPeak {
  double gflops = 0;  // best over the measuring time, all threads together
  int lanes = 0;      // f32 lanes per vector the loop used
  int threads = 0;
};

// Runs the loop on `threads` OpenMP threads (0: the current maximum) for about `seconds`.
FmaPeak measure_fma_peak(double seconds, int threads = 0);

}  // namespace mor::kernels
