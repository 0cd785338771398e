// Row-major GEMM on the CPU through CBLAS (OpenBLAS):
//   C[M,N] = alpha * op(A) @ op(B) + beta * C,   op(X) = X or X^T.
// lda/ldb/ldc are row strides in elements, so strided sub-blocks need no copies. Called from
// inside an OpenMP parallel region it runs single-threaded (OpenBLAS openmp flavour).
//
// Precision: f32 GEMMs run in f32 unless the process-wide GEMM precision is bf16 (mixed
// precision training, train.precision: bf16); then every f32 GEMM of at least
// kBf16MinFlops/2 multiply-adds rounds its inputs to bf16 and accumulates in f32 (gemm_bf16.h).
// Smaller ones (per-head attention blocks of few rows) stay f32: converting them costs more than
// it saves. f64 GEMMs (gradient checks) are never affected.
#pragma once
#include <cstdint>

namespace mor::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

enum class GemmPrecision { F32, BF16 };
constexpr double kBf16MinFlops = 2.0 * (1 << 18);
// Process-wide; set once before training (callers check bf16_gemm_unavailable_reason() first).
void set_gemm_precision(GemmPrecision p);
GemmPrecision gemm_precision();

}  // namespace mor::kernels
