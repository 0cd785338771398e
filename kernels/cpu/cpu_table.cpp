// The CPU kernel table (kernels/kernel_table.h): the kernels of kernels/cpu/*.h behind the table's
// (stream, raw pointers, sizes) signatures, plus the few small kernels only the table needs
// (scalar outputs, routing state). The stream is ignored: CPU kernels run synchronously. The
// same table serves the test device (src/core/device.h).
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/rows.h"
#include "kernels/cpu/select.h"
#include "kernels/kernel_table.h"
#include "kernels/token_depth_rule.h"

namespace mor::kernels {
namespace {

// The vocabulary shard's rows: positions i whose id lies in [first, first + rows), and the row.
void shard_rows(int64_t n, const int32_t* ids, int64_t first, int64_t rows, std::vector<int32_t>& pos,
                std::vector<int32_t>& local) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] >= first && ids[i] < first + rows) pos.push_back(int32_t(i)), local.push_back(int32_t(ids[i] - first));
}

template <typename T>
void embedding_shard_fwd(Stream, int64_t n, int64_t d, const T* table, const int32_t* ids, int64_t first, int64_t rows,
                         T* y) {
  std::vector<int32_t> pos, local;
  shard_rows(n, ids, first, rows, pos, local);
  const int64_t m = int64_t(pos.size());
  std::vector<T> picked(size_t(m * d));
  for (int64_t i = 0; i < n * d; ++i) y[i] = T(0);
  gather_rows<T>(m, d, table, local.data(), picked.data());
  scatter_rows<T>(m, d, picked.data(), pos.data(), y);
}

template <typename T>
void embedding_shard_bwd(Stream, int64_t n, int64_t d, const T* dy, const int32_t* ids, int64_t first, int64_t rows,
                         T* dtable) {
  std::vector<int32_t> pos, local;
  shard_rows(n, ids, first, rows, pos, local);
  const int64_t m = int64_t(pos.size());
  std::vector<T> picked(size_t(m * d));
  gather_rows<T>(m, d, dy, pos.data(), picked.data());
  scatter_add_rows<T>(m, d, picked.data(), local.data(), dtable);
}

template <typename T>
void gemm_entry(Stream, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  // A few rows times a wide matrix (decoding): the small-M kernel, which does not pack B.
  if constexpr (std::is_same_v<T, float>) {
    if (!ta && tb && M <= kGemvMaxRows && alpha == 1.0f && beta == 0.0f && gemm_precision() == GemmPrecision::F32) {
      gemv_rows(M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
      return;
    }
  }
  gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void axpy_scalar_entry(Stream, int64_t n, const T* c, double mul, const T* x, T* y, bool accumulate) {
  axpy<T>(n, T(double(c[0]) * mul), x, y, accumulate);
}

template <typename T>
void sum_all_entry(Stream, int64_t n, const T* x, T* out) {
  out[0] = T(scalar_sum(n, [x](int64_t i) { return x[i]; }));
}

template <typename T>
void fill_scalar_entry(Stream, int64_t n, const T* c, T* y, bool accumulate) {
  const T v = c[0];
  if (accumulate)
    for (int64_t i = 0; i < n; ++i) y[i] += v;
  else
    for (int64_t i = 0; i < n; ++i) y[i] = v;
}

template <typename T>
void softmax_xent_entry(Stream, int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale, T* row_loss,
                        double norm, T* loss_out) {
  loss_out[0] = T(softmax_xent_rows<T>(n, V, logits, target, grad_scale, row_loss) / norm);
}

template <typename T>
void lmhead_xent_entry(Stream, const LmHeadXent<T>& p, double norm, T* loss_out) {
  loss_out[0] = T(lmhead_xent<T>(p) / norm);
}

template <typename T>
void rescale_sum_exp_entry(Stream, int64_t n, const T* local_max, const T* global_max, T* se) {
  for (int64_t i = 0; i < n; ++i) se[i] *= T(std::exp(double(local_max[i]) - double(global_max[i])));
}

template <typename T>
void bce_forward_entry(Stream, int64_t n, const T* x, const T* target, double norm, T* loss_out) {
  loss_out[0] = T(bce_with_logits_sum<T>(n, x, target) / norm);
}

template <typename T>
void bce_backward_entry(Stream, int64_t n, const T* x, const T* target, const T* dy, double norm, T* dx,
                        bool accumulate) {
  bce_with_logits_backward<T>(n, x, target, T(double(dy[0]) / norm), dx, accumulate);
}

template <typename T>
void token_depth_entry(Stream, int64_t n, int64_t nr, const T* p, const T* bias, bool all_deepest, int32_t* depth,
                       int32_t* gate_index) {
  for (int64_t t = 0; t < n; ++t) {
    depth[t] = token_depth_of(p + t * nr, bias, nr, all_deepest);
    gate_index[t] = int32_t(t * nr + depth[t]);
  }
}

template <typename T>
void set_rows_one_entry(Stream, int64_t m, const int32_t* idx, T* y) {
  for (int64_t i = 0; i < m; ++i) y[idx[i]] = T(1);
}

template <typename T>
FloatKernels<T> float_kernels() {
  FloatKernels<T> k;
  k.gather_rows = [](Stream, int64_t n, int64_t d, const T* t, const int32_t* ids, T* o) { gather_rows<T>(n, d, t, ids, o); };
  k.scatter_add_rows = [](Stream, int64_t n, int64_t d, const T* g, const int32_t* ids, T* t) {
    scatter_add_rows<T>(n, d, g, ids, t);
  };
  k.scatter_rows = [](Stream, int64_t n, int64_t d, const T* s, const int32_t* ids, T* t) { scatter_rows<T>(n, d, s, ids, t); };
  k.zero_rows = [](Stream, int64_t n, int64_t d, const int32_t* ids, T* x) { zero_rows<T>(n, d, ids, x); };
  k.embedding_shard_forward = embedding_shard_fwd<T>;
  k.embedding_shard_backward = embedding_shard_bwd<T>;
  k.gemm = gemm_entry<T>;
  k.rmsnorm_forward = [](Stream, int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd) {
    rmsnorm_forward<T>(n, d, x, w, eps, y, rstd);
  };
  k.rmsnorm_backward = [](Stream, int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                          bool ax, T* dw, bool aw) { rmsnorm_backward<T>(n, d, x, w, rstd, dy, dx, ax, dw, aw); };
  k.rope_apply = [](Stream, int64_t n, int64_t h, int64_t nrot, int64_t D, const T* x, const int32_t* pos, double theta,
                    bool inv, T* y, bool acc) { rope_apply<T>(n, h, nrot, D, x, pos, theta, inv, y, acc); };
  k.swiglu_forward = [](Stream, int64_t n, int64_t f, const T* gu, T* y) { swiglu_forward<T>(n, f, gu, y); };
  k.swiglu_backward = [](Stream, int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool acc) {
    swiglu_backward<T>(n, f, gu, dy, dgu, acc);
  };
  k.sigmoid_forward = [](Stream, int64_t n, const T* x, T* y) { sigmoid_forward<T>(n, x, y); };
  k.sigmoid_backward = [](Stream, int64_t n, const T* y, const T* dy, T* dx, bool acc) { sigmoid_backward<T>(n, y, dy, dx, acc); };
  k.tanh_forward = [](Stream, int64_t n, const T* x, T* y) { tanh_forward<T>(n, x, y); };
  k.tanh_backward = [](Stream, int64_t n, const T* y, const T* dy, T* dx, bool acc) { tanh_backward<T>(n, y, dy, dx, acc); };
  k.gelu_forward = [](Stream, int64_t n, const T* x, T* y) { gelu_forward<T>(n, x, y); };
  k.gelu_backward = [](Stream, int64_t n, const T* x, const T* dy, T* dx, bool acc) { gelu_backward<T>(n, x, dy, dx, acc); };
  k.softmax_forward = [](Stream, int64_t n, int64_t c, const T* x, T* y) { softmax_forward<T>(n, c, x, y); };
  k.softmax_backward = [](Stream, int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool acc) {
    softmax_backward<T>(n, c, y, dy, dx, acc);
  };
  k.logsumexp_forward = [](Stream, int64_t n, int64_t c, const T* x, T* y) { logsumexp_forward<T>(n, c, x, y); };
  k.logsumexp_backward = [](Stream, int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx, bool acc) {
    logsumexp_backward<T>(n, c, x, y, dy, dx, acc);
  };
  k.axpy = [](Stream, int64_t n, T a, const T* x, T* y, bool acc) { axpy<T>(n, a, x, y, acc); };
  k.axpy_scalar = axpy_scalar_entry<T>;
  k.add = [](Stream, int64_t n, const T* x, const T* y, T* z) { add<T>(n, x, y, z); };
  k.mul = [](Stream, int64_t n, const T* x, const T* y, T* z, bool acc) { mul<T>(n, x, y, z, acc); };
  k.scale_rows = [](Stream, int64_t n, int64_t d, const T* x, const T* s, T* y, bool acc) {
    scale_rows<T>(n, d, x, s, y, acc);
  };
  k.row_dots = [](Stream, int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool acc) {
    row_dots<T>(n, d, dy, x, ds, acc);
  };
  k.sum_all = sum_all_entry<T>;
  k.fill_scalar = fill_scalar_entry<T>;
  k.attention_forward = [](Stream, const AttentionLayout& L, T scale, const T* q, const T* kk, const T* v, T* out,
                           T* lse) { attention_forward<T>(L, scale, q, kk, v, out, lse); };
  k.attention_backward = [](Stream, const AttentionLayout& L, T scale, const T* q, const T* kk, const T* v,
                            const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
    attention_backward<T>(L, scale, q, kk, v, out, lse, dout, dq, dk, dv);
  };
  k.attention_forward_paged = [](Stream, const PagedAttentionLayout& L, T scale, const T* q, const T* kk, const T* v,
                                 T* out, T* lse) { attention_forward_paged<T>(L, scale, q, kk, v, out, lse); };
  k.softmax_xent = softmax_xent_entry<T>;
  k.lmhead_xent = lmhead_xent_entry<T>;
  k.rescale_sum_exp = rescale_sum_exp_entry<T>;
  k.bce_with_logits_forward = bce_forward_entry<T>;
  k.bce_with_logits_backward = bce_backward_entry<T>;
  k.topk_per_sequence = [](Stream, int64_t S, const int64_t* off, const T* scores, const int64_t* kk, int32_t* out) {
    topk_per_sequence<T>(S, off, scores, kk, out);
  };
  k.token_depth = token_depth_entry<T>;
  k.set_rows_one = set_rows_one_entry<T>;
  return k;
}

void depth_counts_entry(Stream, int64_t S, const int64_t* off, int64_t nr, const int32_t* depth, int64_t* counts) {
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t j = 0; j < nr; ++j) counts[s * nr + j] = 0;
    for (int64_t i = off[s]; i < off[s + 1]; ++i) ++counts[s * nr + depth[i]];
  }
}

void split_by_depth_entry(Stream, int64_t n, const int32_t* depth, int32_t r, int32_t* exits, int32_t* stays) {
  int64_t e = 0, s = 0;
  for (int64_t i = 0; i < n; ++i) (depth[i] == r ? exits[e++] : stays[s++]) = int32_t(i);
}

KernelTable make_cpu_table() {
  KernelTable t;
  t.device = "cpu";
  t.f32 = float_kernels<float>();
  t.f64 = float_kernels<double>();
  t.gather_i32 = [](Stream, int64_t n, const int32_t* table, const int32_t* idx, int32_t* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = table[idx[i]];
  };
  t.scatter_i32 = [](Stream, int64_t n, const int32_t* src, const int32_t* idx, int32_t* out) {
    for (int64_t i = 0; i < n; ++i) out[idx[i]] = src[i];
  };
  t.iota_i32 = [](Stream, int64_t n, int32_t* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = int32_t(i);
  };
  t.depth_counts = depth_counts_entry;
  t.split_by_depth = split_by_depth_entry;
  t.adamw_update = [](Stream, int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a) {
    adamw_update(n, p, g, m, v, a);
  };
  t.sum_squares = [](Stream, int64_t n, const float* x) { return sum_squares(n, x); };
  return t;
}

}  // namespace

const KernelTable& cpu_kernel_table() {
  static const KernelTable table = make_cpu_table();
  return table;
}

}  // namespace mor::kernels
