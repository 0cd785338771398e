// Elementwise kernels and reductions (elementwise.h on the CPU, plus the table's scalar entries):
// axpy, axpy with a device scalar, add, mul, scale_rows (x, y [n, d], s [n]), row_dots (one warp
// per row), sum_all (deterministic double sum, reduce.cuh) and fill_scalar. `acc`: y += instead of y =.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/reduce.cuh"

namespace mor::kernels::cu {
namespace {

#define MOR_GRID_STRIDE(e, total) \
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__device__ __forceinline__ void store(T& dst, T v, bool accumulate) {
  dst = accumulate ? dst + v : v;
}

template <typename T>
__global__ void axpy_kernel(int64_t n, T a, const T* x, T* y, bool acc) {
  MOR_GRID_STRIDE(i, n) store(y[i], a * x[i], acc);
}
template <typename T>
__global__ void axpy_scalar_kernel(int64_t n, const T* c, double mul, const T* x, T* y, bool acc) {
  const T a = T(double(c[0]) * mul);
  MOR_GRID_STRIDE(i, n) store(y[i], a * x[i], acc);
}
template <typename T>
__global__ void add_kernel(int64_t n, const T* x, const T* y, T* z) {
  MOR_GRID_STRIDE(i, n) z[i] = x[i] + y[i];
}
template <typename T>
__global__ void mul_kernel(int64_t n, const T* x, const T* y, T* z, bool acc) {
  MOR_GRID_STRIDE(i, n) store(z[i], x[i] * y[i], acc);
}
template <typename T>
__global__ void scale_rows_kernel(int64_t n, int64_t d, const T* x, const T* s, T* y, bool acc) {
  MOR_GRID_STRIDE(e, n * d) store(y[e], s[e / d] * x[e], acc);
}
template <typename T>
__global__ void row_dots_kernel(int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool acc) {
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int64_t i = int64_t(blockIdx.x) * warps + (threadIdx.x >> 5); i < n; i += int64_t(gridDim.x) * warps) {
    T s = 0;
    for (int64_t j = lane; j < d; j += 32) s += dy[i * d + j] * x[i * d + j];
    s = warp_sum(s);
    if (lane == 0) store(ds[i], s, acc);
  }
}
template <typename T>
__global__ void fill_scalar_kernel(int64_t n, const T* c, T* y, bool acc) {
  const T v = c[0];
  MOR_GRID_STRIDE(i, n) store(y[i], v, acc);
}

template <typename T>
struct ValueTerm {
  const T* x;
  __device__ double operator()(int64_t i) const { return double(x[i]); }
};

}  // namespace

template <typename T>
void axpy(Stream st, int64_t n, T a, const T* x, T* y, bool acc) {
  launch_grid_stride("axpy", n, kThreads, st, axpy_kernel<T>, n, a, x, y, acc);
}
template <typename T>
void axpy_scalar(Stream st, int64_t n, const T* c, double mul, const T* x, T* y, bool acc) {
  launch_grid_stride("axpy_scalar", n, kThreads, st, axpy_scalar_kernel<T>, n, c, mul, x, y, acc);
}
template <typename T>
void add(Stream st, int64_t n, const T* x, const T* y, T* z) {
  launch_grid_stride("add", n, kThreads, st, add_kernel<T>, n, x, y, z);
}
template <typename T>
void mul(Stream st, int64_t n, const T* x, const T* y, T* z, bool acc) {
  launch_grid_stride("mul", n, kThreads, st, mul_kernel<T>, n, x, y, z, acc);
}
template <typename T>
void scale_rows(Stream st, int64_t n, int64_t d, const T* x, const T* s, T* y, bool acc) {
  launch_grid_stride("scale_rows", n * d, kThreads, st, scale_rows_kernel<T>, n, d, x, s, y, acc);
}
template <typename T>
void row_dots(Stream st, int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool acc) {
  launch_grid_stride("row_dots", n, kThreads / 32, st, row_dots_kernel<T>, n, d, dy, x, ds, acc);  // a warp a row
}
template <typename T>
void sum_all(Stream st, int64_t n, const T* x, T* out) {
  deterministic_sum(as_stream(st), n, ValueTerm<T>{x}, StoreScaled<T>{out, 1.0});
}
template <typename T>
void fill_scalar(Stream st, int64_t n, const T* c, T* y, bool acc) {
  launch_grid_stride("fill_scalar", n, kThreads, st, fill_scalar_kernel<T>, n, c, y, acc);
}

#define MOR_INST(T)                                                                    \
  template void axpy<T>(Stream, int64_t, T, const T*, T*, bool);                       \
  template void axpy_scalar<T>(Stream, int64_t, const T*, double, const T*, T*, bool); \
  template void add<T>(Stream, int64_t, const T*, const T*, T*);                       \
  template void mul<T>(Stream, int64_t, const T*, const T*, T*, bool);                 \
  template void scale_rows<T>(Stream, int64_t, int64_t, const T*, const T*, T*, bool); \
  template void row_dots<T>(Stream, int64_t, int64_t, const T*, const T*, T*, bool);   \
  template void sum_all<T>(Stream, int64_t, const T*, T*);                             \
  template void fill_scalar<T>(Stream, int64_t, const T*, T*, bool);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels::cu
