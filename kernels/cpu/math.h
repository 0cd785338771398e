// Vectorised math on float arrays for the kernels (exp, sigmoid), with a double fallback.
//
// GCC 12 does not vectorise loops that call an inline exp and store the result ("control flow in
// loop"), and glibc's expf only vectorises under -ffast-math (which we avoid: it breaks NaN checks
// and determinism). So the float paths use GCC vector extensions explicitly: 8 lanes (v8f) in the
// elementwise kernels, the widest registers (vwf: 16 lanes with AVX-512) in the row loops below.
//
// exp_vec (exp8, expw): Cody-Waite range reduction + Cephes degree-6 polynomial, max relative error about 2 ulp
// over [-87.3, 88.4]; inputs below -87.3 (including -inf) give exp(-87.3) ~ 1.2e-38 rather than 0
// (callers that mask write their zeros explicitly); NaN propagates.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#define MOR_INLINE inline __attribute__((always_inline))

namespace mor::kernels {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4), may_alias));

// Unaligned 8-float load/store (vmovups); memcpy-based versions went through the stack.
MOR_INLINE v8f load8(const float* p) { return *reinterpret_cast<const v8f_unaligned*>(p); }
MOR_INLINE void store8(float* p, v8f v) { *reinterpret_cast<v8f_unaligned*>(p) = v; }
MOR_INLINE v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }
MOR_INLINE float hsum8(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

// The widest float vector this copy of the kernels has registers for: 16 lanes (zmm) in the
// x86-64-v4 copy, 8 elsewhere. Used by the array loops below; results differ between copies only
// in the order of their sums.
#if defined(__AVX512F__)
constexpr int kWideLanes = 16;
#else
constexpr int kWideLanes = 8;
#endif
typedef float vwf __attribute__((vector_size(4 * kWideLanes)));
typedef int32_t vwi __attribute__((vector_size(4 * kWideLanes)));
typedef float vwf_unaligned __attribute__((vector_size(4 * kWideLanes), aligned(4), may_alias));
MOR_INLINE vwf loadw(const float* p) { return *reinterpret_cast<const vwf_unaligned*>(p); }
MOR_INLINE void storew(float* p, vwf v) { *reinterpret_cast<vwf_unaligned*>(p) = v; }
MOR_INLINE vwf splatw(float x) { return vwf{} + x; }
MOR_INLINE float hsumw(vwf v) {
  float lanes[kWideLanes];
  std::memcpy(lanes, &v, sizeof v);
  for (int w = kWideLanes / 2; w >= 1; w /= 2)  // pairwise, like hsum8
    for (int i = 0; i < w; ++i) lanes[i] += lanes[i + w];
  return lanes[0];
}

// exp on a float vector V with integer twin VI (v8f/v8i or vwf/vwi).
template <typename V, typename VI>
MOR_INLINE V exp_vec(V x) {
  const V hi = V{} + 88.3762626647949f, lo = V{} + -87.3365447505531f;
  V xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  xc = x != x ? x : xc;  // keep NaN
  const V shifter = V{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  V n = (xc * 1.44269504088896341f + shifter) - shifter;
  V r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  VI e = (__builtin_convertvector(n, VI) + 127) << 23;
  return p * (V)e;
}

MOR_INLINE v8f exp8(v8f x) { return exp_vec<v8f, v8i>(x); }
MOR_INLINE vwf expw(vwf x) { return exp_vec<vwf, vwi>(x); }

MOR_INLINE float exp1(float x) {
  v8f v = exp8(splat8(x));
  return v[0];
}

MOR_INLINE v8f sigmoid8(v8f x) { return 1.0f / (1.0f + exp8(-x)); }

// Scalar helpers for any T (double uses libm).
template <typename T>
MOR_INLINE T vexp(T x) {
  if constexpr (sizeof(T) == 4) return exp1(x);
  else return std::exp(x);
}
template <typename T>
MOR_INLINE T sigmoid(T x) {
  return T(1) / (T(1) + vexp(-x));
}

// y[i] = scale * exp(x[i] - sub) for i < n (y may be x); returns sum_i exp(x[i] - sub).
template <typename T>
inline T exp_store(int64_t n, const T* x, T sub, T scale, T* y) {
  int64_t i = 0;
  T total = 0;
  if constexpr (sizeof(T) == 4) {
    vwf acc = splatw(0.0f);
    for (; i + kWideLanes <= n; i += kWideLanes) {
      vwf e = expw(loadw(x + i) - sub);
      acc += e;
      storew(y + i, e * scale);
    }
    total = hsumw(acc);
  }
  for (; i < n; ++i) {
    T e = vexp(x[i] - sub);
    total += e;
    y[i] = scale * e;
  }
  return total;
}

// sum_i exp(x[i] - sub)
template <typename T>
inline T exp_sum(int64_t n, const T* x, T sub) {
  int64_t i = 0;
  T total = 0;
  if constexpr (sizeof(T) == 4) {
    vwf acc0 = splatw(0.0f), acc1 = splatw(0.0f);
    for (; i + 2 * kWideLanes <= n; i += 2 * kWideLanes) {
      acc0 += expw(loadw(x + i) - sub);
      acc1 += expw(loadw(x + i + kWideLanes) - sub);
    }
    for (; i + kWideLanes <= n; i += kWideLanes) acc0 += expw(loadw(x + i) - sub);
    total = hsumw(acc0 + acc1);
  }
  for (; i < n; ++i) total += vexp(x[i] - sub);
  return total;
}

// max_i x[i] (n >= 1)
template <typename T>
inline T max_of(int64_t n, const T* x) {
  int64_t i = 0;
  T m = x[0];
  if constexpr (sizeof(T) == 4) {
    if (n >= kWideLanes) {
      vwf mv = loadw(x);
      for (i = kWideLanes; i + kWideLanes <= n; i += kWideLanes) {
        vwf v = loadw(x + i);
        mv = v > mv ? v : mv;
      }
      for (int k = 0; k < kWideLanes; ++k) m = mv[k] > m ? mv[k] : m;
    }
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace mor::kernels
