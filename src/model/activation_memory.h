// Activation memory of one training micro-batch, derived from what the autodiff ops keep for
// backward. Every recorded op's closure holds its output (and the op's saved extras) until
// backward reaches it, so the tape keeps, per forward:
//
//   inputs        tokens [B, T+1], inputs/targets [n], positions [n]           (i32, n = B T)
//   embedding     [n, d]
//   layer(m rows) rmsnorm [m, d] + 1/rms [m], qkv [m, (Hq+2Hkv) D] and its RoPE copy (KV-sharing
//                 steps: q only, [m, Hq D] twice), attention output [m, Hq D] + log-sum-exp [m, Hq]
//                 (no B*H*T*T probabilities: backward recomputes them), o_proj [m, d], residual
//                 [m, d], rmsnorm [m, d] + [m], gate|up [m, 2f], swiglu [m, f], down [m, d],
//                 residual [m, d]
//   expert step r candidates m_r (n at r = 0), selected k_r = S min(m_r/S, max(1, floor(c_r T))):
//                 gather of the candidates [m_r, d] (r > 0), router (linear: [m_r, 1]; mlp:
//                 2 x [m_r, 2d] + [m_r, 1]), score + gate [m_r] each, BCE target [m_r], z-loss
//                 [m_r], indices (i32), gather [k_r, d], B layers of k_r rows, gate gather [k_r],
//                 scale_rows [k_r, d], scatter into a copy of the full residual stream [n, d]
//   token         router over n rows ([n, N_r] logits, probabilities, scaled), gate [n]; each step
//                 B layers of its active rows, gathers and one [n, d] scatter per exiting group;
//                 balancing [n, N_r] x 2, z-loss [n] x 2. Nothing bounds how many tokens go deep,
//                 so the estimate is the worst case: every token runs every step (also what
//                 bal_warmup_steps does); balanced routing needs less.
//   final norm    [n, d] + [n]
// Loss (classifier_cross_entropy, lm_head fused): the logits of one block of rows [R, V]
// (kernels::lmhead_block_rows: at most 2^25 values and 1024 rows), the block's row statistics
// [3, R], and its gradients computed in the forward, dh [n, d] and dW [V, d].
// Backward working set on top of what the tape still holds: the gradients of the widest layer
// (max(2 d + 3 f, 2 (Hq+2Hkv) D + Hq D + 2 d) per row of its m rows) plus, for routed models, two
// gradients of the full residual stream [n, d].
//
// Each tensor counts its caching-allocator block (storage_block_bytes: 4 KiB granularity, 12.5%
// classes above 1 MiB). Under tensor parallelism (tp > 1) the column/row-parallel widths
// ((Hq+2Hkv) D, Hq D, heads, 2f, f) and the vocabulary of the loss divide by tp; the [n, d]
// residual-stream tensors stay whole on every rank (no sequence parallelism).
// Expert capacities come from step_capacities() (flops.h); a capacity warm-up
// (mor.cap_warmup_steps > 0) starts at capacity 1, so the estimate uses 1 for every step then.
#pragma once
#include <cstdint>

#include "src/config/config.h"

namespace mor {

struct ActivationMemory {
  int64_t tape = 0;      // tensors the tape keeps alive from forward until backward reaches them
  int64_t backward = 0;  // gradient working set of backward on top of those
  int64_t loss = 0;      // classifier_cross_entropy buffers: a block's logits and row statistics, dh, dW
  // Under train.precision: bf16 on the CPU only, the bf16 copies kept per thread
  // (kernels/cpu/lmhead_xent.cpp, gemm_bf16.cpp): the LM head's rounded weight, its two blocked
  // layouts (oneDNN pads N to 64), a block's h and gradient tile; the largest rounded A ([n, widest])
  // and B ([widest, d], or [n, max(d, f)] in a weight gradient) of the layer GEMMs.
  int64_t bf16 = 0;
  // The layer weights' elements (unique layers): under bf16 on the CPU, where a step uses them more
  // than once (recursions, gradient accumulation), each is kept rounded (2 bytes) and in two blocked
  // layouts (4 more) for the step (kernels::Bf16ConstantScope).
  int64_t bf16_weights = 0;
};

ActivationMemory activation_memory(const ModelConfig& m, int64_t micro_batch, int64_t seq_len, int tp = 1);

}  // namespace mor
