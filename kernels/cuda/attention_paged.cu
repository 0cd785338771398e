// Paged attention forward on CUDA (kernels/cpu/attention_paged.h): decode-time queries against
// keys/values held in pages of the inference engine's cache, causal by position, GQA, strided.
// One warp per (query row, head), as the CPU's one pass per (query, head): the pages of the
// query's sequence are walked in order, key by key (lanes split the head's columns, a shuffle
// sum gives the score), with an online softmax, until a key's position passes the query's.
// out [Nq, Hq, D]; lse [Nq, Hq]; a query with no visible key gets out = 0 and lse = -inf.
// Head sizes up to 1024 (the config's bound).
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

constexpr int kWarpsPerBlock = 4;

template <typename T, int DCH>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) paged_forward_kernel(PagedAttentionLayout L, T scale,
                                                                            const T* q, const T* k, const T* v,
                                                                            T* out, T* lse) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int64_t D = L.d, h = blockIdx.y, hk = h / (L.hq / L.hkv);
  const int64_t nq = L.q_off[L.n_seq];
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + w; i < nq; i += int64_t(gridDim.x) * kWarpsPerBlock) {
    const int64_t s = attn::sequence_of(L.q_off, L.n_seq, i);
    T qr[DCH], acc[DCH];
#pragma unroll
    for (int j = 0; j < DCH; ++j) {
      const int64_t c = lane + 32 * j;
      qr[j] = c < D ? q[i * L.q_stride + h * D + c] : T(0);
      acc[j] = T(0);
    }
    const int32_t qp = L.q_pos[i];
    T m = neg_inf<T>(), l = T(0);
    bool done = false;
    for (int64_t g = L.pg_off[s]; g < L.pg_off[s + 1] && !done; ++g) {
      const int64_t r0 = L.pages[2 * g], r1 = r0 + L.pages[2 * g + 1];
      for (int64_t r = r0; r < r1; ++r) {
        if (L.k_pos[r] > qp) {  // positions ascend: no later key is visible either
          done = true;
          break;
        }
        const T* kr = k + r * L.k_stride + hk * D;
        T dot = T(0);
#pragma unroll
        for (int j = 0; j < DCH; ++j) {
          const int64_t c = lane + 32 * j;
          if (c < D) dot += qr[j] * kr[c];
        }
        const T sc = warp_sum(dot) * scale;
        if (sc > m) {  // rescale what was accumulated under the old maximum
          const T f = exp(m - sc);
          l *= f;
#pragma unroll
          for (int j = 0; j < DCH; ++j) acc[j] *= f;
          m = sc;
        }
        const T wgt = exp(sc - m);
        l += wgt;
        const T* vr = v + r * L.v_stride + hk * D;
#pragma unroll
        for (int j = 0; j < DCH; ++j) {
          const int64_t c = lane + 32 * j;
          if (c < D) acc[j] += wgt * vr[c];
        }
      }
    }
    T* o = out + i * L.o_stride + h * D;
#pragma unroll
    for (int j = 0; j < DCH; ++j) {
      const int64_t c = lane + 32 * j;
      if (c < D) o[c] = l == T(0) ? T(0) : acc[j] * (T(1) / l);
    }
    if (lane == 0) lse[i * L.hq + h] = l == T(0) ? neg_inf<T>() : m + log(l);
  }
}

template <typename T, int DCH>
void launch(cudaStream_t s, const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
            T* lse) {
  paged_forward_kernel<T, DCH><<<dim3(attn::grid_x(L.hq), unsigned(L.hq)), kWarpsPerBlock * 32, 0, s>>>(
      L, scale, q, k, v, out, lse);
  check_launch("attention_forward_paged");
}

}  // namespace

template <typename T>
void attention_forward_paged(Stream st, const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                             T* out, T* lse) {
  if (L.n_seq <= 0 || L.hq <= 0) return;
  const cudaStream_t s = as_stream(st);
  if (L.d <= 64) return launch<T, 2>(s, L, scale, q, k, v, out, lse);
  if (L.d <= 128) return launch<T, 4>(s, L, scale, q, k, v, out, lse);
  if (L.d <= 256) return launch<T, 8>(s, L, scale, q, k, v, out, lse);
  if (L.d <= 1024) return launch<T, 32>(s, L, scale, q, k, v, out, lse);
  throw std::runtime_error("CUDA paged attention supports head_dim <= 1024, got " + std::to_string(L.d) + ".");
}

template void attention_forward_paged<float>(Stream, const PagedAttentionLayout&, float, const float*, const float*,
                                             const float*, float*, float*);
template void attention_forward_paged<double>(Stream, const PagedAttentionLayout&, double, const double*,
                                              const double*, const double*, double*, double*);

}  // namespace mor::kernels::cu
