// bf16 GEMM on the CPU through oneDNN: the f32 operands are rounded to bfloat16 (nearest even),
// multiplied with f32 accumulation (AVX512_BF16 VDPBF16PS or AMX tiles), and written to f32 C:
//   C[M,N] = alpha * op(bf16(A)) @ op(bf16(B)) + beta * C
// Same calling convention as gemm<float> (row-major, row strides). Used by gemm<float> when the
// process-wide GEMM precision is bf16 (train.precision: bf16); see gemm.h.
#pragma once
#include <cstdint>
#include <string>

namespace mor::kernels {

// Empty when bf16 GEMMs can run here, otherwise why not (no oneDNN in the build, or a CPU or
// kernel build without bf16 dot products) -- phrased for an error message.
std::string bf16_gemm_unavailable_reason();

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace mor::kernels
