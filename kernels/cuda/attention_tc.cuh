// Device pieces of the bf16 tensor-core attention (attention_tc_forward.cu, attention_tc_backward.cu):
// the warp-level MMA m16n8k16 (bf16 x bf16 -> fp32, inline PTX, sm_80 and later), packing of two
// floats into a bf16 pair, the staging of fp32 row tiles into shared memory as bf16, the warp's
// products over whole tiles, and a warp's share of a CTA's rows.
//
// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA, "Matrix
// fragments for mma.m16n8k16 with floating point type"); g = lane / 4, t = lane % 4; a 32-bit
// register holds two bf16 of consecutive k (the lower k in the low half):
//   A (16 x 16, row-major)  a0: (row g,     k 2t, 2t+1)    a1: (row g + 8, k 2t, 2t+1)
//                           a2: (row g,     k 2t+8, 2t+9)  a3: (row g + 8, k 2t+8, 2t+9)
//   B (16 x 8, "col")       b0: (k 2t, 2t+1;   col g)      b1: (k 2t+8, 2t+9; col g)
//   C, D (16 x 8, fp32)     c0, c1: (row g, col 2t, 2t+1)  c2, c3: (row g + 8, col 2t, 2t+1)
// So an A fragment is two 32-bit loads from each of rows g and g + 8 of a row-major [rows][k]
// tile, and a B fragment two 32-bit loads from row g of a [n][k] tile (k contiguous): every
// product X Y^T reads Y row-major, and X Y reads Y transposed ([n][k]): the kernels stage the
// transposed copies they need (stage_rows_t). And a C fragment of a 16 x 16 pair of n-tiles is,
// element for element, the A fragment of the next product (FlashAttention-2's register reuse):
// a0 = (c0, c1) of n-tile 2j, a1 = (c2, c3) of n-tile 2j, a2 / a3 the same of n-tile 2j + 1.
//
// Shared-memory tiles are bf16 with rows padded by 8 elements (16 bytes), so that a row's stride
// is 4 (mod 8) 32-bit words: the 8 rows g x 4 words t of a fragment load hit 32 distinct banks.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/attention_common.cuh"

namespace mor::kernels::cu::tc {

using bf16 = __nv_bfloat16;

constexpr int kTcWarps = 4, kTcThreads = kTcWarps * 32;
constexpr int kWarpRows = 16;  // rows of the MMA's M side per warp
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

// Row stride (bf16 elements) of a shared tile of `cols` columns: cols + 8, i.e. cols / 2 + 4 words;
// for cols a multiple of 16 (32, 64, 128) that is 4 (mod 8) words: conflict-free fragment loads.
__host__ __device__ constexpr int ld_of(int cols) { return cols + 8; }

// Two floats as a bf16 pair (round to nearest even), `lo` in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo, .y = hi
  return uint32_t(__bfloat16_as_ushort(v.x)) | (uint32_t(__bfloat16_as_ushort(v.y)) << 16);
}

// The 32-bit word at an even element of a shared bf16 tile.
__device__ __forceinline__ uint32_t ld32(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }

// c += A B for one 16 x 8 x 16 block (fp32 accumulators).
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The A fragment of rows [r0, r0 + 16) and k columns [k0, k0 + 16) of a row-major tile (stride ld).
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const bf16* tile, int ld, int r0, int k0) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  const bf16* p = tile + (r0 + g) * ld + k0 + 2 * t;
  a[0] = ld32(p);
  a[1] = ld32(p + 8 * ld);
  a[2] = ld32(p + 8);
  a[3] = ld32(p + 8 * ld + 8);
}

// The A fragment of a 16 x 16 block whose fp32 values are the C fragments of n-tiles lo and hi
// (k columns 0..7 and 8..15), rounded to bf16.
__device__ __forceinline__ void a_from_c(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack_bf16(lo[0], lo[1]);
  a[1] = pack_bf16(lo[2], lo[3]);
  a[2] = pack_bf16(hi[0], hi[1]);
  a[3] = pack_bf16(hi[2], hi[3]);
}

// c += A B with B read from row n0 + g of an [n][k] tile (k contiguous, stride ld), k from k0.
__device__ __forceinline__ void mma_b(float (&c)[4], const uint32_t (&a)[4], const bf16* tile, int ld, int n0,
                                      int k0) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  const bf16* p = tile + (n0 + g) * ld + k0 + 2 * t;
  mma(c, a, ld32(p), ld32(p + 8));
}

// dst[r][c] = bf16(src[(row0 + r) * stride + c]) for r < n, 0 for n <= r < ROWS; c in [0, D);
// row-major with stride ld_of(D). All threads of the CTA take part; src points at the head's
// first column. Lanes take consecutive column pairs (coalesced reads, one 32-bit store each).
template <int ROWS, int D>
__device__ __forceinline__ void stage_rows(bf16* dst, const float* __restrict__ src, int64_t stride, int64_t row0,
                                           int n) {
  constexpr int LD = ld_of(D), PAIRS = D / 2;
  for (int e = threadIdx.x; e < ROWS * PAIRS; e += kTcThreads) {
    const int r = e / PAIRS, c = 2 * (e - r * PAIRS);
    float x = 0.f, y = 0.f;
    if (r < n) {
      const float* p = src + (row0 + r) * stride + c;
      x = p[0];
      y = p[1];
    }
    *reinterpret_cast<uint32_t*>(dst + r * LD + c) = pack_bf16(x, y);
  }
}

// The transposed copy: dst[c][r] = bf16(src[(row0 + r) * stride + c]) (0 for r >= n), stride
// ld_of(ROWS). Each thread writes one 32-bit word (rows r, r + 1 of column c); a warp covers 8
// columns x 4 row pairs (lane: column lane % 8, pair lane / 8), so its 32 stores land in 32
// distinct banks (column stride 4 (mod 8) words) and its reads are 32-byte row segments.
template <int ROWS, int D>
__device__ __forceinline__ void stage_rows_t(bf16* dst, const float* __restrict__ src, int64_t stride, int64_t row0,
                                             int n) {
  static_assert(ROWS % 8 == 0 && D % 8 == 0, "whole chunks of 8 columns x 8 rows");
  constexpr int LD = ld_of(ROWS), CG = D / 8, CHUNKS = CG * (ROWS / 8);
  const int lane = threadIdx.x & 31;
  for (int ch = threadIdx.x >> 5; ch < CHUNKS; ch += kTcWarps) {
    const int c = (ch % CG) * 8 + (lane & 7);
    const int r = ((ch / CG) * 4 + (lane >> 3)) * 2;
    const float x = r < n ? src[(row0 + r) * stride + c] : 0.f;
    const float y = r + 1 < n ? src[(row0 + r + 1) * stride + c] : 0.f;
    *reinterpret_cast<uint32_t*>(dst + c * LD + r) = pack_bf16(x, y);
  }
}

// a = X Y^T and b = U W^T (C fragments of n-tiles j, columns 8 j .. 8 j + 7) for the warp's 16
// rows from r0 of the row-major tiles X, U [.][ld_of(D)] against the rows of Y, W [8 NJ][ld_of(D)]
// (k = the D columns, in order).
template <int D, int NJ>
__device__ __forceinline__ void mma_abt_pair(float (&a)[NJ][4], const bf16* X, const bf16* Y, float (&b)[NJ][4],
                                             const bf16* U, const bf16* W, int r0) {
  constexpr int LDR = ld_of(D);
#pragma unroll
  for (int j = 0; j < NJ; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) a[j][e] = b[j][e] = 0.f;
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) {
    uint32_t xa[4], ua[4];
    load_a(xa, X, LDR, r0, 16 * ks);
    load_a(ua, U, LDR, r0, 16 * ks);
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
      mma_b(a[j], xa, Y, LDR, 8 * j, 16 * ks);
      mma_b(b[j], ua, W, LDR, 8 * j, 16 * ks);
    }
  }
}

// c[j] += S B for the warp's 16 rows: S [16][8 NS] from its fp32 C fragments s (rounded to bf16,
// a_from_c), B read from the [n][k] tile Bt (stride ld, row 8 j + g for n-tile j), k ascending.
template <int NS, int NO>
__device__ __forceinline__ void mma_from_c(float (&c)[NO][4], const float (&s)[NS][4], const bf16* Bt, int ld) {
#pragma unroll
  for (int kk = 0; kk < NS / 2; ++kk) {
    uint32_t a[4];
    a_from_c(a, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
    for (int j = 0; j < NO; ++j) mma_b(c[j], a, Bt, ld, 8 * j, 16 * kk);
  }
}

// Warp w's rows [r0, r1) of a CTA tile of rows [b0, b1) (none when r0 >= b1) and their positions.
struct WarpRows {
  int64_t r0, r1;
  bool active, full;    // some rows; all kWarpRows of them
  int32_t first, last;  // positions of rows r0 and r1 - 1 (INT_MAX and INT_MIN when not active)
  int32_t mine[2];      // positions of this thread's rows r0 + g, r0 + g + 8 (g = lane / 4); `absent` past r1
};
__device__ __forceinline__ WarpRows warp_rows(const int32_t* pos, int64_t b0, int64_t b1, int32_t absent) {
  const int w = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  WarpRows R;
  R.r0 = b0 + kWarpRows * w;
  R.r1 = R.r0 + kWarpRows < b1 ? R.r0 + kWarpRows : b1;
  R.active = R.r0 < b1;
  R.full = R.r1 - R.r0 == kWarpRows;
  R.first = R.active ? pos[R.r0] : INT_MAX;
  R.last = R.active ? pos[R.r1 - 1] : INT_MIN;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = R.r0 + g + 8 * r;
    R.mine[r] = i < R.r1 ? pos[i] : absent;
  }
  return R;
}

// Max / sum over the 4 lanes of a quad (the lanes holding one row of a C fragment).
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

}  // namespace mor::kernels::cu::tc
