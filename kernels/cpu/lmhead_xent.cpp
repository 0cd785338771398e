// Vocabulary-tiled LM head + softmax cross-entropy; see lmhead_xent.h.
#include "lmhead_xent.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gemm.h"
#include "math.h"

namespace mor::kernels {
namespace {

// z_t [m, vt] (row stride ldz) = h [m, d] w_t^T, w_t = rows [t0, t0 + vt) of w.
template <typename T>
void tile_logits(int64_t m, int64_t vt, int64_t d, const T* h, const T* w_t, T* z, int64_t ldz) {
  gemm<T>(false, true, m, vt, d, T(1), h, d, w_t, d, T(0), z, ldz);
}

bool parallel_rows(int64_t m, int64_t vt) { return m * vt > 32768; }

}  // namespace

int64_t lmhead_block_rows(int64_t n, int64_t vocab, int64_t most) {
  if (most <= 0) most = std::clamp<int64_t>((int64_t(1) << 25) / std::max<int64_t>(vocab, 1), 16, 1024);
  n = std::max<int64_t>(n, 1);
  const int64_t blocks = (n + most - 1) / most;
  return (n + blocks - 1) / blocks;
}

template <typename T>
void lmhead_xent_stats(int64_t m, int64_t V, int64_t d, const T* h, const T* w, const int32_t* target, int64_t first,
                       int64_t tile, T* tile_buf, T* keep, T* row_max, T* sum_exp, T* target_logit) {
  std::fill(row_max, row_max + m, -std::numeric_limits<T>::infinity());
  std::fill(sum_exp, sum_exp + m, T(0));
  std::fill(target_logit, target_logit + m, T(0));
  for (int64_t t0 = 0; t0 < V; t0 += tile) {
    const int64_t vt = std::min(tile, V - t0);
    T* z = keep ? keep + t0 : tile_buf;
    const int64_t ldz = keep ? V : vt;
    tile_logits(m, vt, d, h, w + t0 * d, z, ldz);
#pragma omp parallel for schedule(static) if (parallel_rows(m, vt))
    for (int64_t i = 0; i < m; ++i) {
      const T* zi = z + i * ldz;
      const T tile_max = max_of(vt, zi);
      if (tile_max > row_max[i]) {  // online log-sum-exp: rescale the sum to the new max
        sum_exp[i] *= std::exp(row_max[i] - tile_max);
        row_max[i] = tile_max;
      }
      sum_exp[i] += exp_sum(vt, zi, row_max[i]);
      const int64_t t = int64_t(target[i]) - first - t0;
      if (target[i] >= 0 && t >= 0 && t < vt) target_logit[i] = zi[t];
    }
  }
}

template <typename T>
void lmhead_xent_grads(int64_t m, int64_t V, int64_t d, const T* h, const T* w, const int32_t* target, int64_t first,
                       int64_t tile, T* tile_buf, T* keep, const T* row_max, const T* sum_exp, T grad_scale, T* dh,
                       bool dh_accumulate, T* dw, bool dw_accumulate) {
  for (int64_t t0 = 0; t0 < V; t0 += tile) {
    const int64_t vt = std::min(tile, V - t0);
    T* g = keep ? keep + t0 : tile_buf;
    const int64_t ldg = keep ? V : vt;
    if (!keep) tile_logits(m, vt, d, h, w + t0 * d, g, ldg);
#pragma omp parallel for schedule(static) if (parallel_rows(m, vt))
    for (int64_t i = 0; i < m; ++i) {
      T* gi = g + i * ldg;
      if (target[i] < 0) {
        std::fill(gi, gi + vt, T(0));
        continue;
      }
      exp_store(vt, gi, row_max[i], grad_scale / sum_exp[i], gi);  // grad_scale * softmax
      const int64_t t = int64_t(target[i]) - first - t0;
      if (t >= 0 && t < vt) gi[t] -= grad_scale;
    }
    if (dh) gemm<T>(false, false, m, d, vt, T(1), g, ldg, w + t0 * d, d, (t0 == 0 && !dh_accumulate) ? T(0) : T(1), dh, d);
    if (dw) gemm<T>(true, false, vt, d, m, T(1), g, ldg, h, d, dw_accumulate ? T(1) : T(0), dw + t0 * d, d);
  }
}

#define MOR_LMHEAD_XENT(T)                                                                                          \
  template void lmhead_xent_stats<T>(int64_t, int64_t, int64_t, const T*, const T*, const int32_t*, int64_t, int64_t, \
                                     T*, T*, T*, T*, T*);                                                           \
  template void lmhead_xent_grads<T>(int64_t, int64_t, int64_t, const T*, const T*, const int32_t*, int64_t, int64_t, \
                                     T*, T*, const T*, const T*, T, T*, bool, T*, bool);
MOR_LMHEAD_XENT(float)
MOR_LMHEAD_XENT(double)

}  // namespace mor::kernels
