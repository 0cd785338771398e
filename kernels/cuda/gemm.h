// Process-wide switches of the CUDA GEMM (kernels/cuda/gemm.cu), host-callable without CUDA headers.
//
// fp32 GEMMs use TF32 tensor cores by default (10-bit mantissa inputs, fp32 accumulation); tests
// that compare against the CPU bit-closely turn them off. Under the bf16 GEMM precision
// (kernels::gemm_precision(), kernels/cpu/gemm.h; train.precision: bf16) large fp32 GEMMs round
// their inputs to bf16 instead, whatever this switch says. f64 GEMMs are never affected.
#pragma once

namespace mor::kernels {

void set_cuda_tf32(bool on);
bool cuda_tf32();

}  // namespace mor::kernels
