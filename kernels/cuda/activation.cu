// Activation kernels (activation.h on the CPU): SwiGLU (gu [n, 2f] = [gate | up] -> y [n, f]),
// sigmoid, tanh, exact GELU (erf), and row softmax / logsumexp over x [n, c] (one warp per row,
// fixed shuffle trees). `accumulate` adds into the gradient instead of overwriting it.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

#define MOR_GRID_STRIDE(e, total) \
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}
template <typename T>
__device__ __forceinline__ void store(T& dst, T v, bool accumulate) {
  dst = accumulate ? dst + v : v;
}

template <typename T>
__global__ void swiglu_forward_kernel(int64_t n, int64_t f, const T* gu, T* y) {
  MOR_GRID_STRIDE(e, n * f) {
    const int64_t i = e / f, j = e - i * f;
    const T g = gu[i * 2 * f + j], u = gu[i * 2 * f + f + j];
    y[e] = g * sigmoid(g) * u;
  }
}

template <typename T>
__global__ void swiglu_backward_kernel(int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool accumulate) {
  MOR_GRID_STRIDE(e, n * f) {
    const int64_t i = e / f, j = e - i * f;
    const T g = gu[i * 2 * f + j], u = gu[i * 2 * f + f + j], d = dy[e];
    const T s = sigmoid(g);
    store(dgu[i * 2 * f + j], d * u * (s * (T(1) + g * (T(1) - s))), accumulate);
    store(dgu[i * 2 * f + f + j], d * (g * s), accumulate);
  }
}

template <typename T>
__global__ void sigmoid_forward_kernel(int64_t n, const T* x, T* y) {
  MOR_GRID_STRIDE(i, n) y[i] = sigmoid(x[i]);
}
template <typename T>
__global__ void sigmoid_backward_kernel(int64_t n, const T* y, const T* dy, T* dx, bool accumulate) {
  MOR_GRID_STRIDE(i, n) store(dx[i], dy[i] * y[i] * (T(1) - y[i]), accumulate);
}
template <typename T>
__global__ void tanh_forward_kernel(int64_t n, const T* x, T* y) {
  MOR_GRID_STRIDE(i, n) y[i] = tanh(x[i]);
}
template <typename T>
__global__ void tanh_backward_kernel(int64_t n, const T* y, const T* dy, T* dx, bool accumulate) {
  MOR_GRID_STRIDE(i, n) store(dx[i], dy[i] * (T(1) - y[i] * y[i]), accumulate);
}
template <typename T>
__global__ void gelu_forward_kernel(int64_t n, const T* x, T* y) {
  MOR_GRID_STRIDE(i, n) y[i] = T(0.5) * x[i] * (T(1) + erf(x[i] * T(0.70710678118654752440)));
}
template <typename T>
__global__ void gelu_backward_kernel(int64_t n, const T* x, const T* dy, T* dx, bool accumulate) {
  MOR_GRID_STRIDE(i, n) {
    const T cdf = T(0.5) * (T(1) + erf(x[i] * T(0.70710678118654752440)));
    const T pdf = T(0.3989422804014327) * exp(T(-0.5) * x[i] * x[i]);
    store(dx[i], dy[i] * (cdf + x[i] * pdf), accumulate);
  }
}

constexpr int kRowsPerBlock = kThreads / 32;  // one warp per row

#define MOR_WARP_ROWS(i, n)                                                         \
  const int lane = threadIdx.x & 31;                                                \
  for (int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5); i < (n); \
       i += int64_t(gridDim.x) * kRowsPerBlock)

template <typename T>
__device__ __forceinline__ T row_max(int64_t c, const T* x, int lane) {
  T m = neg_inf<T>();
  for (int64_t j = lane; j < c; j += 32) m = fmax(m, x[j]);
  return warp_max(m);
}

template <typename T>
__global__ void softmax_forward_kernel(int64_t n, int64_t c, const T* x, T* y) {
  MOR_WARP_ROWS(i, n) {
    const T* xi = x + i * c;
    T* yi = y + i * c;
    const T m = row_max(c, xi, lane);
    T s = 0;
    for (int64_t j = lane; j < c; j += 32) s += exp(xi[j] - m);
    s = warp_sum(s);
    for (int64_t j = lane; j < c; j += 32) yi[j] = exp(xi[j] - m) / s;
  }
}

template <typename T>
__global__ void softmax_backward_kernel(int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool accumulate) {
  MOR_WARP_ROWS(i, n) {
    const T* yi = y + i * c;
    const T* gi = dy + i * c;
    T dot = 0;
    for (int64_t j = lane; j < c; j += 32) dot += yi[j] * gi[j];
    dot = warp_sum(dot);
    for (int64_t j = lane; j < c; j += 32) store(dx[i * c + j], yi[j] * (gi[j] - dot), accumulate);
  }
}

template <typename T>
__global__ void logsumexp_forward_kernel(int64_t n, int64_t c, const T* x, T* y) {
  MOR_WARP_ROWS(i, n) {
    const T* xi = x + i * c;
    const T m = row_max(c, xi, lane);
    T s = 0;
    for (int64_t j = lane; j < c; j += 32) s += exp(xi[j] - m);
    s = warp_sum(s);
    if (lane == 0) y[i] = m + log(s);
  }
}

template <typename T>
__global__ void logsumexp_backward_kernel(int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx,
                                          bool accumulate) {
  MOR_GRID_STRIDE(e, n * c) {
    const int64_t i = e / c;
    store(dx[e], dy[i] * exp(x[e] - y[i]), accumulate);
  }
}

}  // namespace

template <typename T>
void swiglu_forward(Stream st, int64_t n, int64_t f, const T* gu, T* y) {
  launch_grid_stride("swiglu_forward", n * f, kThreads, st, swiglu_forward_kernel<T>, n, f, gu, y);
}
template <typename T>
void swiglu_backward(Stream st, int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool acc) {
  launch_grid_stride("swiglu_backward", n * f, kThreads, st, swiglu_backward_kernel<T>, n, f, gu, dy, dgu, acc);
}

// The table's entries name_forward (y = f(x)) and name_backward (dx (+)= from a = y or x, as the
// CPU's backward takes it) of an elementwise activation: one grid-stride launch each.
#define MOR_ELEMENTWISE_ENTRIES(name)                                                                   \
  template <typename T>                                                                                 \
  void name##_forward(Stream st, int64_t n, const T* x, T* y) {                                         \
    launch_grid_stride(#name "_forward", n, kThreads, st, name##_forward_kernel<T>, n, x, y);           \
  }                                                                                                     \
  template <typename T>                                                                                 \
  void name##_backward(Stream st, int64_t n, const T* a, const T* dy, T* dx, bool acc) {                \
    launch_grid_stride(#name "_backward", n, kThreads, st, name##_backward_kernel<T>, n, a, dy, dx, acc); \
  }
MOR_ELEMENTWISE_ENTRIES(sigmoid)  // backward from y
MOR_ELEMENTWISE_ENTRIES(tanh)     // backward from y
MOR_ELEMENTWISE_ENTRIES(gelu)     // backward from x

// Row kernels: one warp per row, kRowsPerBlock rows a block; nothing to do without columns.
template <typename T>
void softmax_forward(Stream st, int64_t n, int64_t c, const T* x, T* y) {
  if (c > 0) launch_grid_stride("softmax_forward", n, kRowsPerBlock, st, softmax_forward_kernel<T>, n, c, x, y);
}
template <typename T>
void softmax_backward(Stream st, int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool acc) {
  if (c > 0)
    launch_grid_stride("softmax_backward", n, kRowsPerBlock, st, softmax_backward_kernel<T>, n, c, y, dy, dx, acc);
}
template <typename T>
void logsumexp_forward(Stream st, int64_t n, int64_t c, const T* x, T* y) {
  if (c > 0) launch_grid_stride("logsumexp_forward", n, kRowsPerBlock, st, logsumexp_forward_kernel<T>, n, c, x, y);
}
template <typename T>
void logsumexp_backward(Stream st, int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx, bool acc) {
  launch_grid_stride("logsumexp_backward", n * c, kThreads, st, logsumexp_backward_kernel<T>, n, c, x, y, dy, dx, acc);
}

#define MOR_INST(T)                                                                               \
  template void swiglu_forward<T>(Stream, int64_t, int64_t, const T*, T*);                         \
  template void swiglu_backward<T>(Stream, int64_t, int64_t, const T*, const T*, T*, bool);        \
  template void sigmoid_forward<T>(Stream, int64_t, const T*, T*);                                 \
  template void sigmoid_backward<T>(Stream, int64_t, const T*, const T*, T*, bool);                \
  template void tanh_forward<T>(Stream, int64_t, const T*, T*);                                    \
  template void tanh_backward<T>(Stream, int64_t, const T*, const T*, T*, bool);                   \
  template void gelu_forward<T>(Stream, int64_t, const T*, T*);                                    \
  template void gelu_backward<T>(Stream, int64_t, const T*, const T*, T*, bool);                   \
  template void softmax_forward<T>(Stream, int64_t, int64_t, const T*, T*);                        \
  template void softmax_backward<T>(Stream, int64_t, int64_t, const T*, const T*, T*, bool);       \
  template void logsumexp_forward<T>(Stream, int64_t, int64_t, const T*, T*);                      \
  template void logsumexp_backward<T>(Stream, int64_t, int64_t, const T*, const T*, const T*, T*, bool);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels::cu
