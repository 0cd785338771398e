// Vocabulary-tiled LM head + softmax cross-entropy; see lmhead_xent.h.
#include "lmhead_xent.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "gemm.h"
#include "gemm_bf16.h"
#include "math.h"

namespace mor::kernels {
namespace {

// The driver's three GEMMs. Under train.precision: bf16 (f32 only) the operands of the GEMMs big
// enough to go to bf16 are rounded once and reused -- the weight once per call, h once per block,
// a gradient tile once for both of its GEMMs -- where gemm<float> would round both operands on
// every call (the weight twice per block). With one tile over the whole vocabulary, the rounded
// weight is also reordered once per call into oneDNN's blocked layouts for the logits (w^T) and
// for dh (w), which a plain operand gets from oneDNN on every call. The products are those of
// gemm<float> -- bit for bit, except that oneDNN may sum a blocked weight in another order (tests:
// LmHeadXent::reuse_bf16 = false runs the per-call path).
// Vocabulary columns per tile (LmHeadXent::tile <= 0 or >= V: the whole vocabulary).
template <typename T>
int64_t vocab_tile(const LmHeadXent<T>& p) {
  return p.tile > 0 ? std::min(p.tile, p.V) : p.V;
}

template <typename T>
class Gemms {
 public:
  explicit Gemms(const LmHeadXent<T>& p) : p_(p), whole_vocab_(vocab_tile(p) == p.V) {
    if constexpr (std::is_same_v<T, float>) {
      on_ = p.reuse_bf16 && gemm_precision() == GemmPrecision::BF16;
      if (on_) round_to_bf16(p_.w, p_.V, p_.d, p_.d, w16_);
    }
  }

  // Per block of m rows at h_block, before its GEMMs.
  void start_block(int64_t m, const T* h_block) {
    if constexpr (std::is_same_v<T, float>)
      if (on_) round_to_bf16(h_block, m, p_.d, p_.d, h16_);
  }

  // z_t [m, vt] (row stride ldz) = h [m, d] w_t^T, w_t = rows [t0, t0 + vt) of w.
  void logits(int64_t m, int64_t t0, int64_t vt, const T* h, T* z, int64_t ldz) {
    if constexpr (std::is_same_v<T, float>) {
      if (on_ && bf16_sized(m, vt, p_.d)) {
        if (whole_vocab_)
          blocked(kLogits, m).gemm(false, m, 1.f, h16_.data(), 0.f, z, ldz);
        else
          gemm_bf16_rounded(false, true, m, vt, p_.d, 1.f, h16_.data(), w16_.data() + t0 * p_.d, 0.f, z, ldz);
        return;
      }
    }
    gemm<T>(false, true, m, vt, p_.d, T(1), h, p_.d, p_.w + t0 * p_.d, p_.d, T(0), z, ldz);
  }

  // Before a gradient tile's rows are computed: where its GEMMs will take the rounded tile, the
  // bf16 rows [m, vt] the row loop fills in place of the f32 gradient (Block::grad_row_to_bf16:
  // the f32 rows are never written back to memory, nor read a second time); else nullptr.
  uint16_t* grad_rows(int64_t m, int64_t vt) {
    if (!on_ || !bf16_sized(m, p_.d, vt)) return nullptr;
    g16_.resize(size_t(m * vt));
    return g16_.data();
  }

  // dh [m, d] (+)= g w_t and dw_t [vt, d] (+)= g^T h for the gradient tile g [m, vt] (row stride ldg);
  // in bf16, from the rows grad_rows handed out (filled by the caller's row loop).
  void grads(int64_t m, int64_t t0, int64_t vt, const T* g, int64_t ldg, const T* h, T* dh, T dh_beta, T* dw, T dw_beta) {
    const T* w_t = p_.w + t0 * p_.d;
    if constexpr (std::is_same_v<T, float>) {
      if (on_ && bf16_sized(m, p_.d, vt)) {  // both GEMMs have m * d * vt multiply-adds
        if (dh && whole_vocab_)
          blocked(kDh, m).gemm(false, m, 1.f, g16_.data(), dh_beta, dh, p_.d);
        else if (dh)
          gemm_bf16_rounded(false, false, m, p_.d, vt, 1.f, g16_.data(), w16_.data() + t0 * p_.d, dh_beta, dh, p_.d);
        if (dw) gemm_bf16_rounded(true, false, vt, p_.d, m, 1.f, g16_.data(), h16_.data(), dw_beta, dw, p_.d);
        return;
      }
    }
    if (dh) gemm<T>(false, false, m, p_.d, vt, T(1), g, ldg, w_t, p_.d, dh_beta, dh, p_.d);
    if (dw) gemm<T>(true, false, vt, p_.d, m, T(1), g, ldg, h, p_.d, dw_beta, dw, p_.d);
  }

 private:
  enum Use { kLogits, kDh };
  // The rounded weight in oneDNN's layout for `use` (w^T [d, V] for the logits, w [V, d] for dh),
  // reordered at its first use in this call (one object per thread and use: storage kept).
  Bf16PackedB& blocked(Use use, int64_t m) {
    thread_local Bf16PackedB layouts[2];
    if (!blocked_[use]) {
      const bool logits = use == kLogits;
      layouts[use].pack(logits, logits ? p_.d : p_.V, logits ? p_.V : p_.d, w16_.data(), m);
      blocked_[use] = true;
    }
    return layouts[use];
  }

  // The bf16 buffers outlive the call (one set per thread): allocated per call, the weight's and
  // a block's gradient tile (~90 MB for bench-llama-small) were fresh pages every step, ~22k page
  // faults and their zeroing per step.
  static std::vector<uint16_t>& buffer(int which) {
    thread_local std::vector<uint16_t> buffers[3];
    return buffers[which];
  }

  const LmHeadXent<T>& p_;
  const bool whole_vocab_;
  bool on_ = false, blocked_[2] = {false, false};
  std::vector<uint16_t>& w16_ = buffer(0);  // the weight [V, d]
  std::vector<uint16_t>& h16_ = buffer(1);  // a block's h [m, d]
  std::vector<uint16_t>& g16_ = buffer(2);  // a gradient tile [m, vt]
};

bool parallel_rows(int64_t m, int64_t vt) { return m * vt > 32768; }

// One block of m rows, rows [r0, r0 + m) of the problem.
template <typename T>
class Block {
 public:
  Block(const LmHeadXent<T>& p, Gemms<T>& gemms, int64_t r0, int64_t m)
      : p_(p), gemms_(gemms), m_(m), tile_(vocab_tile(p)), h_(p.h + r0 * p.d), target_(p.target + r0),
        row_max_(p.stats), sum_exp_(p.stats + m), target_logit_(p.stats + 2 * m), r0_(r0) {}

  // Pass 1: this shard's row max, sum of exponentials and target logit; `keep`: the logits stay in
  // p.logits [m, V] for pass 2.
  void stats(bool keep) {
    reset_stats();
    for (int64_t t0 = 0; t0 < p_.V; t0 += tile_) {
      const int64_t vt = std::min(tile_, p_.V - t0), ldz = keep ? p_.V : vt;
      T* z = keep ? p_.logits + t0 : p_.logits;
      gemms_.logits(m_, t0, vt, h_, z, ldz);
#pragma omp parallel for schedule(static) if (parallel_rows(m_, vt))
      for (int64_t i = 0; i < m_; ++i) row_stats(i, t0, vt, z + i * ldz);
    }
  }

  // Pass 2, with the full vocabulary's row max and sum: g = grad_scale (softmax - onehot) tile by
  // tile, dh rows (+)= g w_t, dw_t (+)= g^T h (accumulated over the blocks after the first).
  void grads(bool kept) {
    for (int64_t t0 = 0; t0 < p_.V; t0 += tile_) {
      const int64_t vt = std::min(tile_, p_.V - t0), ldg = kept ? p_.V : vt;
      T* g = kept ? p_.logits + t0 : p_.logits;
      if (!kept) gemms_.logits(m_, t0, vt, h_, g, ldg);
      uint16_t* g16 = gemms_.grad_rows(m_, vt);
#pragma omp parallel for schedule(static) if (parallel_rows(m_, vt))
      for (int64_t i = 0; i < m_; ++i) row_gradient(i, t0, vt, g + i * ldg, g16 ? g16 + i * vt : nullptr);
      tile_gemms(t0, vt, g, ldg);
    }
  }

  // Both passes row by row, for one shard (no statistics to combine) with the block's logits kept
  // in one tile over the vocabulary: each row's statistics, then at once its gradient, while the
  // row [V] is still in cache -- one read of the logits from memory instead of two. The same
  // operations per row as stats(true) then grads(true), so the same bits.
  void stats_and_grads() {
    reset_stats();
    const int64_t V = p_.V;
    T* z = p_.logits;
    gemms_.logits(m_, 0, V, h_, z, V);
    uint16_t* g16 = gemms_.grad_rows(m_, V);
#pragma omp parallel for schedule(static) if (parallel_rows(m_, V))
    for (int64_t i = 0; i < m_; ++i) {
      row_stats(i, 0, V, z + i * V);
      row_gradient(i, 0, V, z + i * V, g16 ? g16 + i * V : nullptr);
    }
    tile_gemms(0, V, z, V);
  }

  // Sum over the block's rows with target >= 0 of max + log(sum) - target logit.
  double loss() const {
    double total = 0;
    for (int64_t i = 0; i < m_; ++i)
      if (target_[i] >= 0) total += double(row_max_[i]) + std::log(double(sum_exp_[i])) - double(target_logit_[i]);
    return total;
  }

 private:
  void reset_stats() {
    std::fill(row_max_, row_max_ + m_, -std::numeric_limits<T>::infinity());
    std::fill(sum_exp_, sum_exp_ + m_, T(0));
    std::fill(target_logit_, target_logit_ + m_, T(0));
  }

  // Folds row i's logits zi [vt] of the tile at t0 into its max, sum of exponentials and target logit.
  void row_stats(int64_t i, int64_t t0, int64_t vt, const T* zi) {
    const T tile_max = max_of(vt, zi);
    if (tile_max > row_max_[i]) {  // online log-sum-exp: rescale the sum to the new max
      sum_exp_[i] *= std::exp(row_max_[i] - tile_max);
      row_max_[i] = tile_max;
    }
    sum_exp_[i] += exp_sum(vt, zi, row_max_[i]);
    const int64_t t = int64_t(target_[i]) - p_.first - t0;
    if (target_[i] >= 0 && t >= 0 && t < vt) target_logit_[i] = zi[t];
  }

  // Row i's gradient over the tile at t0 from its logits gi [vt]: in place, or only rounded into
  // g16 [vt] where the GEMMs take the rounded tile (Gemms::grad_rows).
  void row_gradient(int64_t i, int64_t t0, int64_t vt, T* gi, uint16_t* g16) const {
    if constexpr (std::is_same_v<T, float>) {
      if (g16) {
        grad_row_to_bf16(i, t0, vt, gi, g16);
        return;
      }
    }
    grad_row(i, t0, vt, gi, gi);
  }

  // dh rows (+)= g w_t and dw_t (+)= g^T h for the gradient tile g [m, vt] at t0 (row stride ldg).
  void tile_gemms(int64_t t0, int64_t vt, const T* g, int64_t ldg) {
    gemms_.grads(m_, t0, vt, g, ldg, h_, p_.dh ? p_.dh + r0_ * p_.d : nullptr, t0 == 0 ? T(0) : T(1),
                 p_.dw ? p_.dw + t0 * p_.d : nullptr, r0_ > 0 ? T(1) : T(0));
  }

  // g [vt] = grad_scale (softmax - onehot) of row i's tile at t0 from its logits z (g may be z).
  void grad_row(int64_t i, int64_t t0, int64_t vt, const T* z, T* g) const {
    if (target_[i] < 0) {
      std::fill(g, g + vt, T(0));
      return;
    }
    exp_store(vt, z, row_max_[i], p_.grad_scale / sum_exp_[i], g);  // grad_scale * softmax
    const int64_t t = int64_t(target_[i]) - p_.first - t0;
    if (t >= 0 && t < vt) g[t] -= p_.grad_scale;
  }

  // The same row rounded to bf16 (round_row_to_bf16 of grad_row's, bit for bit) for GEMMs that
  // take only the rounded gradient: through an L1-sized chunk, so the f32 row never goes back to
  // memory.
  void grad_row_to_bf16(int64_t i, int64_t t0, int64_t vt, const T* z, uint16_t* g16) const {
    constexpr int64_t kChunk = 2048;
    alignas(64) T chunk[kChunk];
    for (int64_t c0 = 0; c0 < vt; c0 += kChunk) {
      const int64_t n = std::min(kChunk, vt - c0);
      grad_row(i, t0 + c0, n, z + c0, chunk);
      round_row_to_bf16(chunk, n, g16 + c0);
    }
  }

  const LmHeadXent<T>& p_;
  Gemms<T>& gemms_;
  const int64_t m_, tile_;
  const T* h_;
  const int32_t* target_;
  T *row_max_, *sum_exp_, *target_logit_;
  const int64_t r0_;
};

}  // namespace

int64_t lmhead_block_rows(int64_t n, int64_t vocab, int64_t most) {
  if (most <= 0) most = std::clamp<int64_t>((int64_t(1) << 25) / std::max<int64_t>(vocab, 1), 16, 1024);
  n = std::max<int64_t>(n, 1);
  const int64_t blocks = (n + most - 1) / most;
  return (n + blocks - 1) / blocks;
}

template <typename T>
double lmhead_xent(const LmHeadXent<T>& p) {
  const bool grads = p.grad_scale != T(0) && (p.dh || p.dw);
  const bool keep = grads && p.keep;
  const int64_t rows = p.rows > 0 ? p.rows : lmhead_block_rows(p.n, p.V);
  double total = 0;
  Gemms<T> gemms(p);
  for (int64_t r0 = 0; r0 < p.n; r0 += rows) {
    const int64_t m = std::min(rows, p.n - r0);
    gemms.start_block(m, p.h + r0 * p.d);
    Block<T> b(p, gemms, r0, m);
    if (keep && !p.combine && p.V > 0 && vocab_tile(p) == p.V) {
      b.stats_and_grads();
      total += b.loss();
      continue;
    }
    b.stats(keep);
    if (p.combine) p.combine(m, p.stats);
    total += b.loss();
    if (grads) b.grads(keep);
  }
  return total;
}

template double lmhead_xent<float>(const LmHeadXent<float>&);
template double lmhead_xent<double>(const LmHeadXent<double>&);

}  // namespace mor::kernels
