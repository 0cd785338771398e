// Attention forward on CUDA (kernels/cpu/attention.h for the contract): causal-by-position GQA
// over packed variable-length rows, strided q/k/v/out, online softmax (FlashAttention-style: no
// [queries, keys] matrix), out [Nq, Hq, D] and lse [Nq, Hq]; a query with no visible key gets
// out = 0 and lse = -inf.
//
// CTA = (tile of 4*ROWS query rows of one sequence, query head); warp w owns ROWS query rows
// (q in shared memory, running max / sum / output accumulators in registers). Key/value tiles of
// 32 rows stream through shared memory up to the last key the CTA's last query sees; lane l
// scores key l against the warp's rows, then the probabilities are broadcast by shuffles into the
// output accumulators (lane c owns columns c, c + 32, ...). Layout and tiling: attention_common.cuh.
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {
using namespace attn;

template <typename T, int DCH, int ROWS>
__global__ void __launch_bounds__(kCtaThreads) attention_forward_kernel(AttentionLayout L, const int64_t* tiles,
                                                                        T scale, const T* q, const T* k, const T* v,
                                                                        T* out, T* lse) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t D = L.d, KS = padded(D);
  T* Ks = reinterpret_cast<T*>(smem_raw);  // [32][KS]
  T* Vs = Ks + kTile * KS;                  // [32][D]
  T* Qs = Vs + kTile * D;                   // [kWarps * ROWS][D]
  constexpr int BQ = kWarps * ROWS;
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int64_t h = blockIdx.y, hk = h / (L.hq / L.hkv);
  T* Qw = Qs + int64_t(w) * ROWS * D;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const auto [b0, b1, k0, kend] = query_tile(L, tiles, tile, BQ);

    int32_t qp[ROWS];
    T m[ROWS], lsum[ROWS], acc[ROWS][DCH];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t i = b0 + w * ROWS + r;
      const bool valid = i < b1;
      qp[r] = valid ? L.q_pos[i] : INT_MIN;  // an absent row sees no key
      for (int64_t c = lane; c < D; c += 32) Qw[r * D + c] = valid ? q[i * L.q_stride + h * D + c] : T(0);
      m[r] = neg_inf<T>();
      lsum[r] = T(0);
#pragma unroll
      for (int j = 0; j < DCH; ++j) acc[r][j] = T(0);
    }

    for (int64_t kt = k0; kt < kend; kt += kTile) {
      const int64_t nk = kend - kt < kTile ? kend - kt : kTile;
      __syncthreads();  // the previous tile is consumed; the Q rows are written
      stage_tiles(Ks, KS, k + hk * D, L.k_stride, Vs, D, v + hk * D, L.v_stride, kt, nk, D);
      __syncthreads();

      // Scores of key kt + lane against the warp's rows.
      const bool kvalid = lane < nk;
      const int32_t kp = kvalid ? L.k_pos[kt + lane] : INT_MAX;
      T sc[ROWS];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) sc[r] = T(0);
      const T* kr = Ks + lane * KS;
      for (int64_t c = 0; c < D; ++c) {
        const T kc = kr[c];
#pragma unroll
        for (int r = 0; r < ROWS; ++r) sc[r] += Qw[r * D + c] * kc;
      }

      // Online softmax: new running max, rescale, probabilities of this tile.
      T p[ROWS];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        const bool vis = kvalid && kp <= qp[r];
        const T sv = vis ? sc[r] * scale : neg_inf<T>();
        const T mnew = fmax(m[r], warp_max(sv));
        p[r] = T(0);
        if (mnew == neg_inf<T>()) continue;  // nothing visible yet (uniform over the warp)
        const T alpha = exp(m[r] - mnew);    // 0 while m is -inf
        if (vis) p[r] = exp(sv - mnew);
        lsum[r] = lsum[r] * alpha + p[r];
#pragma unroll
        for (int j = 0; j < DCH; ++j) acc[r][j] *= alpha;
        m[r] = mnew;
      }

      accumulate_rows(acc, p, Vs, D, D);  // acc += P V over the tile's keys
    }

#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t i = b0 + w * ROWS + r;
      if (i >= b1) continue;  // uniform over the warp
      const T l = warp_sum(lsum[r]);
      T* o = out + i * L.o_stride + h * D;
#pragma unroll
      for (int j = 0; j < DCH; ++j) {
        const int64_t c = lane + 32 * j;
        if (c < D) o[c] = l > T(0) ? acc[r][j] / l : T(0);
      }
      if (lane == 0) lse[i * L.hq + h] = l > T(0) ? m[r] + log(l) : neg_inf<T>();
    }
  }
}

template <typename T, int DCH, int ROWS>
void launch(cudaStream_t s, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out, T* lse) {
  Scratch<int64_t> tiles(L.n_seq + 1, s);
  tile_offsets(s, L.n_seq, L.q_off, kWarps * ROWS, tiles.get());
  const size_t bytes = size_t(kTile * padded(L.d) + kTile * L.d + kWarps * ROWS * L.d) * sizeof(T);
  auto kernel = attention_forward_kernel<T, DCH, ROWS>;
  allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
  kernel<<<dim3(grid_x(L.hq), unsigned(L.hq)), kCtaThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out, lse);
  check_launch("attention_forward");
}

}  // namespace

template <typename T>
void attention_forward(Stream st, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                       T* lse) {
  if (L.n_seq <= 0 || L.hq <= 0) return;
  const cudaStream_t s = as_stream(st);
  switch (chunks_for(L.d)) {
    case 2: return launch<T, 2, 4>(s, L, scale, q, k, v, out, lse);
    case 4: return launch<T, 4, 4>(s, L, scale, q, k, v, out, lse);
    case 8: return launch<T, 8, 2>(s, L, scale, q, k, v, out, lse);
    default:
      throw std::runtime_error("CUDA attention supports head_dim <= 256, got " + std::to_string(L.d) +
                               ". Hint: use a smaller model.head_dim, or device: cpu.");
  }
}

template void attention_forward<float>(Stream, const AttentionLayout&, float, const float*, const float*,
                                       const float*, float*, float*);
template void attention_forward<double>(Stream, const AttentionLayout&, double, const double*, const double*,
                                        const double*, double*, double*);

}  // namespace mor::kernels::cu
