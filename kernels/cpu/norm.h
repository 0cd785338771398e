// RMSNorm: y = w * x / sqrt(mean(x^2) + eps), per row of d elements.
#pragma once
#include <cstdint>

namespace mor::kernels {

// x, y [n, d]; w [d]; rstd [n] (saved for backward).
template <typename T>
void rmsnorm_forward(int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd);

// dx (+)= ..., dw (+)= ... (accumulate flags); dx or dw may be null (not needed).
template <typename T>
void rmsnorm_backward(int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy,
                      T* dx, bool dx_accumulate, T* dw, bool dw_accumulate);

}  // namespace mor::kernels
