// Peak-memory estimates; see memory_estimate.h for the formulas.
#include "memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "activation_memory.h"
#include "flops.h"
#include "sharing.h"
#include "src/config/routing_spec.h"
#include "src/core/storage.h"
#include "src/core/threads.h"

namespace mor {
namespace {

constexpr int64_t kMiB = int64_t(1) << 20;
// Resident memory of the process before any tensor: binary, shared libraries (OpenBLAS, HDF5,
// yaml-cpp, SentencePiece), the heap of the config and tokenizer (measured: `mor flops` peaks at
// 16.4 MiB on the development VM).
constexpr int64_t kBaseBytes = 20 * kMiB;
// The 1024^3 sgemm probe behind the MFU figure (three 1024 x 1024 f32 matrices, src/train/peak.cpp):
// it runs after the model is allocated and is freed before the first step, so it only counts where
// it is larger than the step's activations.
constexpr int64_t kSgemmProbeBytes = 3 * 1024 * 1024 * 4;
// OpenBLAS packing buffers touched per thread by large GEMMs (approximate).
constexpr int64_t kBlasPerThread = 4 * kMiB;
// Token-choice routing changes the active-set sizes every step, so the caching allocator (which
// reuses a free block of at least the request's size class and at most twice it) keeps blocks of
// earlier steps' shapes beside this step's: measured 1.3x the walk's activations after 40 steps of
// a tiny token-choice run. Fixed shapes (vanilla, Recursive, expert top-k) reuse their blocks
// exactly (measured 1.01-1.08x the walk, total RSS included) and get no allowance.
constexpr double kVariableShapeSlack = 0.35;
// Query block of the attention kernel (kernels/cpu/attention.cpp): per-thread scratch of
// kBlockQ x T scores, twice in backward.
constexpr int64_t kAttentionBlockQ = 64;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// train.threads, or the OpenMP default the run would get (0: OMP_NUM_THREADS or all cores).
int64_t thread_count(const TrainConfig& t) { return t.threads > 0 ? t.threads : std::max(1, num_threads()); }

// Parameters with a tensor-parallel split axis: embedding, lm_head and the layer matrices.
int64_t sharded_params(const ModelConfig& m) {
  const int64_t d = m.d_model, hq = m.n_heads * m.hdim(), hkv = m.kv_heads() * m.hdim();
  const SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const int64_t layer = 2 * d * hq + 2 * d * hkv + 3 * d * m.d_ff;
  return plan.unique_layers() * layer + m.vocab_size * d * (m.tie_embeddings ? 1 : 2);
}

// Parameters one tensor-parallel rank holds.
int64_t rank_params(const ModelConfig& m, int tp) {
  const int64_t all = unique_params(m, true), sharded = sharded_params(m);
  return ceil_div(sharded, tp) + (all - sharded);
}

int64_t block(int64_t bytes) { return int64_t(storage_block_bytes(size_t(std::max<int64_t>(bytes, 0)))); }

}  // namespace

MemoryEstimate estimate_training_memory(const Config& c, int dp, int tp, int zero_stage) {
  dp = std::max(dp, 1), tp = std::max(tp, 1);
  const TrainConfig& t = c.train;
  const int64_t p = rank_params(c.model, tp);
  const int64_t arena = block(4 * p);
  MemoryEstimate e;
  e.parameters = zero_stage >= 3 ? ceil_div(arena, dp) : arena;
  e.gradients = zero_stage >= 2 ? ceil_div(arena, dp) : arena;
  e.optimizer = zero_stage >= 1 ? ceil_div(2 * arena, dp) : 2 * arena;
  const ActivationMemory a = activation_memory(c.model, t.micro_batch, t.seq_len, tp);
  const double slack = resolve_routing(c.model).token() ? kVariableShapeSlack : 0.0;
  e.activations = int64_t(double(a.tape + a.backward) * (1.0 + slack));
  e.logits = a.loss;
  if (t.precision == "bf16" && t.device == "cpu") {  // (CUDA rounds into per-call scratch)
    e.logits += a.bf16 + (weights_reused(c) ? 6 * a.bf16_weights : 0);
  }
  // The snapshot; under TP rank 0 assembles every full tensor (values, m, v) from the shards.
  e.checkpoint = tp > 1 ? 3 * block(4 * unique_params(c.model, true)) : e.parameters + e.optimizer;
  const int64_t threads = thread_count(t);
  const int64_t attention_scratch = 3 * kAttentionBlockQ * t.seq_len * 4;
  const int64_t loader = (c.data.prefetch + 2) * t.micro_batch * (t.seq_len + 1) * 4;
  e.overhead = kBaseBytes + threads * (kBlasPerThread + attention_scratch) + loader +
               std::max<int64_t>(0, kSgemmProbeBytes - e.activations - e.logits);
  return e;
}

int64_t generation_kv_bytes(const ModelConfig& m, int64_t batch, int64_t context, int64_t page_tokens) {
  const SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const bool share = resolve_routing(m).share_kv();
  int64_t cached_layers = plan.has_middle() ? 2 : 0;
  cached_layers += plan.base_depth() * (share ? 1 : plan.num_recursions());
  const int64_t row = 2 * m.kv_heads() * m.hdim() * 4 + 4;  // f32 K and V, and the position
  const int64_t pages = (context + page_tokens - 1) / page_tokens;
  return batch * cached_layers * pages * page_tokens * row;
}

MemoryEstimate estimate_generation_memory(const ModelConfig& m, int64_t batch, int64_t context) {
  const int64_t p = unique_params(m, true);
  MemoryEstimate e;
  e.parameters = block(4 * p);
  e.gradients = block(4 * p);
  e.checkpoint = 4 * p;
  e.kv_cache = generation_kv_bytes(m, batch, context);
  // One token: residual, norms, q|k|v, attention, gate|up, swiglu (a few blocks each) and the logits.
  const int64_t d = m.d_model, f = m.d_ff, qkv = (m.n_heads + 2 * m.kv_heads()) * m.hdim();
  e.activations = batch * (8 * block(4 * d) + 2 * block(4 * qkv) + block(8 * f) + block(4 * f) + block(4 * m.vocab_size));
  e.overhead = kBaseBytes + kBlasPerThread * std::max(1, num_threads());
  return e;
}

int64_t largest_micro_batch_that_fits(const Config& c, int64_t budget_bytes, int dp, int tp, int zero_stage,
                                      int64_t limit) {
  Config probe = c;
  auto fits = [&](int64_t b) {
    probe.train.micro_batch = b;
    return estimate_training_memory(probe, dp, tp, zero_stage).total() <= budget_bytes;
  };
  if (limit < 1 || !fits(1)) return 0;
  // The estimate grows with the micro batch: double until it does not fit, then bisect.
  int64_t lo = 1, hi = 2;
  while (hi <= limit && fits(hi)) lo = hi, hi *= 2;
  if (hi > limit) {
    if (fits(limit)) return limit;
    hi = limit;
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::string format_bytes(int64_t bytes) {
  char b[32];
  const double v = double(bytes);
  if (v >= 1e9) std::snprintf(b, sizeof b, "%.2f GB", v / 1e9);
  else std::snprintf(b, sizeof b, "%.1f MB", v / 1e6);
  return b;
}

std::string format_memory_parts(const MemoryEstimate& e) {
  const bool gb = e.total() >= int64_t(1e9);
  const double unit = gb ? 1e9 : 1e6;
  const std::pair<const char*, int64_t> parts[] = {
      {"params", e.parameters},   {"grads", e.gradients},        {"adam", e.optimizer}, {"activations", e.activations},
      {"logits", e.logits},       {"checkpoint", e.checkpoint},  {"kv cache", e.kv_cache}, {"overhead", e.overhead}};
  std::string out;
  for (const auto& [name, bytes] : parts) {
    if (bytes == 0) continue;
    char b[64];
    std::snprintf(b, sizeof b, gb ? "%s%s %.2f" : "%s%s %.1f", out.empty() ? "" : " | ", name, double(bytes) / unit);
    out += b;
  }
  return out + (gb ? " GB" : " MB");
}

}  // namespace mor
