// Small-M matrix products for decoding: y[M, N] = alpha * x[M, K] @ w[N, K]^T + beta * y, for
// M <= kGemvMaxRows rows. BLAS GEMM packs blocks of w before multiplying; with one or a few rows
// that packing is most of the time (mor generate spent 67% of its time in OpenBLAS packing at
// M = 1). Here every row of w is read once, straight from the weights, and multiplied with all M
// rows of x (8-wide FMAs), the N outputs split over threads. Row-major, strides in elements.
#pragma once
#include <cstdint>

namespace mor::kernels {

constexpr int64_t kGemvMaxRows = 8;

void gemv_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx, const float* w,
               int64_t ldw, float beta, float* y, int64_t ldy);

}  // namespace mor::kernels
