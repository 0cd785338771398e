// Optimizer kernels; see optim.h.
#include "optim.h"

#include <cmath>

#include "reduce.h"

namespace mor::kernels {

void adamw_update(int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a) {
  const float decay = 1.0f - a.lr * a.weight_decay;
  const float step = a.lr / a.bias_correction1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(a.bias_correction2);
  const float b1 = a.beta1, b2 = a.beta2, gs = a.grad_scale, eps = a.eps;
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i] * gs;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

double sum_squares(int64_t n, const float* x) {
  return scalar_sum(n, [&](int64_t i) { return double(x[i]) * double(x[i]); });
}

}  // namespace mor::kernels
