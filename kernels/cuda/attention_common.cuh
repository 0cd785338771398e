// Pieces shared by the tiled attention kernels (attention_forward.cu, attention_backward.cu) over
// the packed variable-length layout of kernels/cpu/attention.h, whose offsets and positions live
// on the device: the host knows the number of sequences, not their lengths. So work is cut into
// tiles of rows per sequence on the device (tile_offsets_kernel: an exclusive prefix sum of
// ceil(len / rows_per_tile)), and a grid of CTAs strides over the tiles, each finding its
// sequence by binary search. Visibility is by position (key j visible to query i iff
// k_pos[j] <= q_pos[i], positions ascending within a sequence), so the visible keys of a query
// are a prefix of its sequence's keys and the queries seeing a key a suffix of its queries.
//
// Thread layout of the tiled kernels: 4 warps per CTA; each warp owns ROWS "own" rows whose
// accumulators live in registers, lane c holding columns c, c + 32, ... (DCH = ceil(D / 32)
// chunks); the "other" side streams through shared memory in tiles of 32 rows, lane l taking row
// l for the dot products (rows padded to an odd stride: no bank conflicts).
#pragma once
#include <climits>

#include "kernels/cuda/common.cuh"

namespace mor::kernels::cu::attn {

constexpr int kWarps = 4, kCtaThreads = kWarps * 32, kTile = 32;

// Odd row stride of the lane-indexed shared tiles (32 lanes hit 32 distinct banks).
__host__ __device__ inline int64_t padded(int64_t D) { return D | 1; }

// The D-chunk count a head size maps to (the kernels are instantiated for 2, 4 and 8), 0 if none.
inline int chunks_for(int64_t D) { return D <= 64 ? 2 : D <= 128 ? 4 : D <= 256 ? 8 : 0; }

// The sequence s with tiles[s] <= tile < tiles[s + 1] (tile < tiles[n_seq]).
__device__ __forceinline__ int64_t sequence_of(const int64_t* tiles, int64_t n_seq, int64_t tile) {
  int64_t lo = 0, hi = n_seq;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (tiles[mid] <= tile) lo = mid;
    else hi = mid;
  }
  return lo;
}

// First index in [b, e) with pos[index] > p (pos ascending): the end of the keys visible at p.
__device__ __forceinline__ int64_t end_at_or_below(const int32_t* pos, int64_t b, int64_t e, int32_t p) {
  while (b < e) {
    const int64_t mid = b + (e - b) / 2;
    if (pos[mid] <= p) b = mid + 1;
    else e = mid;
  }
  return b;
}

// First index in [b, e) with pos[index] >= p: the first query that sees a key at position p.
__device__ __forceinline__ int64_t first_at_or_above(const int32_t* pos, int64_t b, int64_t e, int32_t p) {
  while (b < e) {
    const int64_t mid = b + (e - b) / 2;
    if (pos[mid] < p) b = mid + 1;
    else e = mid;
  }
  return b;
}

// Rows [b0, b1) (b0 < b1) of tile `tile` of one layout side, off = q_off or k_off cut into tiles of
// `rows` rows by tile_offsets, and the sequence s they belong to.
struct TileRows {
  int64_t s, b0, b1;
};
__device__ __forceinline__ TileRows tile_rows(const int64_t* tiles, int64_t n_seq, const int64_t* off, int64_t tile,
                                              int64_t rows) {
  const int64_t s = sequence_of(tiles, n_seq, tile);
  const int64_t b0 = off[s] + (tile - tiles[s]) * rows, e = off[s + 1];
  return {s, b0, b0 + rows < e ? b0 + rows : e};
}

// A tile of query rows [b0, b1) and the keys [k0, kend) of its sequence that its last row sees
// (each row of the tile sees a prefix of them).
struct QueryTile {
  int64_t b0, b1, k0, kend;
};
__device__ __forceinline__ QueryTile query_tile(const AttentionLayout& L, const int64_t* tiles, int64_t tile,
                                                int64_t rows) {
  const TileRows t = tile_rows(tiles, L.n_seq, L.q_off, tile, rows);
  const int64_t k0 = L.k_off[t.s];
  return {t.b0, t.b1, k0, end_at_or_below(L.k_pos, k0, L.k_off[t.s + 1], L.q_pos[t.b1 - 1])};
}

// A tile of key rows [b0, b1) and the queries [qstart, q1) of its sequence from the first one
// that sees its first key (each key of the tile is seen by a suffix of them).
struct KeyTile {
  int64_t b0, b1, qstart, q1;
};
__device__ __forceinline__ KeyTile key_tile(const AttentionLayout& L, const int64_t* tiles, int64_t tile,
                                            int64_t rows) {
  const TileRows t = tile_rows(tiles, L.n_seq, L.k_off, tile, rows);
  const int64_t q1 = L.q_off[t.s + 1];
  return {t.b0, t.b1, first_at_or_above(L.q_pos, L.q_off[t.s], q1, L.k_pos[t.b0]), q1};
}

// Stages the streamed tile of the "other" side (all threads of the CTA): for r < kTile, c < D,
// xs[r * xld + c] = x[(row0 + r) * xstride + c] and ys[r * yld + c] = y[(row0 + r) * ystride + c],
// 0 for rows r >= n; x and y point at the head's first column.
template <typename T>
__device__ __forceinline__ void stage_tiles(T* xs, int64_t xld, const T* x, int64_t xstride, T* ys, int64_t yld,
                                            const T* y, int64_t ystride, int64_t row0, int64_t n, int64_t D) {
  for (int64_t e = threadIdx.x; e < kTile * D; e += kCtaThreads) {
    const int64_t r = e / D, c = e - r * D;
    const bool in = r < n;
    xs[r * xld + c] = in ? x[(row0 + r) * xstride + c] : T(0);
    ys[r * yld + c] = in ? y[(row0 + r) * ystride + c] : T(0);
  }
}

// acc[r][j] += sum over l < kTile (ascending) of lane l's wt[r] times xs[l * ld + c], c = lane + 32 j
// < D: the shuffle broadcast of the lane-indexed weights into the own rows' accumulators.
template <typename T, int ROWS, int DCH>
__device__ __forceinline__ void accumulate_rows(T (&acc)[ROWS][DCH], const T (&wt)[ROWS], const T* xs, int64_t ld,
                                                int64_t D) {
  const int lane = threadIdx.x & 31;
  for (int l = 0; l < kTile; ++l) {
    const T* xl = xs + l * ld;
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const T wl = __shfl_sync(0xffffffffu, wt[r], l);
#pragma unroll
      for (int j = 0; j < DCH; ++j) {
        const int64_t c = lane + 32 * j;
        if (c < D) acc[r][j] += wl * xl[c];
      }
    }
  }
}

// tiles[s] = sum over s' < s of ceil((off[s'+1] - off[s']) / rows_per_tile), s in [0, n_seq], on
// the device (one block), for a layout side (q_off or k_off).
void tile_offsets(cudaStream_t s, int64_t n_seq, const int64_t* off, int64_t rows_per_tile, int64_t* tiles);

// CTAs along x for `heads` along y: enough to fill the GPU; they stride over the tiles. Throws
// when `heads` exceeds the grid's y limit (65535).
unsigned grid_x(int64_t heads);

// Raises the kernel's dynamic shared memory limit when above the default 48 KiB; a clear error
// when the head size does not fit this GPU.
void allow_shared(const void* kernel, size_t bytes, int64_t D);

}  // namespace mor::kernels::cu::attn
