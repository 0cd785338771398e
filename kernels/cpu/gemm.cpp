// CBLAS dispatch for gemm<float> / gemm<double>, and the process-wide GEMM precision.
#include "gemm.h"

#include <cblas.h>

#include <atomic>

#include "gemm_bf16.h"

namespace mor::kernels {
namespace {
std::atomic<GemmPrecision> g_precision{GemmPrecision::F32};
}  // namespace

void set_gemm_precision(GemmPrecision p) { g_precision.store(p); }
GemmPrecision gemm_precision() { return g_precision.load(std::memory_order_relaxed); }

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (gemm_precision() == GemmPrecision::BF16 && 2.0 * double(M) * double(N) * double(K) >= kBf16MinFlops) {
    gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M),
              int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M),
              int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

}  // namespace mor::kernels
