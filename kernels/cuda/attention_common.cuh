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

// tiles[s] = sum over s' < s of ceil((off[s'+1] - off[s']) / rows_per_tile), s in [0, n_seq], on
// the device (one block), for a layout side (q_off or k_off).
void tile_offsets(cudaStream_t s, int64_t n_seq, const int64_t* off, int64_t rows_per_tile, int64_t* tiles);

// CTAs along x for `heads` along y: enough to fill the GPU; they stride over the tiles.
unsigned grid_x(int64_t heads);

// Raises the kernel's dynamic shared memory limit when above the default 48 KiB; a clear error
// when the head size does not fit this GPU.
void allow_shared(const void* kernel, size_t bytes, int64_t D);

}  // namespace mor::kernels::cu::attn
