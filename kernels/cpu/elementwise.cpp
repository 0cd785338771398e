// Elementwise kernels; see elementwise.h.
#include "elementwise.h"

namespace mor::kernels {

template <typename T>
void axpy(int64_t n, T a, const T* x, T* y, bool accumulate) {
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = a * x[i];
  }
}

template <typename T>
void add(int64_t n, const T* x, const T* y, T* z) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
}

template <typename T>
void mul(int64_t n, const T* x, const T* y, T* z, bool accumulate) {
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) z[i] += x[i] * y[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) z[i] = x[i] * y[i];
  }
}

template <typename T>
void scale_rows(int64_t n, int64_t d, const T* x, const T* s, T* y, bool accumulate) {
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T si = s[i];
    if (accumulate) {
#pragma omp simd
      for (int64_t j = 0; j < d; ++j) y[i * d + j] += si * x[i * d + j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < d; ++j) y[i * d + j] = si * x[i * d + j];
    }
  }
}

template <typename T>
void row_dots(int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool accumulate) {
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t i = 0; i < n; ++i) {
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t j = 0; j < d; ++j) acc += dy[i * d + j] * x[i * d + j];
    ds[i] = accumulate ? ds[i] + acc : acc;
  }
}

#define MOR_INST(T)                                                           \
  template void axpy<T>(int64_t, T, const T*, T*, bool);                      \
  template void add<T>(int64_t, const T*, const T*, T*);                      \
  template void mul<T>(int64_t, const T*, const T*, T*, bool);                \
  template void scale_rows<T>(int64_t, int64_t, const T*, const T*, T*, bool); \
  template void row_dots<T>(int64_t, int64_t, const T*, const T*, T*, bool);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels
