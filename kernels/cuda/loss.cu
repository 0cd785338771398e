// Loss kernels (loss.h / activation.h on the CPU): softmax cross-entropy over logits [n, V] fused
// with its gradient (one block per row: max, sum of exponentials, then the gradient written in
// place), the vocabulary-parallel rescale of sums of exponentials, and BCE-with-logits. Scalar
// losses are deterministic double sums (reduce.cuh) written to the device as T(sum / norm).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/reduce.cuh"

namespace mor::kernels::cu {
namespace {

constexpr int kRowThreads = 256;

// Row i: row_loss = logsumexp(z) - z[t] (0 when t < 0); with grad_scale != 0, z becomes
// grad_scale * (softmax(z) - onehot(t)) (0 for ignored rows). exp is recomputed in the last pass
// (same value as the CPU's stored exp, scaled by the same factor).
template <typename T>
__global__ void __launch_bounds__(kRowThreads) softmax_xent_kernel(int64_t n, int64_t V, T* logits,
                                                                    const int32_t* target, T grad_scale,
                                                                    T* row_loss) {
  __shared__ T sh[32];
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    T* z = logits + i * V;
    const int32_t t = target[i];
    if (t < 0) {
      if (threadIdx.x == 0) row_loss[i] = T(0);
      if (grad_scale != T(0))
        for (int64_t j = threadIdx.x; j < V; j += kRowThreads) z[j] = T(0);
      continue;
    }
    T m = neg_inf<T>();
    for (int64_t j = threadIdx.x; j < V; j += kRowThreads) m = fmax(m, z[j]);
    m = block_max(m, sh);
    T s = 0;
    for (int64_t j = threadIdx.x; j < V; j += kRowThreads) s += exp(z[j] - m);
    s = block_sum(s, sh);
    const T zt = z[t];
    if (threadIdx.x == 0) row_loss[i] = m + log(s) - zt;
    __syncthreads();  // everyone has read z[t] before it is overwritten
    if (grad_scale != T(0)) {
      const T c = grad_scale / s;
      for (int64_t j = threadIdx.x; j < V; j += kRowThreads) {
        T g = exp(z[j] - m) * c;
        if (j == t) g -= grad_scale;
        z[j] = g;
      }
    }
    __syncthreads();  // the next row's reductions reuse sh
  }
}

template <typename T>
__global__ void rescale_sum_exp_kernel(int64_t n, const T* local_max, const T* global_max, T* se) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    se[i] *= T(exp(double(local_max[i]) - double(global_max[i])));
}

template <typename T>
__global__ void bce_backward_kernel(int64_t n, const T* x, const T* target, const T* dy, double norm, T* dx,
                                    bool acc) {
  const T scale = T(double(dy[0]) / norm);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const T v = scale * (T(1) / (T(1) + exp(-x[i])) - target[i]);
    dx[i] = acc ? dx[i] + v : v;
  }
}

template <typename T>
struct RowLossTerm {
  const T* row_loss;
  __device__ double operator()(int64_t i) const { return double(row_loss[i]); }
};

// softplus(x) - t x, softplus(x) = max(x, 0) + log1p(exp(-|x|)), in double
template <typename T>
struct BceTerm {
  const T* x;
  const T* t;
  __device__ double operator()(int64_t i) const {
    const double xi = double(x[i]);
    return (xi > 0 ? xi : 0.0) + log1p(exp(-fabs(xi))) - double(t[i]) * xi;
  }
};

}  // namespace

template <typename T>
void softmax_xent(Stream st, int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale, T* row_loss,
                  double norm, T* loss_out) {
  const cudaStream_t s = as_stream(st);
  if (n > 0) {
    const unsigned blocks = unsigned(n < (int64_t(1) << 20) ? n : (int64_t(1) << 20));
    softmax_xent_kernel<T><<<blocks, kRowThreads, 0, s>>>(n, V, logits, target, grad_scale, row_loss);
    check_launch("softmax_xent");
  }
  deterministic_sum(s, n, RowLossTerm<T>{row_loss}, StoreDivided<T>{loss_out, norm});
}

template <typename T>
void rescale_sum_exp(Stream st, int64_t n, const T* local_max, const T* global_max, T* se) {
  if (n <= 0) return;
  rescale_sum_exp_kernel<T><<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, local_max, global_max, se);
  check_launch("rescale_sum_exp");
}

template <typename T>
void bce_with_logits_forward(Stream st, int64_t n, const T* x, const T* target, double norm, T* loss_out) {
  deterministic_sum(as_stream(st), n, BceTerm<T>{x, target}, StoreDivided<T>{loss_out, norm});
}

template <typename T>
void bce_with_logits_backward(Stream st, int64_t n, const T* x, const T* target, const T* dy, double norm, T* dx,
                              bool acc) {
  if (n <= 0) return;
  bce_backward_kernel<T><<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, x, target, dy, norm, dx, acc);
  check_launch("bce_with_logits_backward");
}

#define MOR_INST(T)                                                                                             \
  template void softmax_xent<T>(Stream, int64_t, int64_t, T*, const int32_t*, T, T*, double, T*);               \
  template void rescale_sum_exp<T>(Stream, int64_t, const T*, const T*, T*);                                    \
  template void bce_with_logits_forward<T>(Stream, int64_t, const T*, const T*, double, T*);                    \
  template void bce_with_logits_backward<T>(Stream, int64_t, const T*, const T*, const T*, double, T*, bool);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels::cu
