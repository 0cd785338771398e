// RoPE kernel; see rope.h. Angles are computed in T's precision, as HF computes them in fp32.
#include "rope.h"

#include <cmath>
#include <vector>

namespace mor::kernels {

template <typename T>
void rope_apply(int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x,
                const int32_t* pos, double theta, bool inverse, T* y, bool accumulate) {
  const int64_t half = D / 2;
  std::vector<T> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = T(1) / T(std::pow(T(theta), T(2 * i) / T(D)));
  const T sign = inverse ? T(-1) : T(1);
#pragma omp parallel for schedule(static) if (n * n_heads * D > 32768)
  for (int64_t t = 0; t < n; ++t) {
    T cs[512], sn[512];  // D/2 <= 512
    for (int64_t i = 0; i < half; ++i) {
      T a = T(pos[t]) * inv_freq[size_t(i)];
      cs[i] = std::cos(a);
      sn[i] = sign * std::sin(a);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      const T* xi = x + (t * n_heads + h) * D;
      T* yi = y + (t * n_heads + h) * D;
      if (h < n_rot) {
        if (accumulate) {
#pragma omp simd
          for (int64_t i = 0; i < half; ++i) {
            T x1 = xi[i], x2 = xi[i + half];
            yi[i] += x1 * cs[i] - x2 * sn[i];
            yi[i + half] += x2 * cs[i] + x1 * sn[i];
          }
        } else {
#pragma omp simd
          for (int64_t i = 0; i < half; ++i) {
            T x1 = xi[i], x2 = xi[i + half];
            yi[i] = x1 * cs[i] - x2 * sn[i];
            yi[i + half] = x2 * cs[i] + x1 * sn[i];
          }
        }
      } else if (accumulate) {
#pragma omp simd
        for (int64_t i = 0; i < D; ++i) yi[i] += xi[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < D; ++i) yi[i] = xi[i];
      }
    }
  }
}

template void rope_apply<float>(int64_t, int64_t, int64_t, int64_t, const float*, const int32_t*, double, bool,
                                float*, bool);
template void rope_apply<double>(int64_t, int64_t, int64_t, int64_t, const double*, const int32_t*, double,
                                 bool, double*, bool);

}  // namespace mor::kernels
