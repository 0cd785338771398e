// Attention backward on bf16 tensor cores (attention_tc.h; contract: kernels/cpu/attention.h):
// dq, dk, dv accumulate (+=), any may be null. FlashAttention-2 backward: P is recomputed from the
// saved lse (P = exp(scale q.k - lse) where visible, else 0), dP = dO V^T, D_i = rowsum(dO * O)
// (fp32, from the fp32 tensors), dS = P (dP - D), dV = P^T dO, dK = scale dS^T Q, dQ = scale dS K.
// Two kernels, every output row with exactly one writer and a fixed summation order
// (deterministic, no atomics):
//   dk/dv kernel  CTA = (tile of 64 key rows of one sequence, kv head), warp w owning keys
//                 [16 w, 16 w + 16). For each query head of the group in order, query tiles of BQ
//                 rows (64 for D = 64, 32 for D = 128) from the first query that sees the tile's
//                 first key to the sequence's end: S^T = K Q^T and dP^T = V dO^T (16 x BQ per
//                 warp), P^T and dS^T in registers, then dV += P^T dO and dK += dS^T Q with P^T /
//                 dS^T as A operands. Shared (bf16): Ks, Vs [64][D+8]; Qs, dOs [BQ][D+8]; their
//                 transposes Qt, dOt [D][BQ+8]; fp32 lse * log2 e and D_i, i32 positions [BQ].
//                 D = 64: 56.1 KB; D = 128: 73.1 KB.
//   dq kernel     CTA = (tile of 64 query rows, query head), warp w owning rows [16 w, 16 w + 16);
//                 key tiles of BK (64 for D = 64, 32 for D = 128) up to the last key the tile's
//                 last query sees: S = Q K^T, dP = dO V^T, dS in registers, dQ += dS K (K^T staged
//                 as Kt). Shared: Qs, dOs [64][D+8]; Ks, Vs [BK][D+8]; Kt [D][BK+8]; positions,
//                 D_i. D = 64: 46.6 KB; D = 128: 62.8 KB.
// The dq kernel recomputes S and dP rather than sharing them with the dk/dv kernel through
// atomics (7 products instead of 5, but deterministic). Fragment layouts: attention_tc.cuh.
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/attention_tc.h"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {
using namespace attn;
using namespace tc;

constexpr int kRows = 64;  // output rows per CTA (4 warps x 16), both kernels

// Query rows per streamed tile of the dk/dv kernel, keys per streamed tile of the dq kernel.
template <int D>
__host__ __device__ constexpr int stream_rows() {
  return D == 64 ? 64 : 32;
}

template <int D>
constexpr size_t dkdv_smem_bytes() {
  constexpr int BQ = stream_rows<D>();
  return size_t(2 * kRows * ld_of(D) + 2 * BQ * ld_of(D) + 2 * D * ld_of(BQ)) * sizeof(bf16) +
         size_t(BQ) * (2 * sizeof(float) + sizeof(int32_t));
}

template <int D>
constexpr size_t dq_smem_bytes() {
  constexpr int BK = stream_rows<D>();
  return size_t(2 * kRows * ld_of(D) + 2 * BK * ld_of(D) + D * ld_of(BK)) * sizeof(bf16) +
         size_t(BK) * sizeof(int32_t) + size_t(kRows) * sizeof(float);
}

// rowsum(dO * O) of query row i, head h, in fp32 over the warp (every lane gets it).
template <int D>
__device__ __forceinline__ float row_delta(const AttentionLayout& L, const float* __restrict__ out,
                                           const float* __restrict__ dout, int64_t i, int64_t h) {
  const int lane = threadIdx.x & 31;
  const float* o = out + i * L.o_stride + h * D;
  const float* d = dout + i * L.o_stride + h * D;
  float acc = 0.f;
#pragma unroll
  for (int c = lane; c < D; c += 32) acc += o[c] * d[c];
  return warp_sum(acc);
}

template <int D>
__global__ void __launch_bounds__(kTcThreads) attention_tc_dkdv_kernel(
    AttentionLayout L, const int64_t* tiles, float scale, const float* __restrict__ q, const float* __restrict__ k,
    const float* __restrict__ v, const float* __restrict__ out, const float* __restrict__ lse,
    const float* __restrict__ dout, float* dk, float* dv) {
  constexpr int BQ = stream_rows<D>(), LDR = ld_of(D), LDT = ld_of(BQ), NQ = BQ / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);  // [kRows][LDR]
  bf16* Vs = Ks + kRows * LDR;                   // [kRows][LDR]
  bf16* Qs = Vs + kRows * LDR;                   // [BQ][LDR]
  bf16* dOs = Qs + BQ * LDR;                     // [BQ][LDR]
  bf16* Qt = dOs + BQ * LDR;                     // [D][LDT]
  bf16* dOt = Qt + D * LDT;                      // [D][LDT]
  float* lse_s = reinterpret_cast<float*>(dOt + D * LDT);  // [BQ] lse * log2 e
  float* dl_s = lse_s + BQ;                                // [BQ] rowsum(dO * O)
  int32_t* qpos_s = reinterpret_cast<int32_t*>(dl_s + BQ);  // [BQ] (INT_MIN past the sequence)
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int64_t hk = blockIdx.y, group = L.hq / L.hkv;
  const float sl2 = scale * kLog2e;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t it = blockIdx.x; it < n_tiles; it += gridDim.x) {
    const int64_t tile = n_tiles - 1 - it;
    const auto [b0, b1, qstart, q1] = key_tile(L, tiles, tile, kRows);  // CTA-uniform
    // The warp's keys; this thread's keys W.r0 + g, W.r0 + g + 8 (an absent key is seen by no query).
    const WarpRows W = warp_rows(L.k_pos, b0, b1, INT_MAX);

    __syncthreads();  // the previous tile's readers of Ks / Vs are done
    stage_rows<kRows, D>(Ks, k + hk * D, L.k_stride, b0, int(b1 - b0));
    stage_rows<kRows, D>(Vs, v + hk * D, L.v_stride, b0, int(b1 - b0));

    float gk[NO][4], gv[NO][4];
#pragma unroll
    for (int j = 0; j < NO; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) gk[j][e] = gv[j][e] = 0.f;

    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      for (int64_t qt = qstart; qt < q1; qt += BQ) {
        const int nq = int(q1 - qt < BQ ? q1 - qt : BQ);
        __syncthreads();  // the previous query tile is consumed (and Ks / Vs are written)
        stage_rows<BQ, D>(Qs, q + h * D, L.q_stride, qt, nq);
        stage_rows_t<BQ, D>(Qt, q + h * D, L.q_stride, qt, nq);
        stage_rows<BQ, D>(dOs, dout + h * D, L.o_stride, qt, nq);
        stage_rows_t<BQ, D>(dOt, dout + h * D, L.o_stride, qt, nq);
        for (int r = w; r < BQ; r += kTcWarps) {  // warp-uniform
          const bool in = r < nq;
          const float dsum = in ? row_delta<D>(L, out, dout, qt + r, h) : 0.f;
          if (lane == 0) {
            dl_s[r] = dsum;
            lse_s[r] = in ? lse[(qt + r) * L.hq + h] * kLog2e : 0.f;
            qpos_s[r] = in ? L.q_pos[qt + r] : INT_MIN;  // an absent query sees no key
          }
        }
        __syncthreads();
        if (!W.active || qpos_s[nq - 1] < W.first) continue;  // no query of the tile sees the warp's keys
        const bool full = W.full && nq == BQ && qpos_s[0] >= W.last;  // every query sees every key

        // S^T = K Q^T and dP^T = V dO^T (16 keys x BQ queries per warp).
        float st[NQ][4], dpt[NQ][4];
        mma_abt_pair<D>(st, Ks, Qs, dpt, Vs, dOs, kWarpRows * w);
        // P^T = exp2(s scale log2 e - lse log2 e) where visible; dS^T = P^T (dP^T - D).
#pragma unroll
        for (int j = 0; j < NQ; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int col = 8 * j + 2 * t + (e & 1);  // query of the tile
            const bool vis = full || W.mine[e >> 1] <= qpos_s[col];
            const float p = vis ? exp2f(st[j][e] * sl2 - lse_s[col]) : 0.f;
            st[j][e] = p;
            dpt[j][e] = p * (dpt[j][e] - dl_s[col]);
          }
        // dV += P^T dO, dK += dS^T Q (k = the tile's queries; B from the transposed tiles).
        mma_from_c(gv, st, dOt, LDT);
        mma_from_c(gk, dpt, Qt, LDT);
      }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t j = W.r0 + g + 8 * r;
      if (j >= W.r1) continue;
      float* dkr = dk ? dk + j * L.k_stride + hk * D + 2 * t : nullptr;
      float* dvr = dv ? dv + j * L.v_stride + hk * D + 2 * t : nullptr;
#pragma unroll
      for (int n = 0; n < NO; ++n) {
        if (dkr) dkr[8 * n] += scale * gk[n][2 * r], dkr[8 * n + 1] += scale * gk[n][2 * r + 1];
        if (dvr) dvr[8 * n] += gv[n][2 * r], dvr[8 * n + 1] += gv[n][2 * r + 1];
      }
    }
  }
}

template <int D>
__global__ void __launch_bounds__(kTcThreads) attention_tc_dq_kernel(
    AttentionLayout L, const int64_t* tiles, float scale, const float* __restrict__ q, const float* __restrict__ k,
    const float* __restrict__ v, const float* __restrict__ out, const float* __restrict__ lse,
    const float* __restrict__ dout, float* dq) {
  constexpr int BK = stream_rows<D>(), LDR = ld_of(D), LDT = ld_of(BK), NK = BK / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);  // [kRows][LDR]
  bf16* dOs = Qs + kRows * LDR;                  // [kRows][LDR]
  bf16* Ks = dOs + kRows * LDR;                  // [BK][LDR]
  bf16* Vs = Ks + BK * LDR;                      // [BK][LDR]
  bf16* Kt = Vs + BK * LDR;                      // [D][LDT]
  int32_t* kpos = reinterpret_cast<int32_t*>(Kt + D * LDT);  // [BK] (INT_MAX past the visible keys)
  float* dl_s = reinterpret_cast<float*>(kpos + BK);          // [kRows] rowsum(dO * O)
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int64_t h = blockIdx.y, hk = h / (L.hq / L.hkv);
  const float sl2 = scale * kLog2e;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t it = blockIdx.x; it < n_tiles; it += gridDim.x) {
    const int64_t tile = n_tiles - 1 - it;
    const auto [b0, b1, k0, kend] = query_tile(L, tiles, tile, kRows);  // CTA-uniform
    // The warp's rows; this thread's rows W.r0 + g, W.r0 + g + 8 (an absent row sees no key).
    const WarpRows W = warp_rows(L.q_pos, b0, b1, INT_MIN);

    __syncthreads();  // the previous tile's readers of Qs / dOs / dl_s are done
    stage_rows<kRows, D>(Qs, q + h * D, L.q_stride, b0, int(b1 - b0));
    stage_rows<kRows, D>(dOs, dout + h * D, L.o_stride, b0, int(b1 - b0));
    for (int r = 0; r < kWarpRows; ++r) {  // the warp's own rows
      const int64_t i = W.r0 + r;
      const float dsum = i < W.r1 ? row_delta<D>(L, out, dout, i, h) : 0.f;
      if (lane == 0) dl_s[kWarpRows * w + r] = dsum;
    }
    __syncwarp();
    float lse2[2], dl[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = W.r0 + g + 8 * r;
      lse2[r] = i < W.r1 ? lse[i * L.hq + h] * kLog2e : 0.f;
      dl[r] = dl_s[kWarpRows * w + g + 8 * r];
    }

    float acc[NO][4];
#pragma unroll
    for (int j = 0; j < NO; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

    for (int64_t kt = k0; kt < kend; kt += BK) {
      const int nk = int(kend - kt < BK ? kend - kt : BK);
      __syncthreads();  // the previous key tile is consumed (and Qs / dOs are written)
      stage_rows<BK, D>(Ks, k + hk * D, L.k_stride, kt, nk);
      stage_rows<BK, D>(Vs, v + hk * D, L.v_stride, kt, nk);
      stage_rows_t<BK, D>(Kt, k + hk * D, L.k_stride, kt, nk);
      for (int j = threadIdx.x; j < BK; j += kTcThreads) kpos[j] = j < nk ? L.k_pos[kt + j] : INT_MAX;
      __syncthreads();
      if (!W.active || kpos[0] > W.last) continue;  // none of the warp's rows sees this tile
      const bool full = W.full && kpos[BK - 1] <= W.first;

      // S = Q K^T, dP = dO V^T (16 rows x BK keys per warp).
      float sc[NK][4], dp[NK][4];
      mma_abt_pair<D>(sc, Qs, Ks, dp, dOs, Vs, kWarpRows * w);
      // dS = P (dP - D), P recomputed from lse where visible.
#pragma unroll
      for (int j = 0; j < NK; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, col = 8 * j + 2 * t + (e & 1);
          const bool vis = full || kpos[col] <= W.mine[r];
          const float p = vis ? exp2f(sc[j][e] * sl2 - lse2[r]) : 0.f;
          sc[j][e] = p * (dp[j][e] - dl[r]);
        }
      mma_from_c(acc, sc, Kt, LDT);  // dQ += dS K (k = the tile's keys; B from K^T)
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = W.r0 + g + 8 * r;
      if (i >= W.r1) continue;
      float* row = dq + i * L.q_stride + h * D + 2 * t;
#pragma unroll
      for (int j = 0; j < NO; ++j) {
        row[8 * j] += scale * acc[j][2 * r];
        row[8 * j + 1] += scale * acc[j][2 * r + 1];
      }
    }
  }
}

template <int D>
void launch_backward(cudaStream_t s, const AttentionLayout& L, float scale, const float* q, const float* k,
                     const float* v, const float* out, const float* lse, const float* dout, float* dq, float* dk,
                     float* dv) {
  Scratch<int64_t> tiles(L.n_seq + 1, s);
  if (dq) {
    tile_offsets(s, L.n_seq, L.q_off, kRows, tiles.get());
    const size_t bytes = dq_smem_bytes<D>();
    auto kernel = attention_tc_dq_kernel<D>;
    allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
    kernel<<<dim3(grid_x(L.hq), unsigned(L.hq)), kTcThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out, lse,
                                                                         dout, dq);
    check_launch("attention_backward dq (bf16 tensor cores)");
  }
  if (dk || dv) {
    tile_offsets(s, L.n_seq, L.k_off, kRows, tiles.get());  // stream-ordered after the dq kernel
    const size_t bytes = dkdv_smem_bytes<D>();
    auto kernel = attention_tc_dkdv_kernel<D>;
    allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
    kernel<<<dim3(grid_x(L.hkv), unsigned(L.hkv)), kTcThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out,
                                                                           lse, dout, dk, dv);
    check_launch("attention_backward dk/dv (bf16 tensor cores)");
  }
}

}  // namespace

void attention_backward_tc(Stream st, const AttentionLayout& L, float scale, const float* q, const float* k,
                           const float* v, const float* out, const float* lse, const float* dout, float* dq,
                           float* dk, float* dv) {
  if (L.n_seq <= 0 || L.hq <= 0 || (!dq && !dk && !dv)) return;
  const cudaStream_t s = as_stream(st);
  switch (L.d) {
    case 64: return launch_backward<64>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
    case 128: return launch_backward<128>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
    default: return attention_backward<float>(st, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
  }
}

}  // namespace mor::kernels::cu
