// The per-device kernel table: every kernel an autodiff op, a router or the optimizer calls, as a
// plain function pointer on raw pointers, sizes and a stream. One table per device kind:
//   kernels/cpu/cpu_table.cpp    the CPU kernels (also behind the "test" device, src/core/device.h)
//   kernels/cuda/cuda_table.cu   the CUDA kernels (built with nvcc)
// An entry left null means "this device has no such kernel"; the op that needs it fails with the
// op's and the kernel's name (src/autodiff/kernel_dispatch.h). No framework type appears here.
//
// Pointer arguments live on the table's device, except where an entry says "host". Every kernel is
// asynchronous on `stream` unless its comment says it synchronises (it then returns a host value).
// Index arguments (ids, rows) have been validated by their producer (the data layer, or a
// selection kernel): kernels do not check them.
#pragma once
#include <cstdint>
#include <functional>

#include "kernels/cpu/attention.h"        // AttentionLayout (plain pointers + sizes)
#include "kernels/cpu/attention_paged.h"  // PagedAttentionLayout
#include "kernels/cpu/lmhead_xent.h"      // LmHeadXent
#include "kernels/cpu/optim.h"            // AdamWArgs

namespace mor::kernels {

using Stream = void*;  // cudaStream_t on CUDA, nullptr on the CPU

// The kernels of one floating-point element type T (float, double).
template <typename T>
struct FloatKernels {
  // ---- rows (ids i32) ----
  void (*gather_rows)(Stream, int64_t n, int64_t d, const T* table, const int32_t* ids, T* out) = nullptr;
  // dtable[ids[i]] += dout[i] (ids may repeat)
  void (*scatter_add_rows)(Stream, int64_t n, int64_t d, const T* dout, const int32_t* ids, T* dtable) = nullptr;
  // dst[ids[i]] = src[i]; ids are distinct (with repeats the CUDA kernel keeps an arbitrary one)
  void (*scatter_rows)(Stream, int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst) = nullptr;
  void (*zero_rows)(Stream, int64_t n, int64_t d, const int32_t* ids, T* x) = nullptr;
  // One vocabulary shard [first, first + rows) of an embedding: y[i] = table[ids[i] - first] when
  // the id lies in the shard, else 0; backward dtable[ids[i] - first] += dy[i] for those rows.
  void (*embedding_shard_forward)(Stream, int64_t n, int64_t d, const T* table, const int32_t* ids, int64_t first,
                                  int64_t rows, T* y) = nullptr;
  void (*embedding_shard_backward)(Stream, int64_t n, int64_t d, const T* dy, const int32_t* ids, int64_t first,
                                   int64_t rows, T* dtable) = nullptr;

  // ---- dense ----
  // C = alpha op(A) op(B) + beta C, row-major (op = transpose when the flag is set).
  void (*gemm)(Stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) = nullptr;
  void (*rmsnorm_forward)(Stream, int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd) = nullptr;
  void (*rmsnorm_backward)(Stream, int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                           bool dx_accumulate, T* dw, bool dw_accumulate) = nullptr;
  void (*rope_apply)(Stream, int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x, const int32_t* pos,
                     double theta, bool inverse, T* y, bool accumulate) = nullptr;

  // ---- activations (accumulate: dx += instead of dx =) ----
  void (*swiglu_forward)(Stream, int64_t n, int64_t f, const T* gu, T* y) = nullptr;
  void (*swiglu_backward)(Stream, int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool accumulate) = nullptr;
  void (*sigmoid_forward)(Stream, int64_t n, const T* x, T* y) = nullptr;
  void (*sigmoid_backward)(Stream, int64_t n, const T* y, const T* dy, T* dx, bool accumulate) = nullptr;
  void (*tanh_forward)(Stream, int64_t n, const T* x, T* y) = nullptr;
  void (*tanh_backward)(Stream, int64_t n, const T* y, const T* dy, T* dx, bool accumulate) = nullptr;
  void (*gelu_forward)(Stream, int64_t n, const T* x, T* y) = nullptr;
  void (*gelu_backward)(Stream, int64_t n, const T* x, const T* dy, T* dx, bool accumulate) = nullptr;
  void (*softmax_forward)(Stream, int64_t n, int64_t c, const T* x, T* y) = nullptr;
  void (*softmax_backward)(Stream, int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool accumulate) = nullptr;
  void (*logsumexp_forward)(Stream, int64_t n, int64_t c, const T* x, T* y) = nullptr;
  void (*logsumexp_backward)(Stream, int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx,
                             bool accumulate) = nullptr;

  // ---- elementwise and reductions ----
  void (*axpy)(Stream, int64_t n, T a, const T* x, T* y, bool accumulate) = nullptr;  // y (+)= a x
  // y (+)= (c[0] * mul) x, with the scalar c[0] read on the device (a loss's incoming gradient):
  // computed as T(double(c[0]) * mul).
  void (*axpy_scalar)(Stream, int64_t n, const T* c, double mul, const T* x, T* y, bool accumulate) = nullptr;
  void (*add)(Stream, int64_t n, const T* x, const T* y, T* z) = nullptr;
  void (*mul)(Stream, int64_t n, const T* x, const T* y, T* z, bool accumulate) = nullptr;
  void (*scale_rows)(Stream, int64_t n, int64_t d, const T* x, const T* s, T* y, bool accumulate) = nullptr;
  void (*row_dots)(Stream, int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool accumulate) = nullptr;
  // out[0] = sum of x (accumulated in double, deterministic)
  void (*sum_all)(Stream, int64_t n, const T* x, T* out) = nullptr;
  // y (+)= c[0] for all n elements (c on the device)
  void (*fill_scalar)(Stream, int64_t n, const T* c, T* y, bool accumulate) = nullptr;

  // ---- attention (layout pointers on the device) ----
  void (*attention_forward)(Stream, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                            T* lse) = nullptr;
  void (*attention_backward)(Stream, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                             const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) = nullptr;
  void (*attention_forward_paged)(Stream, const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                                  T* out, T* lse) = nullptr;

  // ---- losses (scalar outputs on the device) ----
  // Softmax cross-entropy per row; logits becomes grad_scale * (softmax - onehot) (grad_scale 0:
  // untouched apart from scratch use); loss_out[0] = T(sum of row losses / norm).
  void (*softmax_xent)(Stream, int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale, T* row_loss,
                       double norm, T* loss_out) = nullptr;
  // The fused LM head + cross-entropy (lmhead_xent.h; p.combine runs on the host between its passes);
  // loss_out[0] = T(loss / norm).
  void (*lmhead_xent)(Stream, const LmHeadXent<T>& p, double norm, T* loss_out) = nullptr;
  // Vocabulary-parallel statistics: se[i] *= exp(local_max[i] - global_max[i]).
  void (*rescale_sum_exp)(Stream, int64_t n, const T* local_max, const T* global_max, T* se) = nullptr;
  // loss_out[0] = T(sum_i BCEWithLogits(x_i, t_i) / norm)
  void (*bce_with_logits_forward)(Stream, int64_t n, const T* x, const T* target, double norm, T* loss_out) = nullptr;
  // dx (+)= T(double(dy[0]) / norm) * (sigmoid(x) - t)
  void (*bce_with_logits_backward)(Stream, int64_t n, const T* x, const T* target, const T* dy, double norm, T* dx,
                                   bool accumulate) = nullptr;

  // ---- routing (no gradient) ----
  // Per sequence s (rows [off[s], off[s+1])) the k[s] highest scores (ties: lower row first), their
  // global rows ascending into out at the prefix sum of k. off, k on the device.
  void (*topk_per_sequence)(Stream, int64_t n_seq, const int64_t* off, const T* scores, const int64_t* k,
                            int32_t* out) = nullptr;
  // Token-choice depth: depth[t] = argmax_j (p[t, j] + bias[j]) (first maximum; bias may be null),
  // or nr - 1 for every row when all_deepest; gate_index[t] = t * nr + depth[t].
  void (*token_depth)(Stream, int64_t n, int64_t nr, const T* p, const T* bias, bool all_deepest, int32_t* depth,
                      int32_t* gate_index) = nullptr;
  // y[i] = 1 at the rows idx (the auxiliary BCE target); other elements untouched.
  void (*set_rows_one)(Stream, int64_t m, const int32_t* idx, T* y) = nullptr;
};

// The kernels of one device.
struct KernelTable {
  const char* device = "";  // "cpu", "cuda"
  FloatKernels<float> f32;
  FloatKernels<double> f64;

  // ---- integers (routing state) ----
  void (*gather_i32)(Stream, int64_t n, const int32_t* table, const int32_t* idx, int32_t* out) = nullptr;
  void (*iota_i32)(Stream, int64_t n, int32_t* out) = nullptr;  // out[i] = i
  // out[idx[i]] = src[i] (idx distinct): the KV pool's positions (src/engine/kv_cache.cpp).
  void (*scatter_i32)(Stream, int64_t n, const int32_t* src, const int32_t* idx, int32_t* out) = nullptr;
  // counts[s * nr + j] = rows of sequence s (rows [off[s], off[s+1])) with depth j; i64 [S, nr].
  void (*depth_counts)(Stream, int64_t n_seq, const int64_t* off, int64_t nr, const int32_t* depth,
                       int64_t* counts) = nullptr;
  // Stable split of the rows 0..n-1 by depth[i] == r: exits (n_exit rows) and stays (n - n_exit),
  // both ascending; the caller knows n_exit from depth_counts.
  void (*split_by_depth)(Stream, int64_t n, const int32_t* depth, int32_t r, int32_t* exits,
                         int32_t* stays) = nullptr;

  // ---- optimizer (fp32 master weights) ----
  void (*adamw_update)(Stream, int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a) = nullptr;
  // Sum of squares in double; synchronises and returns it on the host.
  double (*sum_squares)(Stream, int64_t n, const float* x) = nullptr;

  template <typename T>
  const FloatKernels<T>& of() const;
};

template <>
inline const FloatKernels<float>& KernelTable::of<float>() const { return f32; }
template <>
inline const FloatKernels<double>& KernelTable::of<double>() const { return f64; }

// The CPU kernels' table (kernels/cpu/cpu_table.cpp).
const KernelTable& cpu_kernel_table();

}  // namespace mor::kernels
