// Row-major GEMM on the CPU through CBLAS (OpenBLAS):
//   C[M,N] = alpha * op(A) @ op(B) + beta * C,   op(X) = X or X^T.
// lda/ldb/ldc are row strides in elements, so strided sub-blocks need no copies. Called from
// inside an OpenMP parallel region it runs single-threaded (OpenBLAS openmp flavour).
#pragma once
#include <cstdint>

namespace mor::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace mor::kernels
