// cuBLAS and cuBLASLt, loaded with dlopen on the first GEMM rather than linked: loading them costs
// a process about 200 MB of resident memory (their relocations), which every `mor` run of a CUDA
// build would pay, CPU-only ones included. Only the entry points gemm.cu uses are resolved.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>

namespace mor::kernels::cu {

struct BlasLib {
  decltype(&cublasLtCreate) lt_create;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasDgemm_v2_64) dgemm;
  decltype(&cublasGemmEx_64) gemm_ex;  // where cuBLASLt's heuristic offers no algorithm
};

// The libraries, loaded once (thread-safe); throws std::runtime_error naming what is missing.
const BlasLib& blas_lib();

}  // namespace mor::kernels::cu
