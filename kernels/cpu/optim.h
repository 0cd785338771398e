// Optimizer kernels over flat parameter ranges (fp32 master weights).
#pragma once
#include <cstdint>

namespace mor::kernels {

struct AdamWArgs {
  float lr = 0, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0;
  float bias_correction1 = 1, bias_correction2 = 1;  // 1 - beta^t
  float grad_scale = 1;                              // e.g. the clipping coefficient
};

// PyTorch AdamW semantics: p *= 1 - lr*wd; m,v moments of g*grad_scale;
// p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
void adamw_update(int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a);

// Sum of squares in double (deterministic for any thread count).
double sum_squares(int64_t n, const float* x);

}  // namespace mor::kernels
