// Peak memory of a training run (per rank) or of generation, estimated from the config alone,
// before anything is allocated. All parts are bytes.
//
// Training, per rank, P = unique parameters (unique_params(), flops.h; routers and norms included),
// P_tp = P_sharded / tp + P_replicated (P_sharded: embedding, lm_head and every q/k/v/o/gate/up/down
// matrix, which the parameter table marks with a TP split axis; norms and routers are replicated):
//   parameters  = 4 P_tp                 fp32 master weights (the parameter arena)        / dp if ZeRO-3
//   gradients   = 4 P_tp                 fp32 gradient arena                              / dp if ZeRO >= 2
//   optimizer   = 8 P_tp                 AdamW m and v (fp32)                             / dp if ZeRO >= 1
//   activations = tape + backward        one micro-batch of train.micro_batch x train.seq_len, layer
//                                        by layer and recursion by recursion (activation_memory.h);
//                                        token-choice +35%: its shapes change every step and the
//                                        allocator keeps blocks of earlier shapes cached
//   logits      = loss buffers           fused lm_head + cross-entropy: logits chunk, dh, dW; under
//                                        train.precision: bf16 on the CPU also the bf16 operand
//                                        copies (ActivationMemory::bf16)
//   checkpoint  = 4 P_tp + 8 P_tp,opt    the snapshot a checkpoint copies (values, m, v) while the
//                                        freed activation blocks stay cached by the allocator; the
//                                        same amount is read back when resuming; under TP (tp > 1)
//                                        12 P: rank 0 assembles the full tensors from the shards
//   overhead    = process baseline (binary, libraries) + per thread (OpenBLAS packing buffers,
//                 attention scratch 3 x 64 x T floats) + the loader's prefetched batches + the part of
//                 the 12.6 MB sgemm probe (MFU line) that the activations do not cover
//   total       = the sum (a peak: the allocator keeps freed blocks for reuse, so the parts do not
//                 give memory back to each other)
// Gradient accumulation does not change it (one micro-batch lives at a time).
//
// Generation (mor generate: batch sequences of `context` tokens, prompt + new tokens):
//   parameters  = 4 P, gradients = 4 P (the parameter table allocates its gradient arena even for
//   inference), checkpoint = 4 P (tensors read from the file, alive while the model is filled),
//   kv_cache    = generation_kv_bytes: the engine's KV pool (src/engine/kv_cache.h) for `batch`
//                 sequences of `context` tokens in the worst case, every token reaching every depth
//                 (the causal threshold may send every token deep): per effective layer with a cache,
//                 whole pages of 16 rows of (2 Hkv D x 4 + 4) bytes. KV sharing: layers of
//                 recursions >= 2 keep no cache of their own.
//   activations = one token's tensors (a few [d], [2f] and the [V] logits).
#pragma once
#include <cstdint>
#include <string>

#include "src/config/config.h"

namespace mor {

struct MemoryEstimate {
  int64_t parameters = 0;
  int64_t gradients = 0;
  int64_t optimizer = 0;
  int64_t activations = 0;
  int64_t logits = 0;
  int64_t checkpoint = 0;
  int64_t kv_cache = 0;
  int64_t overhead = 0;
  int64_t total() const {
    return parameters + gradients + optimizer + activations + logits + checkpoint + kv_cache + overhead;
  }
};

// Per-rank peak of `mor train` with data parallelism dp, tensor parallelism tp and ZeRO stage
// zero_stage (0: none; 1: optimizer state sharded; 2: + gradients; 3: + parameters).
MemoryEstimate estimate_training_memory(const Config& c, int dp = 1, int tp = 1, int zero_stage = 0);

// The KV pool bytes above (the default KV budget of `mor generate`).
int64_t generation_kv_bytes(const ModelConfig& m, int64_t batch, int64_t context, int64_t page_tokens = 16);
// Peak of `mor generate` for `batch` sequences of `context` tokens.
MemoryEstimate estimate_generation_memory(const ModelConfig& m, int64_t batch, int64_t context);

// The largest train.micro_batch (<= limit) whose estimate is at most `budget_bytes`; 0 when even
// micro_batch 1 does not fit.
int64_t largest_micro_batch_that_fits(const Config& c, int64_t budget_bytes, int dp = 1, int tp = 1,
                                      int zero_stage = 0, int64_t limit = int64_t(1) << 20);

// Bytes as "1.23 GB" / "45.6 MB" (decimal units).
std::string format_bytes(int64_t bytes);
// The non-zero parts in one unit: "params 0.10 | grads 0.10 | adam 0.20 | activations 0.80 | ...".
std::string format_memory_parts(const MemoryEstimate& e);

}  // namespace mor
