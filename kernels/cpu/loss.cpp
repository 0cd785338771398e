// Fused softmax cross-entropy kernel; see loss.h. One pass for the max, one that stores and sums
// the exponentials, one (optional) that scales them into the gradient in place.
#include "loss.h"

#include <cmath>

#include "math.h"

namespace mor::kernels {

template <typename T>
double softmax_xent_rows(int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale,
                         T* row_loss) {
#pragma omp parallel for schedule(static) if (n * V > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T* z = logits + i * V;
    const int32_t t = target[i];
    if (t < 0) {
      row_loss[i] = 0;
      if (grad_scale != T(0))
        for (int64_t j = 0; j < V; ++j) z[j] = 0;
      continue;
    }
    const T m = max_of(V, z);
    const T zt = z[t];
    if (grad_scale == T(0)) {
      row_loss[i] = m + std::log(exp_sum(V, z, m)) - zt;
      continue;
    }
    // One exp per element: z <- exp(z - m), then scale by grad_scale / sum (a row stays in L2).
    const T sum = exp_store(V, z, m, T(1), z);
    row_loss[i] = m + std::log(sum) - zt;
    const T c = grad_scale / sum;
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) z[j] *= c;
    z[t] -= grad_scale;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += double(row_loss[i]);
  return total;
}

template double softmax_xent_rows<float>(int64_t, int64_t, float*, const int32_t*, float, float*);
template double softmax_xent_rows<double>(int64_t, int64_t, double*, const int32_t*, double, double*);

}  // namespace mor::kernels
