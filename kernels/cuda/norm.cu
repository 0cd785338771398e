// RMSNorm forward and backward (norm.h on the CPU). x, y, dy, dx [n, d]; w, dw [d]; rstd [n].
// One block per row for the row work (block-wide sums in T, fixed shuffle tree). The weight
// gradient dw[j] = sum_i dy[i,j] x[i,j] rstd[i] is a deterministic column sum: fixed chunks of rows
// (a function of n only) summed into partials [chunks, d], then each column sums its partials in
// chunk order.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

inline int row_threads(int64_t d) { return d <= 256 ? 64 : d <= 2048 ? 128 : 256; }
inline unsigned row_blocks(int64_t n) { return unsigned(n < (int64_t(1) << 20) ? n : (int64_t(1) << 20)); }

template <typename T>
__global__ void rmsnorm_forward_kernel(int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd) {
  __shared__ T sh[32];
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T* xi = x + i * d;
    T ss = 0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) ss += xi[j] * xi[j];
    ss = block_sum(ss, sh);
    const T r = T(1) / sqrt(ss / T(d) + eps);
    if (threadIdx.x == 0) rstd[i] = r;
    T* yi = y + i * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) yi[j] = w[j] * (xi[j] * r);
  }
}

// dx = r (dy w - x c), c = r^2 / d * sum_j dy_j w_j x_j
template <typename T>
__global__ void rmsnorm_dx_kernel(int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                                  bool accumulate) {
  __shared__ T sh[32];
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T* xi = x + i * d;
    const T* gi = dy + i * d;
    T* dxi = dx + i * d;
    T dot = 0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) dot += gi[j] * w[j] * xi[j];
    dot = block_sum(dot, sh);
    const T r = rstd[i];
    const T c = dot * r * r / T(d);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      const T v = r * (gi[j] * w[j] - xi[j] * c);
      dxi[j] = accumulate ? dxi[j] + v : v;
    }
  }
}

constexpr int kColTile = 32, kRowLanes = 8;

// partial[c, j] = sum over rows [c per, (c+1) per) of dy x rstd; block (32, 8), grid (ceil(d/32), chunks).
template <typename T>
__global__ void rmsnorm_dw_partial_kernel(int64_t n, int64_t d, int64_t per, const T* x, const T* rstd, const T* dy,
                                          T* partial) {
  __shared__ T sh[kRowLanes][kColTile + 1];
  const int64_t j = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * per;
  const int64_t r1 = r0 + per < n ? r0 + per : n;
  T acc = 0;
  if (j < d)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) acc += dy[r * d + j] * x[r * d + j] * rstd[r];
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < d) {
    T s = sh[0][threadIdx.x];
    for (int k = 1; k < kRowLanes; ++k) s += sh[k][threadIdx.x];
    partial[int64_t(blockIdx.y) * d + j] = s;
  }
}

template <typename T>
__global__ void column_finish_kernel(int64_t chunks, int64_t d, const T* partial, T* out, bool accumulate) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < d; j += int64_t(gridDim.x) * blockDim.x) {
    T s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * d + j];
    out[j] = accumulate ? out[j] + s : s;
  }
}

}  // namespace

template <typename T>
void rmsnorm_forward(Stream st, int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd) {
  if (n <= 0) return;
  rmsnorm_forward_kernel<T><<<row_blocks(n), row_threads(d), 0, as_stream(st)>>>(n, d, x, w, eps, y, rstd);
  check_launch("rmsnorm_forward");
}

template <typename T>
void rmsnorm_backward(Stream st, int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                      bool dx_accumulate, T* dw, bool dw_accumulate) {
  const cudaStream_t s = as_stream(st);
  if (dx && n > 0) {
    rmsnorm_dx_kernel<T><<<row_blocks(n), row_threads(d), 0, s>>>(n, d, x, w, rstd, dy, dx, dx_accumulate);
    check_launch("rmsnorm_backward dx");
  }
  if (dw && d > 0) {
    int64_t chunks = (n + 63) / 64;
    if (chunks > 4096) chunks = 4096;
    const int64_t per = chunks > 0 ? (n + chunks - 1) / chunks : 0;
    Scratch<T> partial(chunks * d, s);
    if (chunks > 0) {
      const dim3 grid(unsigned((d + kColTile - 1) / kColTile), unsigned(chunks));
      rmsnorm_dw_partial_kernel<T><<<grid, dim3(kColTile, kRowLanes), 0, s>>>(n, d, per, x, rstd, dy, partial.get());
      check_launch("rmsnorm_backward dw partial");
    }
    launch_grid_stride("rmsnorm_backward dw", d, kThreads, s, column_finish_kernel<T>, chunks, d, partial.get(), dw,
                       dw_accumulate);
  }
}

template void rmsnorm_forward<float>(Stream, int64_t, int64_t, const float*, const float*, float, float*, float*);
template void rmsnorm_forward<double>(Stream, int64_t, int64_t, const double*, const double*, double, double*,
                                      double*);
template void rmsnorm_backward<float>(Stream, int64_t, int64_t, const float*, const float*, const float*,
                                      const float*, float*, bool, float*, bool);
template void rmsnorm_backward<double>(Stream, int64_t, int64_t, const double*, const double*, const double*,
                                       const double*, double*, bool, double*, bool);

}  // namespace mor::kernels::cu
