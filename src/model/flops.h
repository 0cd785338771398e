// FLOP accounting.
//
// Budget FLOPs (MOR.md section 6, normative; forward only, per training token, T = seq_len):
//   a layer processing a fraction c of the tokens costs  c * Lin + c^2 * Att,
//   Lin = 2 (4 d^2 + 3 d f)   (K/V at full width: GQA ignored),   Att = 2 d T  (causal QK^T + AV)
//   unshared first/last layers and unrouted layers have c = 1; recursion step r has c_r.
//   KV-sharing steps r >= 2 cost c_r * 2 (2 d^2 + 3 d f) + c_r * 2 d T (queries vs full keys).
//   Embedding, lm_head and routers are not counted. Token-choice assumes perfect balance.
//   tokens = budget / F_token;  steps = round(tokens / tokens_per_step)  (nearest).
//
// Training FLOPs, the conventional figure (`mor flops`):  6 N + 12 L T d, with N the matmul
// parameters a token passes through (lm_head included; recursion steps weighted by c_r) and
// 12 L T d weighted by c_r^2 for routed steps (full T x T attention).
//
// Executed FLOPs (the MFU numerator): what a training step's GEMMs and attention actually compute
// per token, = 3 x forward (backward = 2 x forward): section 6's routed rules (layer at c_r:
// c_r linear, c_r^2 causal attention; KV sharing: no K/V projections at r >= 2 and c_r attention)
// with the real head widths (GQA), plus the lm_head and the routers on their candidates:
//   forward = 2 N + sum_layers 2 (H D) T (c^2 | c) + 2 R,   R = router weights a token passes through.
#pragma once
#include <cstdint>
#include <vector>

#include "src/config/config.h"

namespace mor {

// Capacity c_r of each recursion step r = 1..N_r (1.0 for unrouted models).
std::vector<double> step_capacities(const ModelConfig& m);

// MOR.md section 6 forward FLOPs per training token.
double budget_flops_per_token(const ModelConfig& m, int64_t seq_len);

// 6 N + 12 L T d with routing weights (see above).
double train_flops_per_token(const ModelConfig& m, int64_t seq_len);
// Executed training FLOPs per token (see above); the autodiff FLOP counter agrees (test_mor.cpp).
double executed_flops_per_token(const ModelConfig& m, int64_t seq_len);

// Parameters a token's matmuls touch (N above) and unique parameters of the model (routers included).
double executed_matmul_params(const ModelConfig& m);
int64_t unique_params(const ModelConfig& m, bool include_embedding);

// Steps that spend `budget` at `flops_per_token` with `tokens_per_step` (nearest integer, >= 1).
int64_t steps_for_budget(double budget, double flops_per_token, double tokens_per_step);

}  // namespace mor
