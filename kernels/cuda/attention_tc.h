// The bf16 tensor-core variant of the CUDA training attention (f32 table entries), host-callable
// without CUDA headers. Off by default.
//
// set_cuda_attention_tc(true) lets the CUDA table's f32 attention_forward / attention_backward
// use the tensor-core kernels (attention_tc_forward.cu, attention_tc_backward.cu) when, at the
// call, the GEMM precision is bf16 (kernels::gemm_precision(), train.precision: bf16) and the head
// size is 64 or 128; otherwise they run the fp32 SIMT kernels (attention_forward.cu,
// attention_backward.cu). Same contract as kernels/cpu/attention.h: inputs and outputs fp32 in
// memory; Q, K, V, dO tiles are rounded to bf16 in shared memory, the products run on tensor
// cores with fp32 accumulation, softmax statistics and lse in fp32. Deterministic (no atomics).
// Accuracy against the fp32 kernel: ~1e-3 of max(1, |x|) typical, bounded by ~1e-2 (bf16 inputs).
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"

namespace mor::kernels {

void set_cuda_attention_tc(bool on);  // process-wide; default off
bool cuda_attention_tc();

namespace cu {

// Whether the f32 entries would take the tensor-core kernels for head size d now.
bool attention_tc_applies(int64_t d);
// Head sizes the tensor-core kernels are instantiated for (64, 128).
bool attention_tc_supports(int64_t d);

// The tensor-core kernels themselves (whatever the switch says); a head size they do not support
// runs the fp32 kernel.
void attention_forward_tc(Stream, const AttentionLayout& L, float scale, const float* q, const float* k,
                          const float* v, float* out, float* lse);
void attention_backward_tc(Stream, const AttentionLayout& L, float scale, const float* q, const float* k,
                           const float* v, const float* out, const float* lse, const float* dout, float* dq,
                           float* dk, float* dv);

// The f32 table entries: the tensor-core kernels when attention_tc_applies(L.d), else the fp32 ones.
void attention_forward_f32(Stream, const AttentionLayout& L, float scale, const float* q, const float* k,
                           const float* v, float* out, float* lse);
void attention_backward_f32(Stream, const AttentionLayout& L, float scale, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const float* dout, float* dq,
                            float* dk, float* dv);

}  // namespace cu
}  // namespace mor::kernels
