// Activation kernels; see activation.h.
#include "activation.h"

#include <cmath>

#include "math.h"
#include "reduce.h"

namespace mor::kernels {

#define MOR_STORE(dst, val) \
  do {                      \
    if (accumulate)         \
      (dst) += (val);       \
    else                    \
      (dst) = (val);        \
  } while (0)

template <typename T>
void swiglu_forward(int64_t n, int64_t f, const T* gu, T* y) {
#pragma omp parallel for schedule(static) if (n * f > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T* g = gu + i * 2 * f;
    const T* u = g + f;
    T* yi = y + i * f;
    int64_t j = 0;
    if constexpr (sizeof(T) == 4) {
      for (; j + 8 <= f; j += 8) {
        v8f gv = load8(g + j);
        store8(yi + j, gv * sigmoid8(gv) * load8(u + j));
      }
    }
    for (; j < f; ++j) yi[j] = g[j] * sigmoid(g[j]) * u[j];
  }
}

template <typename T>
void swiglu_backward(int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool accumulate) {
#pragma omp parallel for schedule(static) if (n * f > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T* g = gu + i * 2 * f;
    const T* u = g + f;
    const T* d = dy + i * f;
    T* dg = dgu + i * 2 * f;
    T* du = dg + f;
    int64_t j = 0;
    if constexpr (sizeof(T) == 4) {
      for (; j + 8 <= f; j += 8) {
        v8f gv = load8(g + j), uv = load8(u + j), dv = load8(d + j);
        v8f s = sigmoid8(gv);
        v8f dgv = dv * uv * (s * (1.0f + gv * (1.0f - s)));
        v8f duv = dv * gv * s;
        if (accumulate) {
          dgv += load8(dg + j);
          duv += load8(du + j);
        }
        store8(dg + j, dgv);
        store8(du + j, duv);
      }
    }
    for (; j < f; ++j) {
      T s = sigmoid(g[j]);
      T silu = g[j] * s;
      T dsilu = s * (T(1) + g[j] * (T(1) - s));
      MOR_STORE(dg[j], d[j] * u[j] * dsilu);
      MOR_STORE(du[j], d[j] * silu);
    }
  }
}

template <typename T>
void sigmoid_forward(int64_t n, const T* x, T* y) {
  int64_t i = 0;
  if constexpr (sizeof(T) == 4)
    for (; i + 8 <= n; i += 8) store8(y + i, sigmoid8(load8(x + i)));
  for (; i < n; ++i) y[i] = sigmoid(x[i]);
}
template <typename T>
void sigmoid_backward(int64_t n, const T* y, const T* dy, T* dx, bool accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) MOR_STORE(dx[i], dy[i] * y[i] * (T(1) - y[i]));
}

template <typename T>
void tanh_forward(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
template <typename T>
void tanh_backward(int64_t n, const T* y, const T* dy, T* dx, bool accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) MOR_STORE(dx[i], dy[i] * (T(1) - y[i] * y[i]));
}

template <typename T>
void gelu_forward(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * T(M_SQRT1_2)));
}
template <typename T>
void gelu_backward(int64_t n, const T* x, const T* dy, T* dx, bool accumulate) {
  const T inv_sqrt_2pi = T(0.3989422804014327);
  for (int64_t i = 0; i < n; ++i) {
    T cdf = T(0.5) * (T(1) + std::erf(x[i] * T(M_SQRT1_2)));
    T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * x[i] * x[i]);
    MOR_STORE(dx[i], dy[i] * (cdf + x[i] * pdf));
  }
}

template <typename T>
void softmax_forward(int64_t n, int64_t c, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n * c > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + i * c;
    T* yi = y + i * c;
    const T m = max_of(c, xi);
    const T s = exp_store(c, xi, m, T(1), yi);
    for (int64_t j = 0; j < c; ++j) yi[j] /= s;
  }
}
template <typename T>
void softmax_backward(int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool accumulate) {
#pragma omp parallel for schedule(static) if (n * c > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T* yi = y + i * c;
    const T* gi = dy + i * c;
    T dot = 0;
    for (int64_t j = 0; j < c; ++j) dot += yi[j] * gi[j];
    for (int64_t j = 0; j < c; ++j) MOR_STORE(dx[i * c + j], yi[j] * (gi[j] - dot));
  }
}

template <typename T>
void logsumexp_forward(int64_t n, int64_t c, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n * c > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + i * c;
    const T m = max_of(c, xi);
    y[i] = m + std::log(exp_sum(c, xi, m));
  }
}
template <typename T>
void logsumexp_backward(int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx, bool accumulate) {
#pragma omp parallel for schedule(static) if (n * c > 32768)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) MOR_STORE(dx[i * c + j], dy[i] * vexp(x[i * c + j] - y[i]));
}

template <typename T>
double bce_with_logits_sum(int64_t n, const T* x, const T* target) {
  return scalar_sum(n, [&](int64_t i) {
    double xi = double(x[i]);
    // softplus(x) - t x, with softplus(x) = max(x, 0) + log1p(exp(-|x|))
    return (xi > 0 ? xi : 0.0) + std::log1p(std::exp(-std::fabs(xi))) - double(target[i]) * xi;
  });
}
template <typename T>
void bce_with_logits_backward(int64_t n, const T* x, const T* target, T scale, T* dx, bool accumulate) {
  for (int64_t i = 0; i < n; ++i) MOR_STORE(dx[i], scale * (sigmoid(x[i]) - target[i]));
}

#define MOR_INST(T)                                                                       \
  template void swiglu_forward<T>(int64_t, int64_t, const T*, T*);                         \
  template void swiglu_backward<T>(int64_t, int64_t, const T*, const T*, T*, bool);        \
  template void sigmoid_forward<T>(int64_t, const T*, T*);                                 \
  template void sigmoid_backward<T>(int64_t, const T*, const T*, T*, bool);                \
  template void tanh_forward<T>(int64_t, const T*, T*);                                    \
  template void tanh_backward<T>(int64_t, const T*, const T*, T*, bool);                   \
  template void gelu_forward<T>(int64_t, const T*, T*);                                    \
  template void gelu_backward<T>(int64_t, const T*, const T*, T*, bool);                   \
  template void softmax_forward<T>(int64_t, int64_t, const T*, T*);                        \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*, bool);       \
  template void logsumexp_forward<T>(int64_t, int64_t, const T*, T*);                      \
  template void logsumexp_backward<T>(int64_t, int64_t, const T*, const T*, const T*, T*, bool); \
  template double bce_with_logits_sum<T>(int64_t, const T*, const T*);                     \
  template void bce_with_logits_backward<T>(int64_t, const T*, const T*, T, T*, bool);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels
