// Attention backward on CUDA (kernels/cpu/attention.h): dq, dk, dv accumulate (+=), any may be
// null. P is recomputed from the saved lse (P = exp(scale q.k - lse) where visible, else 0),
// dS = P (dP - rowsum(dO * O)), dP = dO V^T. Two kernels, each output row with one writer
// (deterministic, no atomics):
//   dq kernel    CTA = (tile of 4*ROWS query rows, query head), as the forward: key/value tiles
//                stream through shared memory, dq rows accumulate in registers;
//   dk/dv kernel CTA = (tile of 4*ROWS key rows, kv head): for every query head of the group,
//                query/dO tiles of 32 rows from the first query that sees the tile's first key
//                to the end of the sequence stream through shared memory; lane l takes query l
//                for the dot products, dk/dv rows accumulate in registers.
// Layout and tiling: attention_common.cuh.
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {
using namespace attn;

// The lane's dot products with the warp's own rows (each [ROWS][D] in shared memory), c ascending:
// a[r] = sum_c A[r * D + c] * x[c] and b[r] = sum_c B[r * D + c] * y[c].
template <typename T, int ROWS>
__device__ __forceinline__ void lane_dots(T (&a)[ROWS], const T* A, const T* x, T (&b)[ROWS], const T* B,
                                          const T* y, int64_t D) {
#pragma unroll
  for (int r = 0; r < ROWS; ++r) a[r] = b[r] = T(0);
  for (int64_t c = 0; c < D; ++c) {
    const T xc = x[c], yc = y[c];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      a[r] += A[r * D + c] * xc;
      b[r] += B[r * D + c] * yc;
    }
  }
}

template <typename T, int DCH, int ROWS>
__global__ void __launch_bounds__(kCtaThreads) attention_dq_kernel(AttentionLayout L, const int64_t* tiles, T scale,
                                                                   const T* q, const T* k, const T* v, const T* out,
                                                                   const T* lse, const T* dout, T* dq) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t D = L.d, KS = padded(D);
  T* Ks = reinterpret_cast<T*>(smem_raw);  // [32][KS]
  T* Vs = Ks + kTile * KS;                  // [32][KS]
  T* Qs = Vs + kTile * KS;                  // [kWarps * ROWS][D]
  T* dOs = Qs + kWarps * ROWS * D;          // [kWarps * ROWS][D]
  constexpr int BQ = kWarps * ROWS;
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int64_t h = blockIdx.y, hk = h / (L.hq / L.hkv);
  T* Qw = Qs + int64_t(w) * ROWS * D;
  T* dOw = dOs + int64_t(w) * ROWS * D;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const auto [b0, b1, k0, kend] = query_tile(L, tiles, tile, BQ);

    int32_t qp[ROWS];
    T row_lse[ROWS], delta[ROWS], acc[ROWS][DCH];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t i = b0 + w * ROWS + r;
      const bool valid = i < b1;
      qp[r] = valid ? L.q_pos[i] : INT_MIN;
      row_lse[r] = valid ? lse[i * L.hq + h] : T(0);
      T dsum = T(0);
      for (int64_t c = lane; c < D; c += 32) {
        const T qv = valid ? q[i * L.q_stride + h * D + c] : T(0);
        const T dov = valid ? dout[i * L.o_stride + h * D + c] : T(0);
        Qw[r * D + c] = qv;
        dOw[r * D + c] = dov;
        if (valid) dsum += dov * out[i * L.o_stride + h * D + c];
      }
      delta[r] = warp_sum(dsum);  // rowsum(dO * O)
#pragma unroll
      for (int j = 0; j < DCH; ++j) acc[r][j] = T(0);
    }

    for (int64_t kt = k0; kt < kend; kt += kTile) {
      const int64_t nk = kend - kt < kTile ? kend - kt : kTile;
      __syncthreads();
      stage_tiles(Ks, KS, k + hk * D, L.k_stride, Vs, KS, v + hk * D, L.v_stride, kt, nk, D);
      __syncthreads();

      const bool kvalid = lane < nk;
      const int32_t kp = kvalid ? L.k_pos[kt + lane] : INT_MAX;
      T sc[ROWS], dp[ROWS];
      lane_dots(sc, Qw, Ks + lane * KS, dp, dOw, Vs + lane * KS, D);
      T ds[ROWS];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        const bool vis = kvalid && kp <= qp[r];
        const T p = vis ? exp(sc[r] * scale - row_lse[r]) : T(0);
        ds[r] = p * (dp[r] - delta[r]);
      }
      accumulate_rows(acc, ds, Ks, KS, D);  // acc += dS K
    }

#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t i = b0 + w * ROWS + r;
      if (i >= b1) continue;
      T* o = dq + i * L.q_stride + h * D;
#pragma unroll
      for (int j = 0; j < DCH; ++j) {
        const int64_t c = lane + 32 * j;
        if (c < D) o[c] += scale * acc[r][j];
      }
    }
  }
}

template <typename T, int DCH, int ROWS>
__global__ void __launch_bounds__(kCtaThreads) attention_dkdv_kernel(AttentionLayout L, const int64_t* tiles,
                                                                     T scale, const T* q, const T* k, const T* v,
                                                                     const T* out, const T* lse, const T* dout,
                                                                     T* dk, T* dv) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t D = L.d, KS = padded(D);
  T* Qs = reinterpret_cast<T*>(smem_raw);  // [32][KS] queries of the tile
  T* dOs = Qs + kTile * KS;                 // [32][KS]
  T* Kr = dOs + kTile * KS;                 // [kWarps * ROWS][D] the CTA's key rows
  T* Vr = Kr + kWarps * ROWS * D;           // [kWarps * ROWS][D]
  T* lse_s = Vr + kWarps * ROWS * D;        // [32]
  T* delta_s = lse_s + kTile;               // [32]
  int32_t* qpos_s = reinterpret_cast<int32_t*>(delta_s + kTile);  // [32]
  constexpr int BK = kWarps * ROWS;
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int64_t hk = blockIdx.y, group = L.hq / L.hkv;
  T* Kw = Kr + int64_t(w) * ROWS * D;
  T* Vw = Vr + int64_t(w) * ROWS * D;
  const int64_t n_tiles = tiles[L.n_seq];

  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const auto [b0, b1, qstart, q1] = key_tile(L, tiles, tile, BK);

    int32_t kp[ROWS];
    T gk[ROWS][DCH], gv[ROWS][DCH];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t j = b0 + w * ROWS + r;
      const bool valid = j < b1;
      kp[r] = valid ? L.k_pos[j] : INT_MAX;  // an absent row is seen by no query
      for (int64_t c = lane; c < D; c += 32) {
        Kw[r * D + c] = valid ? k[j * L.k_stride + hk * D + c] : T(0);
        Vw[r * D + c] = valid ? v[j * L.v_stride + hk * D + c] : T(0);
      }
#pragma unroll
      for (int jj = 0; jj < DCH; ++jj) gk[r][jj] = gv[r][jj] = T(0);
    }

    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      for (int64_t qt = qstart; qt < q1; qt += kTile) {
        const int64_t nq = q1 - qt < kTile ? q1 - qt : kTile;
        __syncthreads();  // the previous query tile is consumed; the key rows are written
        stage_tiles(Qs, KS, q + h * D, L.q_stride, dOs, KS, dout + h * D, L.o_stride, qt, nq, D);
        // Per query of the tile: lse, position and rowsum(dO * O) (warp w takes rows w, w + 4, ...).
        for (int r = w; r < kTile; r += kWarps) {
          const bool in = r < nq;
          const int64_t i = qt + r;
          T dsum = T(0);
          if (in)
            for (int64_t c = lane; c < D; c += 32) dsum += dout[i * L.o_stride + h * D + c] * out[i * L.o_stride + h * D + c];
          dsum = warp_sum(dsum);
          if (lane == 0) {
            delta_s[r] = dsum;
            lse_s[r] = in ? lse[i * L.hq + h] : T(0);
            qpos_s[r] = in ? L.q_pos[i] : INT_MIN;  // an absent query sees no key
          }
        }
        __syncthreads();

        // Lane l: query qt + l against the warp's key rows.
        T sc[ROWS], dp[ROWS];
        lane_dots(sc, Kw, Qs + lane * KS, dp, Vw, dOs + lane * KS, D);
        const int32_t my_qpos = qpos_s[lane];
        const T my_lse = lse_s[lane], my_delta = delta_s[lane];
        T p[ROWS], ds[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
          const bool vis = kp[r] <= my_qpos;
          p[r] = vis ? exp(sc[r] * scale - my_lse) : T(0);
          ds[r] = p[r] * (dp[r] - my_delta);
        }
        accumulate_rows(gv, p, dOs, KS, D);  // gv += P^T dO
        accumulate_rows(gk, ds, Qs, KS, D);  // gk += dS^T Q
      }
    }

#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const int64_t j = b0 + w * ROWS + r;
      if (j >= b1) continue;
#pragma unroll
      for (int jj = 0; jj < DCH; ++jj) {
        const int64_t c = lane + 32 * jj;
        if (c >= D) continue;
        if (dk) dk[j * L.k_stride + hk * D + c] += scale * gk[r][jj];
        if (dv) dv[j * L.v_stride + hk * D + c] += gv[r][jj];
      }
    }
    __syncthreads();  // the next tile rewrites the key rows
  }
}

template <typename T, int DCH, int ROWS>
void launch(cudaStream_t s, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, const T* out,
            const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  Scratch<int64_t> tiles(L.n_seq + 1, s);
  if (dq) {
    tile_offsets(s, L.n_seq, L.q_off, kWarps * ROWS, tiles.get());
    const size_t bytes = size_t(2 * kTile * padded(L.d) + 2 * kWarps * ROWS * L.d) * sizeof(T);
    auto kernel = attention_dq_kernel<T, DCH, ROWS>;
    allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
    kernel<<<dim3(grid_x(L.hq), unsigned(L.hq)), kCtaThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out, lse,
                                                                          dout, dq);
    check_launch("attention_backward dq");
  }
  if (dk || dv) {
    tile_offsets(s, L.n_seq, L.k_off, kWarps * ROWS, tiles.get());
    const size_t bytes = size_t(2 * kTile * padded(L.d) + 2 * kWarps * ROWS * L.d + 2 * kTile) * sizeof(T) +
                         kTile * sizeof(int32_t);
    auto kernel = attention_dkdv_kernel<T, DCH, ROWS>;
    allow_shared(reinterpret_cast<const void*>(kernel), bytes, L.d);
    kernel<<<dim3(grid_x(L.hkv), unsigned(L.hkv)), kCtaThreads, bytes, s>>>(L, tiles.get(), scale, q, k, v, out,
                                                                            lse, dout, dk, dv);
    check_launch("attention_backward dk/dv");
  }
}

}  // namespace

template <typename T>
void attention_backward(Stream st, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  if (L.n_seq <= 0 || L.hq <= 0 || (!dq && !dk && !dv)) return;
  const cudaStream_t s = as_stream(st);
  switch (chunks_for(L.d)) {
    case 2: return launch<T, 2, 4>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
    case 4: return launch<T, 4, 4>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
    case 8: return launch<T, 8, 2>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
    default:
      throw std::runtime_error("CUDA attention supports head_dim <= 256, got " + std::to_string(L.d) +
                               ". Hint: use a smaller model.head_dim, or device: cpu.");
  }
}

template void attention_backward<float>(Stream, const AttentionLayout&, float, const float*, const float*,
                                        const float*, const float*, const float*, const float*, float*, float*,
                                        float*);
template void attention_backward<double>(Stream, const AttentionLayout&, double, const double*, const double*,
                                         const double*, const double*, const double*, const double*, double*,
                                         double*, double*);

}  // namespace mor::kernels::cu
