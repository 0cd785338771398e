// Optimizer kernels over the flat fp32 parameter range (optim.h on the CPU). The parameter table
// is one contiguous buffer, so one adamw_update launch is the whole multi-tensor update: one thread
// per element (float4 when all four arrays are 16-byte aligned), PyTorch AdamW semantics with the
// same float arithmetic as the CPU. sum_squares is a deterministic double sum (reduce.cuh); it
// synchronises the stream and returns the value on the host.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/reduce.cuh"

namespace mor::kernels::cu {
namespace {

struct AdamWConst {
  float decay, step, inv_sqrt_bc2, b1, b2, gs, eps;
};

__device__ __forceinline__ void adamw_one(float& p, float g, float& m, float& v, const AdamWConst& c) {
  const float gi = g * c.gs;
  const float mi = c.b1 * m + (1.0f - c.b1) * gi;
  const float vi = c.b2 * v + (1.0f - c.b2) * gi * gi;
  m = mi;
  v = vi;
  p = p * c.decay - c.step * mi / (sqrtf(vi) * c.inv_sqrt_bc2 + c.eps);
}

__global__ void adamw_kernel(int64_t n, float* p, const float* g, float* m, float* v, AdamWConst c) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    adamw_one(p[i], g[i], m[i], v[i], c);
}

// n4 quads of 4 floats (all pointers 16-byte aligned).
__global__ void adamw_kernel4(int64_t n4, float4* p, const float4* g, float4* m, float4* v, AdamWConst c) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    float4 pp = p[i], mm = m[i], vv = v[i];
    const float4 gg = g[i];
    adamw_one(pp.x, gg.x, mm.x, vv.x, c);
    adamw_one(pp.y, gg.y, mm.y, vv.y, c);
    adamw_one(pp.z, gg.z, mm.z, vv.z, c);
    adamw_one(pp.w, gg.w, mm.w, vv.w, c);
    p[i] = pp;
    m[i] = mm;
    v[i] = vv;
  }
}

struct SquareTerm {
  const float* x;
  __device__ double operator()(int64_t i) const {
    const double v = double(x[i]);
    return v * v;
  }
};

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

}  // namespace

void adamw_update(Stream st, int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a) {
  if (n <= 0) return;
  const cudaStream_t s = as_stream(st);
  AdamWConst c;
  c.decay = 1.0f - a.lr * a.weight_decay;
  c.step = a.lr / a.bias_correction1;
  c.inv_sqrt_bc2 = 1.0f / std::sqrt(a.bias_correction2);
  c.b1 = a.beta1;
  c.b2 = a.beta2;
  c.gs = a.grad_scale;
  c.eps = a.eps;
  int64_t head = 0;
  if (aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v)) {
    const int64_t n4 = n / 4;
    if (n4 > 0) {
      adamw_kernel4<<<grid_for(n4), kThreads, 0, s>>>(n4, reinterpret_cast<float4*>(p),
                                                       reinterpret_cast<const float4*>(g),
                                                       reinterpret_cast<float4*>(m), reinterpret_cast<float4*>(v), c);
      check_launch("adamw_update (float4)");
    }
    head = n4 * 4;
  }
  if (head < n) {
    adamw_kernel<<<grid_for(n - head), kThreads, 0, s>>>(n - head, p + head, g + head, m + head, v + head, c);
    check_launch("adamw_update");
  }
}

double sum_squares(Stream st, int64_t n, const float* x) {
  const cudaStream_t s = as_stream(st);
  Scratch<double> total(1, s);
  deterministic_sum(s, n, SquareTerm{x}, StoreScaled<double>{total.get(), 1.0});
  double host = 0;
  check(cudaMemcpyAsync(&host, total.get(), sizeof(double), cudaMemcpyDeviceToHost, s), "sum_squares copy");
  check(cudaStreamSynchronize(s), "sum_squares sync");
  return host;
}

}  // namespace mor::kernels::cu
