// Vectorisable scalar math used inside `#pragma omp simd` loops.
// exp_approx: Cody-Waite range reduction + Cephes degree-6 polynomial; max relative error about
// 2 ulp for float over [-87, 88], exactly 0 below -87.3 (a masked logit). glibc's expf does not
// vectorise without -ffast-math, which we avoid (it breaks NaN checks and determinism).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace mor::kernels {

inline float exp_approx(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447505531f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (int32_t(n) + 127) << 23;
  float y = p * std::bit_cast<float>(e);
  return x < lo ? 0.0f : y;
}

template <typename T>
inline T vexp(T x) {
  if constexpr (sizeof(T) == 4) return exp_approx(x);
  else return std::exp(x);
}

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + vexp(-x));
}

}  // namespace mor::kernels
