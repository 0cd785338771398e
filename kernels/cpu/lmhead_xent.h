// The LM head fused with softmax cross-entropy, tiled over the vocabulary: the logits z = h w^T
// of a block of rows exist only one vocabulary tile [m, tile] at a time (a buffer that stays in
// cache), never as the block's [m, V] (unless the caller asks to keep them).
//
// Two passes per block of rows, so that a vocabulary split across ranks (tensor parallelism) can
// combine the row statistics between them:
//   1. lmhead_xent_stats: tile by tile z_t = h w_t^T, then each row's running max and sum of
//      exponentials (online: rescaled when the max grows) and its target logit.
//   2. lmhead_xent_grads: with each row's full-vocabulary max and sum, tile by tile the same z_t
//      again (recomputed by the same GEMM, so bit-identical), g_t = grad_scale (softmax - onehot),
//      dh += g_t w_t [m, d] and dw_t (+)= g_t^T h [tile, d].
// Either recomputes the tile logits (4 GEMMs of m V d in all, working set [m, tile]) or, with
// `keep` non-null, pass 1 writes them into keep [m, V] and pass 2 reads them (3 GEMMs, [m, V]
// buffer); kernels/lab/lmhead_lab.cpp measures which wins where.
//
// Shapes: h [m, d], w [V, d] (this shard's rows: full-vocabulary ids [first, first + V)),
// target [m] full-vocabulary ids (< 0: ignored row), tile_buf [m, tile] scratch (unused with
// keep), dh [m, d], dw [V, d]. GEMMs go through kernels::gemm (BLAS threads, or bf16 under
// train.precision: bf16); the row work is OpenMP-parallel over rows, so results do not depend on
// the thread count.
#pragma once
#include <cstdint>

namespace mor::kernels {

// Rows per block for n rows over a vocabulary of `vocab` (the full one under tensor parallelism,
// so that every member cuts alike): blocks of equal size, each at most `most` rows (0: as many as
// keep a block's logits within 2^25 values -- 128 MB in f32 --, between 16 and 1024). The bound
// was picked with kernels/lab/lmhead_lab (README "Kernel lab").
int64_t lmhead_block_rows(int64_t n, int64_t vocab, int64_t most = 0);

// Pass 1. row_max[i] = max_j z_ij, sum_exp[i] = sum_j exp(z_ij - row_max[i]) over this shard's
// columns; target_logit[i] = z[i, target[i] - first] when this shard holds the target, else 0.
template <typename T>
void lmhead_xent_stats(int64_t m, int64_t V, int64_t d, const T* h, const T* w, const int32_t* target, int64_t first,
                       int64_t tile, T* tile_buf, T* keep, T* row_max, T* sum_exp, T* target_logit);

// Pass 2. row_max, sum_exp [m]: each row's over the full vocabulary (pass 1's, combined across the
// shards), so g = grad_scale * (exp(z - row_max) / sum_exp - onehot). dh: written (accumulate:
// added to) with g w; dw: written (accumulate: added to) with g^T h. Either may be null (not
// wanted). keep: the logits pass 1 kept (overwritten with g), or null to recompute.
template <typename T>
void lmhead_xent_grads(int64_t m, int64_t V, int64_t d, const T* h, const T* w, const int32_t* target, int64_t first,
                       int64_t tile, T* tile_buf, T* keep, const T* row_max, const T* sum_exp, T grad_scale, T* dh,
                       bool dh_accumulate, T* dw, bool dw_accumulate);

}  // namespace mor::kernels
