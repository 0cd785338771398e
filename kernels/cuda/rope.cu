// Rotary position embedding, rotate-half form (rope.h on the CPU). x, y [n, n_heads, D]; pos [n].
// Heads [0, n_rot) rotate, the others are copied; inverse rotates by -angle (the backward);
// accumulate adds into y. One thread per (token, head, pair i < D/2), which owns elements i and
// i + D/2, so y may alias x. Angles in T's precision as on the CPU:
// inv_freq_i = 1 / theta^(2i/D) (the power evaluated in double), a = pos * inv_freq_i.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

template <typename T>
__global__ void rope_kernel(int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x, const int32_t* pos,
                            T theta, T sign, T* y, bool accumulate) {
  const int64_t half = D / 2, per_head = half > 0 ? half : 1;
  const int64_t total = n * n_heads * per_head;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t th = e / per_head, i = e - th * per_head;  // th = t * n_heads + h
    const int64_t t = th / n_heads, h = th - t * n_heads;
    const T* xi = x + th * D;
    T* yi = y + th * D;
    if (h < n_rot) {
      if (i >= half) continue;
      // theta^(2i/D) from T-rounded operands as the CPU, but evaluated in double and rounded
      // once: CUDA's powf may be a few ulps off, which moves angles of ~1000 rad by ~1e-4.
      const T inv_freq = T(1) / T(pow(double(theta), double(T(2 * i) / T(D))));
      const T a = T(pos[t]) * inv_freq;
      const T c = cos(a), sn = sign * sin(a);
      const T x1 = xi[i], x2 = xi[i + half];
      const T y1 = x1 * c - x2 * sn, y2 = x2 * c + x1 * sn;
      if (accumulate) {
        yi[i] += y1;
        yi[i + half] += y2;
      } else {
        yi[i] = y1;
        yi[i + half] = y2;
      }
    } else {
      // copied head: pair i copies elements i and i + half; pair 0 also the last one when D is odd
      if (half > 0) {
        yi[i] = accumulate ? yi[i] + xi[i] : xi[i];
        yi[i + half] = accumulate ? yi[i + half] + xi[i + half] : xi[i + half];
      }
      if (i == 0 && (D & 1)) yi[D - 1] = accumulate ? yi[D - 1] + xi[D - 1] : xi[D - 1];
    }
  }
}

}  // namespace

template <typename T>
void rope_apply(Stream st, int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x, const int32_t* pos,
                double theta, bool inverse, T* y, bool accumulate) {
  if (n <= 0 || n_heads <= 0 || D <= 0) return;
  const int64_t per_head = D / 2 > 0 ? D / 2 : 1;
  launch_grid_stride("rope_apply", n * n_heads * per_head, kThreads, st, rope_kernel<T>, n, n_heads, n_rot, D, x, pos,
                     T(theta), inverse ? T(-1) : T(1), y, accumulate);
}

template void rope_apply<float>(Stream, int64_t, int64_t, int64_t, int64_t, const float*, const int32_t*, double,
                                bool, float*, bool);
template void rope_apply<double>(Stream, int64_t, int64_t, int64_t, int64_t, const double*, const int32_t*, double,
                                 bool, double*, bool);

}  // namespace mor::kernels::cu
