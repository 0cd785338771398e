// The LM head fused with softmax cross-entropy: loss = sum over rows with target >= 0 of
// logsumexp(z_i) - z_i[target_i], z = h w^T, and (optionally) its gradients for h and w, computed
// in blocks of rows and tiles of the vocabulary, so the logits exist for one block at most
// ([m, V]) or, when recomputed, for one tile ([m, tile]), never for all rows.
//
// Two passes per block of rows, so that a vocabulary split across ranks (tensor parallelism) can
// combine the row statistics between them:
//   1. tile by tile z_t = h w_t^T, then each row's running max and sum of exponentials (online:
//      rescaled when the max grows) and its target logit;
//   2. with each row's full-vocabulary max and sum, tile by tile g_t = grad_scale (softmax - onehot)
//      in place of the logits (kept from pass 1, or recomputed by the same GEMM, bit-identical) --
//      or, where the GEMMs take the bf16-rounded gradient, only into that rounded copy, the buffer
//      keeping the logits -- then dh += g_t w_t [m, d] and dw_t (+)= g_t^T h [tile, d].
// Kept logits: 3 GEMMs of n V d in all and an [m, V] buffer; recomputed: 4 GEMMs and [m, tile].
// With one shard (no combine hook) and the logits kept in one tile over the vocabulary (the
// trainer's case), the two passes run row by row -- a row's statistics, then its gradient while the
// row is in cache -- with the same operations per row, so the same bits.
// kernels/lab/lmhead_lab.cpp measures the variants (README "Kernel lab"); the trainer keeps them.
//
// GEMMs go through kernels::gemm (our GEMM or BLAS, or bf16 under train.precision: bf16, with the
// rounded weight reused across blocks and, with one tile over the vocabulary, reordered once per
// call into oneDNN's blocked layouts, which may sum in another order than the plain ones); the row
// work is OpenMP-parallel over rows, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace mor::kernels {

// Rows per block for n rows over a vocabulary of `vocab` (the full one under tensor parallelism,
// so that every member cuts alike): blocks of equal size, each at most `most` rows (0: as many as
// keep a block's logits within 2^25 values -- 128 MB in f32 --, between 16 and 1024). The bound
// was picked with kernels/lab/lmhead_lab (README "Kernel lab").
int64_t lmhead_block_rows(int64_t n, int64_t vocab, int64_t most = 0);

template <typename T>
struct LmHeadXent {
  // Problem. h [n, d]; w [V, d]: this shard's rows of the head, full-vocabulary ids [first, first + V);
  // target [n]: full-vocabulary ids (< 0: ignored row, loss 0, gradient 0).
  int64_t n = 0, V = 0, d = 0, first = 0;
  const T* h = nullptr;
  const T* w = nullptr;
  const int32_t* target = nullptr;
  // Cutting: rows per block (<= 0: lmhead_block_rows(n, V)), vocabulary columns per tile (<= 0 or >= V: one
  // tile), keep the block's logits between the passes (else recompute them tile by tile).
  int64_t rows = 0, tile = 0;
  bool keep = true;
  // Under train.precision: bf16, round the weight once per call and each block's h and gradient
  // tile once for all their GEMMs (false: every GEMM rounds its own operands; same result, for tests).
  bool reuse_bf16 = true;
  // Buffers: logits [rows, V] when keeping (and gradients wanted), else [rows, min(tile, V)];
  // stats [3 rows].
  T* logits = nullptr;
  T* stats = nullptr;
  // Gradients of grad_scale * loss: dh [n, d] and dw [V, d] are written when non-null (and
  // grad_scale != 0; no second pass otherwise).
  T grad_scale = 0;
  T* dh = nullptr;
  T* dw = nullptr;
  // Called per block between the passes with the block's m rows' statistics, stats[0, m) row max,
  // [m, 2m) sum of exponentials relative to it, [2m, 3m) target logit (0 where this shard does not
  // hold the target): turns this shard's into the full vocabulary's (empty: one shard).
  std::function<void(int64_t m, T* stats)> combine;
};

// Returns the loss summed over the rows with target >= 0 (not divided by anything).
template <typename T>
double lmhead_xent(const LmHeadXent<T>& p);

}  // namespace mor::kernels
