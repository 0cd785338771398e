// The CUDA kernels' entry points, one declaration per kernel-table entry (kernels/kernel_table.h
// says what each does; the signatures are the table's). Defined in the .cu file of their concern
// (rows.cu, norm.cu, ...) and instantiated there for float and double; cuda_table.cu fills the
// table from them. Host-callable C++; no CUDA types appear here.
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"

namespace mor::kernels::cu {

// rows.cu
template <typename T> void gather_rows(Stream, int64_t n, int64_t d, const T* table, const int32_t* ids, T* out);
template <typename T> void scatter_add_rows(Stream, int64_t n, int64_t d, const T* dout, const int32_t* ids, T* dtable);
template <typename T> void scatter_rows(Stream, int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst);
template <typename T> void zero_rows(Stream, int64_t n, int64_t d, const int32_t* ids, T* x);
template <typename T>
void embedding_shard_forward(Stream, int64_t n, int64_t d, const T* table, const int32_t* ids, int64_t first,
                             int64_t rows, T* y);
template <typename T>
void embedding_shard_backward(Stream, int64_t n, int64_t d, const T* dy, const int32_t* ids, int64_t first,
                              int64_t rows, T* dtable);

// gemm.cu
template <typename T>
void gemm(Stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// norm.cu
template <typename T>
void rmsnorm_forward(Stream, int64_t n, int64_t d, const T* x, const T* w, T eps, T* y, T* rstd);
template <typename T>
void rmsnorm_backward(Stream, int64_t n, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                      bool dx_accumulate, T* dw, bool dw_accumulate);

// rope.cu
template <typename T>
void rope_apply(Stream, int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x, const int32_t* pos,
                double theta, bool inverse, T* y, bool accumulate);

// activation.cu
template <typename T> void swiglu_forward(Stream, int64_t n, int64_t f, const T* gu, T* y);
template <typename T> void swiglu_backward(Stream, int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool acc);
template <typename T> void sigmoid_forward(Stream, int64_t n, const T* x, T* y);
template <typename T> void sigmoid_backward(Stream, int64_t n, const T* y, const T* dy, T* dx, bool acc);
template <typename T> void tanh_forward(Stream, int64_t n, const T* x, T* y);
template <typename T> void tanh_backward(Stream, int64_t n, const T* y, const T* dy, T* dx, bool acc);
template <typename T> void gelu_forward(Stream, int64_t n, const T* x, T* y);
template <typename T> void gelu_backward(Stream, int64_t n, const T* x, const T* dy, T* dx, bool acc);
template <typename T> void softmax_forward(Stream, int64_t n, int64_t c, const T* x, T* y);
template <typename T> void softmax_backward(Stream, int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool acc);
template <typename T> void logsumexp_forward(Stream, int64_t n, int64_t c, const T* x, T* y);
template <typename T>
void logsumexp_backward(Stream, int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx, bool acc);

// elementwise.cu
template <typename T> void axpy(Stream, int64_t n, T a, const T* x, T* y, bool acc);
template <typename T> void axpy_scalar(Stream, int64_t n, const T* c, double mul, const T* x, T* y, bool acc);
template <typename T> void add(Stream, int64_t n, const T* x, const T* y, T* z);
template <typename T> void mul(Stream, int64_t n, const T* x, const T* y, T* z, bool acc);
template <typename T> void scale_rows(Stream, int64_t n, int64_t d, const T* x, const T* s, T* y, bool acc);
template <typename T> void row_dots(Stream, int64_t n, int64_t d, const T* dy, const T* x, T* ds, bool acc);
template <typename T> void sum_all(Stream, int64_t n, const T* x, T* out);
template <typename T> void fill_scalar(Stream, int64_t n, const T* c, T* y, bool acc);

// attention_forward.cu, attention_backward.cu, attention_paged.cu
template <typename T>
void attention_forward(Stream, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out, T* lse);
template <typename T>
void attention_backward(Stream, const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, const T* dout, T* dq, T* dk, T* dv);
template <typename T>
void attention_forward_paged(Stream, const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                             T* out, T* lse);

// loss.cu
template <typename T>
void softmax_xent(Stream, int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale, T* row_loss,
                  double norm, T* loss_out);
template <typename T> void rescale_sum_exp(Stream, int64_t n, const T* local_max, const T* global_max, T* se);
template <typename T>
void bce_with_logits_forward(Stream, int64_t n, const T* x, const T* target, double norm, T* loss_out);
template <typename T>
void bce_with_logits_backward(Stream, int64_t n, const T* x, const T* target, const T* dy, double norm, T* dx,
                              bool acc);

// lmhead_xent.cu
template <typename T> void lmhead_xent(Stream, const LmHeadXent<T>& p, double norm, T* loss_out);

// select.cu
template <typename T>
void topk_per_sequence(Stream, int64_t n_seq, const int64_t* off, const T* scores, const int64_t* k, int32_t* out);
template <typename T>
void token_depth(Stream, int64_t n, int64_t nr, const T* p, const T* bias, bool all_deepest, int32_t* depth,
                 int32_t* gate_index);
template <typename T> void set_rows_one(Stream, int64_t m, const int32_t* idx, T* y);
void gather_i32(Stream, int64_t n, const int32_t* table, const int32_t* idx, int32_t* out);
void scatter_i32(Stream, int64_t n, const int32_t* src, const int32_t* idx, int32_t* out);
void iota_i32(Stream, int64_t n, int32_t* out);
void depth_counts(Stream, int64_t n_seq, const int64_t* off, int64_t nr, const int32_t* depth, int64_t* counts);
void split_by_depth(Stream, int64_t n, const int32_t* depth, int32_t r, int32_t* exits, int32_t* stays);

// optim.cu
void adamw_update(Stream, int64_t n, float* p, const float* g, float* m, float* v, const AdamWArgs& a);
double sum_squares(Stream, int64_t n, const float* x);

}  // namespace mor::kernels::cu
