// Deterministic scalar sums in double on the device: the n terms are cut into G fixed ranges (G a
// function of n only), each range summed by one block in a fixed order (thread-strided, then a
// fixed shuffle tree), the G partials summed by one block the same way, and a finishing functor
// writes the result. Same n and inputs -> bit-identical sums on any GPU; no atomics.
//
// Term:   struct { __device__ double operator()(int64_t i) const; }
// Finish: struct { __device__ void operator()(double total) const; }  (runs on one thread)
#pragma once
#include "kernels/cuda/common.cuh"

namespace mor::kernels::cu {

constexpr int kSumThreads = 256;

template <typename Term>
__global__ void __launch_bounds__(kSumThreads) sum_partials_kernel(int64_t n, int64_t per, Term term,
                                                                    double* partial) {
  __shared__ double sh[32];
  const int64_t b0 = int64_t(blockIdx.x) * per;
  const int64_t b1 = b0 + per < n ? b0 + per : n;
  double s = 0;
  for (int64_t i = b0 + threadIdx.x; i < b1; i += kSumThreads) s += term(i);
  s = block_sum(s, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <typename Finish>
__global__ void __launch_bounds__(kSumThreads) sum_finish_kernel(int g, const double* partial, Finish finish) {
  __shared__ double sh[32];
  double s = 0;
  for (int i = threadIdx.x; i < g; i += kSumThreads) s += partial[i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) finish(s);
}

// Sums term(i) for i < n (n >= 0) and calls finish(total) on the device, asynchronously on `s`.
template <typename Term, typename Finish>
void deterministic_sum(cudaStream_t s, int64_t n, Term term, Finish finish) {
  constexpr int64_t kMinPerBlock = 8192, kMaxBlocks = 1024;
  int64_t g = (n + kMinPerBlock - 1) / kMinPerBlock;
  g = g < 1 ? 1 : g > kMaxBlocks ? kMaxBlocks : g;
  const int64_t per = (n + g - 1) / g;
  Scratch<double> partial(g, s);
  sum_partials_kernel<<<unsigned(g), kSumThreads, 0, s>>>(n, per, term, partial.get());
  check_launch("sum_partials");
  sum_finish_kernel<<<1, kSumThreads, 0, s>>>(int(g), partial.get(), finish);
  check_launch("sum_finish");
}

// Finishing functors.
template <typename T>
struct StoreScaled {  // out[0] = T(total * mul)
  T* out;
  double mul;
  __device__ void operator()(double total) const { out[0] = T(total * mul); }
};
template <typename T>
struct StoreDivided {  // out[0] = T(total / div)
  T* out;
  double div;
  __device__ void operator()(double total) const { out[0] = T(total / div); }
};

}  // namespace mor::kernels::cu
