// Small-M matrix products for decoding: y[M, N] = alpha * x[M, K] @ w[N, K]^T + beta * y, for
// M <= kGemvMaxRows rows. BLAS GEMM packs blocks of w before multiplying; with one or a few rows
// that packing is most of the time (mor generate spent 67% of its time in OpenBLAS packing at
// M = 1; sgemm reaches ~3% of the FMA peak there). Matrix-vector products read w straight from
// the weights: one cblas_sgemv per row of x (kernels/lab/gemm_lab --decode measures the choice:
// 5-7x sgemm at M = 1 on the development VM, 1.2-1.6x at M = 4; a hand-written 8-wide FMA loop
// was slower than sgemm).
// Row-major, strides in elements.
#pragma once
#include <cstdint>

namespace mor::kernels {

constexpr int64_t kGemvMaxRows = 4;  // at 8 rows sgemm wins for the wide matrices (gemm_lab --decode)

void gemv_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx, const float* w,
               int64_t ldw, float beta, float* y, int64_t ldy);

}  // namespace mor::kernels
