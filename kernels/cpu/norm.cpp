// RMSNorm kernels; see norm.h. The weight gradient uses the deterministic column sum.
#include "norm.h"

#include <cmath>

#include "reduce.h"

namespace mor::kernels {

template <typename T>
void rmsnorm_forward(int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd) {
#pragma omp parallel for schedule(static) if (n * d > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + i * d;
    T* yi = y + i * d;
    T ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
    T r = T(1) / std::sqrt(ss / T(d) + eps);
    rstd[i] = r;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) yi[j] = w[j] * (xi[j] * r);
  }
}

template <typename T>
void rmsnorm_backward(int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy,
                      T* dx, bool dx_accumulate, T* dw, bool dw_accumulate) {
  if (dx) {
#pragma omp parallel for schedule(static) if (n * d > 16384)
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + i * d;
      const T* gi = dy + i * d;
      T* dxi = dx + i * d;
      T r = rstd[i];
      T dot = 0;  // sum_j (dy_j w_j) * xhat_j
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < d; ++j) dot += gi[j] * w[j] * xi[j];
      T c = dot * r * r / T(d);
      if (dx_accumulate) {
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) dxi[j] += r * (gi[j] * w[j] - xi[j] * c);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) dxi[j] = r * (gi[j] * w[j] - xi[j] * c);
      }
    }
  }
  if (dw) {
    column_sum<T>(
        n, d,
        [&](int64_t i, T* acc) {
          const T* xi = x + i * d;
          const T* gi = dy + i * d;
          T r = rstd[i];
#pragma omp simd
          for (int64_t j = 0; j < d; ++j) acc[j] += gi[j] * xi[j] * r;
        },
        dw, dw_accumulate);
  }
}

template void rmsnorm_forward<float>(int64_t, int64_t, const float*, const float*, float, float*, float*);
template void rmsnorm_forward<double>(int64_t, int64_t, const double*, const double*, double, double*, double*);
template void rmsnorm_backward<float>(int64_t, int64_t, const float*, const float*, const float*, const float*,
                                      float*, bool, float*, bool);
template void rmsnorm_backward<double>(int64_t, int64_t, const double*, const double*, const double*,
                                       const double*, double*, bool, double*, bool);

}  // namespace mor::kernels
