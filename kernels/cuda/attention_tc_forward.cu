// Attention forward on bf16 tensor cores (attention_tc.h; contract: kernels/cpu/attention.h):
// FlashAttention-2 over the packed variable-length layout, causal by position, GQA, strided fp32
// q/k/v/out; out [Nq, Hq, D], lse [Nq, Hq] (-inf and out 0 for a query that sees no key).
//
// CTA = (tile of 64 query rows of one sequence, query head), 4 warps, warp w owning query rows
// [16 w, 16 w + 16) of the tile. Tiles come from attn::tile_offsets (per-sequence ceil(len / 64))
// and the CTAs stride over them, last tile first (the causal tail tiles are the longest).
// Shared memory (bf16, rows padded by 8: attention_tc.cuh):
//   Qs [64][D + 8]   the tile's queries (read once into registers: the A fragments of S = Q K^T)
//   Ks [64][D + 8]   a key tile, row-major (B of Q K^T)
//   Vt [D][64 + 8]   the value tile transposed (B of P V)
//   kpos [64]        the key tile's positions (INT_MAX past the visible keys)
// D = 64: 27.9 KB, D = 128: 53.5 KB. Per warp, registers: Q fragments [D/16][4], S [8][4] fp32,
// O [D/8][4] fp32, running max and sum for rows g and g + 8 (g = lane / 4).
// Key tiles run from the sequence's first key to the last key the tile's last query sees. A warp
// skips a tile none of its rows sees; a tile all its rows see entirely skips the mask. Online
// softmax in the log2 domain (scores * scale * log2 e, exp2f); P is rounded to bf16 in registers
// and fed to P V as the A operand. fp32: statistics, accumulators, output.
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/attention_tc.h"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {
using namespace attn;
using namespace tc;

constexpr int kBQ = 64, kBK = 64;  // query rows per CTA, keys per tile

template <int D>
constexpr size_t forward_smem_bytes() {
  return size_t(kBQ * ld_of(D) + kBK * ld_of(D) + D * ld_of(kBK)) * sizeof(bf16) + kBK * sizeof(int32_t);
}

template <int D>
__global__ void __launch_bounds__(kTcThreads) attention_tc_forward_kernel(AttentionLayout L, const int64_t* tiles,
                                                                        float scale, const float* __restrict__ q,
                                                                        const float* __restrict__ k,
                                                                        const float* __restrict__ v, float* out,
                                                                        float* lse) {
  constexpr int LDR = ld_of(D), LDT = ld_of(kBK), KS = D / 16, NS = kBK / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);                 // [kBQ][LDR]
  bf16* Ks = Qs + kBQ * LDR;                                     // [kBK][LDR]
  bf16* Vt = Ks + kBK * LDR;                                     // [D][LDT]
  int32_t* kpos = reinterpret_cast<int32_t*>(Vt + D * LDT);      // [kBK]
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int64_t h = blockIdx.y, hk = h / (L.hq / L.hkv);
  const float sl2 = scale * kLog2e;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t it = blockIdx.x; it < n_tiles; it += gridDim.x) {
    const int64_t tile = n_tiles - 1 - it;
    const auto [b0, b1, k0, kend] = query_tile(L, tiles, tile, kBQ);  // CTA-uniform
    // The warp's rows; this thread's rows W.r0 + g, W.r0 + g + 8 (an absent row sees no key).
    const WarpRows W = warp_rows(L.q_pos, b0, b1, INT_MIN);

    __syncthreads();  // the previous tile's readers of Qs / Ks / Vt are done
    stage_rows<kBQ, D>(Qs, q + h * D, L.q_stride, b0, int(b1 - b0));
    __syncthreads();
    uint32_t qf[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) load_a(qf[ks], Qs, LDR, kWarpRows * w, 16 * ks);

    float o[NO][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < NO; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;

    for (int64_t kt = k0; kt < kend; kt += kBK) {
      const int nk = int(kend - kt < kBK ? kend - kt : kBK);
      __syncthreads();  // the previous key tile is consumed
      stage_rows<kBK, D>(Ks, k + hk * D, L.k_stride, kt, nk);
      stage_rows_t<kBK, D>(Vt, v + hk * D, L.v_stride, kt, nk);
      for (int j = threadIdx.x; j < kBK; j += kTcThreads) kpos[j] = j < nk ? L.k_pos[kt + j] : INT_MAX;
      __syncthreads();
      if (!W.active || kpos[0] > W.last) continue;  // none of the warp's rows sees this tile (warp-uniform)
      const bool full = W.full && kpos[kBK - 1] <= W.first;  // every row sees every key: no mask

      // S = Q K^T (16 x 64 per warp), scaled into the log2 domain, masked, row maxima.
      float sc[NS][4];
#pragma unroll
      for (int j = 0; j < NS; ++j) sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks)
#pragma unroll
        for (int j = 0; j < NS; ++j) mma_b(sc[j], qf[ks], Ks, LDR, 8 * j, 16 * ks);
      float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, col = 8 * j + 2 * t + (e & 1);
          float x = sc[j][e] * sl2;
          if (!full && kpos[col] > W.mine[r]) x = -INFINITY;
          sc[j][e] = x;
          mt[r] = fmaxf(mt[r], x);
        }
      // Online softmax: new maxima, rescale the running sums and outputs, probabilities.
      float mref[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float mnew = fmaxf(m[r], quad_max(mt[r]));
        mref[r] = mnew == -INFINITY ? 0.f : mnew;  // nothing visible yet: p = 0, alpha = 0, no NaN
        const float alpha = exp2f(m[r] - mref[r]);  // 0 while m is -inf
        m[r] = mnew;
        l[r] *= alpha;
#pragma unroll
        for (int j = 0; j < NO; ++j) o[j][2 * r] *= alpha, o[j][2 * r + 1] *= alpha;
      }
#pragma unroll
      for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f(sc[j][e] - mref[e >> 1]);  // masked: exp2(-inf) = 0
          sc[j][e] = p;
          l[e >> 1] += p;
        }
      mma_from_c(o, sc, Vt, LDT);  // O += P V: P (bf16) from the S fragments, V^T rows as B
    }

    // out = O / l (0 where nothing was visible), lse = ln(sum exp(scale s)) = (m + log2 l) ln 2.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float lsum = quad_sum(l[r]);
      const int64_t i = W.r0 + g + 8 * r;
      if (i >= W.r1) continue;
      const float inv = lsum > 0.f ? 1.f / lsum : 0.f;
      float* orow = out + i * L.o_stride + h * D + 2 * t;
#pragma unroll
      for (int j = 0; j < NO; ++j) {
        orow[8 * j] = o[j][2 * r] * inv;
        orow[8 * j + 1] = o[j][2 * r + 1] * inv;
      }
      if (t == 0) lse[i * L.hq + h] = lsum > 0.f ? (m[r] + log2f(lsum)) * kLn2 : -INFINITY;
    }
  }
}

template <int D>
void launch_forward(cudaStream_t s, const AttentionLayout& L, float scale, const float* q, const float* k,
                    const float* v, float* out, float* lse) {
  Scratch<int64_t> tiles(L.n_seq + 1, s);
  tile_offsets(s, L.n_seq, L.q_off, kBQ, tiles.get());
  const size_t bytes = forward_smem_bytes<D>();
  auto kernel = attention_tc_forward_kernel<D>;
  allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
  kernel<<<dim3(grid_x(L.hq), unsigned(L.hq)), kTcThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out, lse);
  check_launch("attention_forward (bf16 tensor cores)");
}

}  // namespace

void attention_forward_tc(Stream st, const AttentionLayout& L, float scale, const float* q, const float* k,
                          const float* v, float* out, float* lse) {
  if (L.n_seq <= 0 || L.hq <= 0) return;
  const cudaStream_t s = as_stream(st);
  switch (L.d) {
    case 64: return launch_forward<64>(s, L, scale, q, k, v, out, lse);
    case 128: return launch_forward<128>(s, L, scale, q, k, v, out, lse);
    default: return attention_forward<float>(st, L, scale, q, k, v, out, lse);
  }
}

}  // namespace mor::kernels::cu
