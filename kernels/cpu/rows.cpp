// Row gather / scatter-add kernels; see rows.h.
#include "rows.h"

#include <cstring>

namespace mor::kernels {

template <typename T>
void gather_rows(int64_t n, int64_t d, const T* table, const int32_t* ids, T* out) {
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * d, table + int64_t(ids[i]) * d, size_t(d) * sizeof(T));
}

template <typename T>
void scatter_add_rows(int64_t n, int64_t d, const T* dout, const int32_t* ids, T* dtable) {
  constexpr int64_t kCols = 64;
  int64_t nblocks = (d + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t b = 0; b < nblocks; ++b) {
    int64_t j0 = b * kCols, j1 = j0 + kCols < d ? j0 + kCols : d;
    for (int64_t i = 0; i < n; ++i) {
      T* dst = dtable + int64_t(ids[i]) * d;
      const T* src = dout + i * d;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) dst[j] += src[j];
    }
  }
}

template <typename T>
void scatter_rows(int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst) {
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + int64_t(ids[i]) * d, src + i * d, size_t(d) * sizeof(T));
}

template <typename T>
void zero_rows(int64_t n, int64_t d, const int32_t* ids, T* x) {
  for (int64_t i = 0; i < n; ++i) std::memset(x + int64_t(ids[i]) * d, 0, size_t(d) * sizeof(T));
}

int64_t find_bad_index(int64_t n, const int32_t* ids, int64_t limit) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= limit) return i;
  return -1;
}

template void gather_rows<float>(int64_t, int64_t, const float*, const int32_t*, float*);
template void gather_rows<double>(int64_t, int64_t, const double*, const int32_t*, double*);
template void scatter_add_rows<float>(int64_t, int64_t, const float*, const int32_t*, float*);
template void scatter_rows<float>(int64_t, int64_t, const float*, const int32_t*, float*);
template void scatter_rows<double>(int64_t, int64_t, const double*, const int32_t*, double*);
template void zero_rows<float>(int64_t, int64_t, const int32_t*, float*);
template void zero_rows<double>(int64_t, int64_t, const int32_t*, double*);
template void scatter_add_rows<double>(int64_t, int64_t, const double*, const int32_t*, double*);

}  // namespace mor::kernels
