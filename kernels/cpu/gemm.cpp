// gemm<float> / gemm<double> dispatch (our AVX-512 GEMM or CBLAS), and the process-wide GEMM precision.
#include "gemm.h"

#include <cblas.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "gemm_avx512.h"
#include "gemm_bf16.h"

namespace mor::kernels {
namespace {
std::atomic<GemmPrecision> g_precision{GemmPrecision::F32};
// The backend MOR_SGEMM asks for: "" (unset: the best available), or the error for a bad value.
SgemmBackend backend_from_env(std::string* error) {
  const char* v = std::getenv("MOR_SGEMM");
  const std::string want = v ? v : "";
  if (want == "openblas") return SgemmBackend::OpenBLAS;
  if (want.empty() || want == "avx512") {
    if (sgemm_avx512_available()) return SgemmBackend::Avx512;
    if (!want.empty() && error)
      *error = "MOR_SGEMM=avx512: this CPU (or this copy of the kernels) has no AVX-512; unset MOR_SGEMM or set it to openblas";
    return SgemmBackend::OpenBLAS;
  }
  if (error) *error = "MOR_SGEMM=" + want + ": expected openblas or avx512 (or unset: the best this CPU runs)";
  return SgemmBackend::OpenBLAS;
}
}  // namespace

SgemmBackend sgemm_backend() {
  static const SgemmBackend b = backend_from_env(nullptr);
  return b;
}

const char* sgemm_backend_name() {
  return sgemm_backend() == SgemmBackend::Avx512 ? "mor-avx512 (12x32 tile)" : "OpenBLAS";
}

void check_sgemm_env() {
  std::string error;
  backend_from_env(&error);
  if (!error.empty()) throw std::invalid_argument(error);
}

void set_gemm_precision(GemmPrecision p) { g_precision.store(p); }
GemmPrecision gemm_precision() { return g_precision.load(std::memory_order_relaxed); }

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (gemm_precision() == GemmPrecision::BF16 && bf16_sized(M, N, K)) {
    gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (sgemm_backend() == SgemmBackend::Avx512) {
    sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
