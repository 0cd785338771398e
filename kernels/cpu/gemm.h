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
//
// f32 GEMMs run on our AVX-512 GEMM (gemm_avx512.h) in the x86-64-v4 copy of the kernels, and on
// OpenBLAS elsewhere; MOR_SGEMM=openblas in the environment picks OpenBLAS everywhere (for A/B
// measurements and as a fallback), MOR_SGEMM=avx512 asks for ours (refused on a CPU without it).
#pragma once
#include <cstdint>

namespace mor::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

enum class GemmPrecision { F32, BF16 };
constexpr double kBf16MinFlops = 2.0 * (1 << 18);
// Whether an f32 GEMM of this size runs in bf16 under GemmPrecision::BF16 (the threshold above).
inline bool bf16_sized(int64_t M, int64_t N, int64_t K) { return 2.0 * double(M) * double(N) * double(K) >= kBf16MinFlops; }
// Process-wide; set once before training (callers check bf16_gemm_unavailable_reason() first).
void set_gemm_precision(GemmPrecision p);
GemmPrecision gemm_precision();

// Which implementation runs the f32 GEMMs of this process (fixed at the first call).
enum class SgemmBackend { OpenBLAS, Avx512 };
SgemmBackend sgemm_backend();
// "mor-avx512 (12x32 tile)" or "OpenBLAS", for run headers.
const char* sgemm_backend_name();
// Throws std::invalid_argument naming MOR_SGEMM and its allowed values when the variable is set to
// something else, or to avx512 on a CPU (copy of the kernels) without AVX-512. The CLI calls it
// first, so a typo fails the command instead of silently measuring the wrong GEMM.
void check_sgemm_env();

}  // namespace mor::kernels
