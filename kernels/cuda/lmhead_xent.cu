// The fused LM head + softmax cross-entropy on CUDA, the same blocks, tiles and two passes as
// kernels/cpu/lmhead_xent.h (read it for the contract): per block of m rows,
//   pass 1  tile by tile z_t [m, vt] = h w_t^T (cuBLAS), then per row (one CUDA block per row) the
//           online max / sum of exponentials and the target logit into p.stats [3m];
//   combine when set: the stream is synchronised and p.combine(m, p.stats) runs on the host with
//           the DEVICE pointer (it must finish its own device work before returning);
//   loss    the block's rows with target >= 0 add max + log(sum) - target logit, in double (one
//           CUDA block, fixed shuffle tree: deterministic), to a device accumulator;
//   pass 2  g_t = grad_scale (softmax - onehot) in place of the (kept or recomputed) logits, then
//           dh (+)= g_t w_t and dw_t (+)= g_t^T h by GEMMs.
// Only one block's logits ([m, V] kept, or [m, tile]) exist at a time. loss_out[0] = T(loss / norm).
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

constexpr int kRowThreads = 256;

template <typename T>
__global__ void init_stats_kernel(int64_t m, T* stats) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x) {
    stats[i] = neg_inf<T>();
    stats[m + i] = T(0);
    stats[2 * m + i] = T(0);
  }
}

// Row i of the tile z [m, vt] (row stride ldz), columns [t0, t0 + vt) of this shard.
template <typename T>
__global__ void __launch_bounds__(kRowThreads) tile_stats_kernel(int64_t m, int64_t vt, const T* z, int64_t ldz,
                                                                  const int32_t* target, int64_t first, int64_t t0,
                                                                  T* stats) {
  __shared__ T sh[32];
  for (int64_t i = blockIdx.x; i < m; i += gridDim.x) {
    const T* zi = z + i * ldz;
    T tmax = neg_inf<T>();
    for (int64_t j = threadIdx.x; j < vt; j += kRowThreads) tmax = fmax(tmax, zi[j]);
    tmax = block_max(tmax, sh);
    T row_max = stats[i], sum = stats[m + i];
    if (tmax > row_max) {  // online log-sum-exp: rescale the sum to the new max
      sum *= exp(row_max - tmax);
      row_max = tmax;
    }
    T part = 0;
    for (int64_t j = threadIdx.x; j < vt; j += kRowThreads) part += exp(zi[j] - row_max);
    part = block_sum(part, sh);
    if (threadIdx.x == 0) {
      stats[i] = row_max;
      stats[m + i] = sum + part;
      const int64_t t = int64_t(target[i]) - first - t0;
      if (target[i] >= 0 && t >= 0 && t < vt) stats[2 * m + i] = zi[t];
    }
    __syncthreads();
  }
}

// total[0] += sum over rows with target >= 0 of max + log(sum) - target logit (one block).
template <typename T>
__global__ void block_loss_kernel(int64_t m, const int32_t* target, const T* stats, double* total) {
  __shared__ double sh[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x)
    if (target[i] >= 0) s += double(stats[i]) + log(double(stats[m + i])) - double(stats[2 * m + i]);
  s = block_sum(s, sh);
  if (threadIdx.x == 0) total[0] += s;
}

// g [m, vt] (row stride ldg) = grad_scale (softmax - onehot) from the logits in place; 0 for ignored rows.
template <typename T>
__global__ void __launch_bounds__(kRowThreads) tile_grad_kernel(int64_t m, int64_t vt, T* g, int64_t ldg,
                                                                 const int32_t* target, int64_t first, int64_t t0,
                                                                 const T* stats, T grad_scale) {
  for (int64_t i = blockIdx.x; i < m; i += gridDim.x) {
    T* gi = g + i * ldg;
    if (target[i] < 0) {
      for (int64_t j = threadIdx.x; j < vt; j += kRowThreads) gi[j] = T(0);
      continue;
    }
    const T row_max = stats[i], c = grad_scale / stats[m + i];
    const int64_t t = int64_t(target[i]) - first - t0;
    for (int64_t j = threadIdx.x; j < vt; j += kRowThreads) {
      T v = c * exp(gi[j] - row_max);
      if (j == t) v -= grad_scale;
      gi[j] = v;
    }
  }
}

template <typename T>
__global__ void finish_loss_kernel(const double* total, double norm, T* loss_out) {
  loss_out[0] = T(total[0] / norm);
}

unsigned row_grid(int64_t m) { return unsigned(m < 65535 ? m : 65535); }

}  // namespace

template <typename T>
void lmhead_xent(Stream st, const LmHeadXent<T>& p, double norm, T* loss_out) {
  const cudaStream_t s = as_stream(st);
  const bool grads = p.grad_scale != T(0) && (p.dh || p.dw);
  const bool keep = grads && p.keep;
  const int64_t rows = p.rows > 0 ? p.rows : lmhead_block_rows(p.n, p.V);
  const int64_t tile = p.tile > 0 ? std::min(p.tile, p.V) : p.V;
  Scratch<double> total(1, s);
  check(cudaMemsetAsync(total.get(), 0, sizeof(double), s), "lmhead_xent: cudaMemsetAsync");
  for (int64_t r0 = 0; r0 < p.n; r0 += rows) {  // every block, as the CPU: combine may be a collective
    const int64_t m = std::min(rows, p.n - r0);
    const T* h = p.h + r0 * p.d;
    const int32_t* target = p.target + r0;
    init_stats_kernel<T><<<grid_for(m), kThreads, 0, s>>>(m, p.stats);
    check_launch("lmhead_xent init");
    for (int64_t t0 = 0; t0 < p.V; t0 += tile) {  // pass 1
      const int64_t vt = std::min(tile, p.V - t0), ldz = keep ? p.V : vt;
      T* z = keep ? p.logits + t0 : p.logits;
      gemm<T>(st, false, true, m, vt, p.d, T(1), h, p.d, p.w + t0 * p.d, p.d, T(0), z, ldz);
      tile_stats_kernel<T><<<row_grid(m), kRowThreads, 0, s>>>(m, vt, z, ldz, target, p.first, t0, p.stats);
      check_launch("lmhead_xent stats");
    }
    if (p.combine) {
      check(cudaStreamSynchronize(s), "lmhead_xent: sync before combine");
      p.combine(m, p.stats);
    }
    block_loss_kernel<T><<<1, kThreads, 0, s>>>(m, target, p.stats, total.get());
    check_launch("lmhead_xent loss");
    if (!grads) continue;
    for (int64_t t0 = 0; t0 < p.V; t0 += tile) {  // pass 2
      const int64_t vt = std::min(tile, p.V - t0), ldg = keep ? p.V : vt;
      T* g = keep ? p.logits + t0 : p.logits;
      const T* w_t = p.w + t0 * p.d;
      if (!keep) gemm<T>(st, false, true, m, vt, p.d, T(1), h, p.d, w_t, p.d, T(0), g, ldg);
      tile_grad_kernel<T><<<row_grid(m), kRowThreads, 0, s>>>(m, vt, g, ldg, target, p.first, t0, p.stats,
                                                               p.grad_scale);
      check_launch("lmhead_xent grad");
      if (p.dh)
        gemm<T>(st, false, false, m, p.d, vt, T(1), g, ldg, w_t, p.d, t0 == 0 ? T(0) : T(1), p.dh + r0 * p.d, p.d);
      if (p.dw) gemm<T>(st, true, false, vt, p.d, m, T(1), g, ldg, h, p.d, r0 > 0 ? T(1) : T(0), p.dw + t0 * p.d, p.d);
    }
  }
  finish_loss_kernel<T><<<1, 1, 0, s>>>(total.get(), norm, loss_out);
  check_launch("lmhead_xent finish");
}

template void lmhead_xent<float>(Stream, const LmHeadXent<float>&, double, float*);
template void lmhead_xent<double>(Stream, const LmHeadXent<double>&, double, double*);

}  // namespace mor::kernels::cu
