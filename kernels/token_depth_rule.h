// The token-choice depth rule, one definition for the CPU and the CUDA kernels (kernels/cpu/
// cpu_table.cpp, kernels/cuda/select.cu): a row's depth is the first argmax over j of p[j] + bias[j]
// compared in double (bias may be null), or nr - 1 for every row during the balancing warm-up.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define MOR_HOST_DEVICE __host__ __device__
#else
#define MOR_HOST_DEVICE
#endif

namespace mor::kernels {

// p: the row's nr probabilities.
template <typename T>
MOR_HOST_DEVICE inline int32_t token_depth_of(const T* p, const T* bias, int64_t nr, bool all_deepest) {
  if (all_deepest) return int32_t(nr - 1);
  int32_t best = 0;
  double bv = double(p[0]) + (bias ? double(bias[0]) : 0.0);
  for (int64_t j = 1; j < nr; ++j) {
    const double v = double(p[j]) + (bias ? double(bias[j]) : 0.0);
    if (v > bv) bv = v, best = int32_t(j);
  }
  return best;
}

}  // namespace mor::kernels
