// Simple elementwise kernels (residual add, scaling, per-row scaling, products).
#pragma once
#include <cstdint>

namespace mor::kernels {

// y (+)= a * x
template <typename T>
void axpy(int64_t n, T a, const T* x, T* y, bool accumulate);
// z = x + y
template <typename T>
void add(int64_t n, const T* x, const T* y, T* z);
// z (+)= x * y
template <typename T>
void mul(int64_t n, const T* x, const T* y, T* z, bool accumulate);
// y[i, :] (+)= s[i] * x[i, :]          x, y [n, d], s [n]
template <typename T>
void scale_rows(int64_t n, int64_t d, const T* x, const T* s, T* y, bool accumulate);
// ds[i] (+)= dot(dy[i, :], x[i, :])
template <typename T>
void row_dots(int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool accumulate);

}  // namespace mor::kernels
