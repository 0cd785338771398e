// Shared helpers of the CUDA kernels (kernels/cuda/*.cu): error checks, launch sizes and checked
// launches, stream-ordered scratch buffers, and deterministic warp/block reductions (fixed
// shuffle trees, no atomics).
// Device code only; included by .cu files, never by host-only C++.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"

namespace mor::kernels::cu {

inline cudaStream_t as_stream(Stream s) { return static_cast<cudaStream_t>(s); }

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA kernel ") + what + ": " + cudaGetErrorString(e) +
                             ". Hint: run with CUDA_LAUNCH_BLOCKING=1 to locate the failing kernel.");
}
// After a launch: reports a bad configuration at once (errors inside the kernel surface later).
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

constexpr int kThreads = 256;  // threads per block of the elementwise kernels

// Blocks for a grid-stride loop over n items (at least 1, at most 32768: the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 32768) b = 32768;
  return unsigned(b);
}

// Launches kernel(args...) on `s` with kThreads threads a block and grid_for(items, per_block)
// blocks (the kernel's grid-stride loop covers what the capped grid does not), then checks the
// launch. Launches nothing when items <= 0 (grid_for would still give one block).
template <typename... P, typename... A>
void launch_grid_stride(const char* what, int64_t items, int per_block, Stream s, void (*kernel)(P...), A... args) {
  if (items <= 0) return;
  kernel<<<grid_for(items, per_block), kThreads, 0, as_stream(s)>>>(args...);
  check_launch(what);
}

// Streaming multiprocessors of the current device (for persistent-style grids).
inline int sm_count() {
  int dev = 0, sms = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  return sms > 0 ? sms : 1;
}

// A stream-ordered scratch buffer (cudaMallocAsync / cudaFreeAsync on the kernel's stream): the
// free is queued behind the kernels that use it, so the destructor may run before they finish.
template <typename T>
class Scratch {
 public:
  Scratch(int64_t n, cudaStream_t s) : s_(s) {
    const size_t bytes = size_t(n > 0 ? n : 1) * sizeof(T);
    const cudaError_t e = cudaMallocAsync(reinterpret_cast<void**>(&p_), bytes, s);
    if (e != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it, or the next launch check would report it
      throw std::runtime_error("CUDA scratch buffer of " + std::to_string(bytes) +
                               " bytes (cudaMallocAsync): " + cudaGetErrorString(e));
    }
  }
  ~Scratch() {
    if (p_) cudaFreeAsync(p_, s_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  cudaStream_t s_;
};

// ---- device helpers ----

template <typename T>
__device__ __forceinline__ T neg_inf() {
  return -INFINITY;
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return fmax(a, b); }
};

// Butterfly reduction over the 32 lanes of a full, converged warp; every lane holds the result.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, SumOp());
}
template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  return warp_reduce(v, MaxOp());
}

// Block-wide reduction (blockDim.x a multiple of 32, all threads call it); every thread gets the
// result. `sh` holds 32 values; the leading barrier lets callers reuse it back to back. The warps'
// partials are combined by warp 0 in warp order, `identity` padding the lanes past the last warp.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, T identity, Op op) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    T x = lane < nw ? sh[lane] : identity;
    x = warp_reduce(x, op);
    if (lane == 0) sh[0] = x;
  }
  __syncthreads();
  return sh[0];
}
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* sh) {
  return block_reduce(v, sh, T(0), SumOp());
}
template <typename T>
__device__ __forceinline__ T block_max(T v, T* sh) {
  return block_reduce(v, sh, neg_inf<T>(), MaxOp());
}

// Inclusive prefix sum over the block (blockDim.x a multiple of 32, at most 1024); returns this
// thread's inclusive sum and sets *total to the block's total. `sh` holds 32 values.
template <typename T>
__device__ __forceinline__ T block_inclusive_scan(T v, T* sh, T* total) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int o = 1; o < 32; o <<= 1) {
    const T u = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += u;
  }
  __syncthreads();
  if (lane == 31) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    T x = lane < nw ? sh[lane] : T(0);
    for (int o = 1; o < 32; o <<= 1) {
      const T u = __shfl_up_sync(0xffffffffu, x, o);
      if (lane >= o) x += u;
    }
    sh[lane] = x;  // inclusive warp totals
  }
  __syncthreads();
  if (w > 0) v += sh[w - 1];
  *total = sh[nw - 1];
  return v;
}

}  // namespace mor::kernels::cu
