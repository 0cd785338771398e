// Optimizer kernels; see optim.h.
#include "optim.h"

#include <algorithm>
#include <cmath>

#include "math.h"
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
  // Fixed 4096-element chunks: float partial sums per chunk (8 lanes), chunk totals in double.
  constexpr int64_t kChunk = 4096;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  return scalar_sum(nchunks, [&](int64_t c) {
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
    v8f acc = splat8(0.0f);
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      v8f v = load8(x + i);
      acc += v * v;
    }
    double s = hsum8(acc);
    for (; i < e; ++i) s += double(x[i]) * double(x[i]);
    return s;
  });
}

}  // namespace mor::kernels
