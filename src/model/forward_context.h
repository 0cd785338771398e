// What a forward pass is told (ForwardContext) and what it reports about routing (RoutingStats),
// plus the weighted auxiliary terms routers add to the objective (AuxTerm). Shared by the model,
// its routers (router.h) and the inference engine.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/autodiff/var.h"
#include "src/config/routing_spec.h"
#include "src/core/rng.h"

namespace mor {

struct ForwardContext {
  // Denominator of the LM loss: target tokens of the whole optimizer batch across micro-steps
  // and ranks (<= 0: this batch's target count).
  double loss_normalizer = 0;
  // Micro-batches per optimizer step (auxiliary losses are averaged over them).
  int64_t micro_batches = 1;
  int64_t step = 0;        // optimizer step (token-choice balancing warm-up)
  // Expert capacity warm-up (MOR.md 3.2, counted as upstream): training forward calls so far,
  // counting this one (1 on the very first), and forward calls per optimizer step (the local
  // gradient-accumulation count), which turns model.mor.cap_warmup_steps into forward calls.
  int64_t forward_call = 0;
  int64_t calls_per_step = 1;
  bool training = true;
  bool return_hidden = false;  // keep the final normed hidden states in ForwardResult::hidden
  // Expert-choice selection: unset = top-k when training, model.mor.eval_selection otherwise.
  std::optional<Selection> selection;
  Rng* rng = nullptr;          // randomness for the random-router baseline
};

// Per-forward routing statistics (empty for unrouted models). The counts are known on the host
// as the forward runs; the router scores and the dead ratio need the device's values, so the
// forward only keeps those tensors (no host round trip) and resolve() computes the numbers when
// they are read (the trainer: once per micro-batch, after its backward pass).
struct RoutingStats {
  std::vector<int64_t> tokens_per_step;  // tokens processed by each recursion step
  std::vector<double> mean_score;        // mean router score per step (over its candidates); resolve()
  std::vector<int64_t> depth_histogram;  // tokens whose final depth is 1..N_r (index 0 = depth 1)
  int64_t total_tokens = 0;
  double dead_ratio = 0;  // expert: share of positions never selected at the last step in any row; resolve()
  double maxvio = 0;      // token: (max load - mean load) / mean load
  std::vector<Tensor> selected;  // expert: i32 global rows selected at each step (on the model's device)
  Tensor depth;                  // token: i32 [rows] recursion depth index (0-based) per token (device)

  // What resolve() reads: per step the candidates' scores ([m], or [m, N_r] with the column to
  // average; undefined: no candidates), and for the dead ratio the full batch's positions and T.
  struct StepScores {
    Tensor scores;
    int64_t column = -1;
  };
  std::vector<StepScores> pending_scores;
  Tensor positions;
  int64_t seq_len = 0;
  // Fills mean_score (and dead_ratio for expert-choice) from the kept tensors, copying them to the
  // host, then drops them. Idempotent.
  void resolve();
};

// A weighted auxiliary term of the objective (already normalised); logged unweighted.
struct AuxTerm {
  std::string name;
  ad::Var value;
  double coeff;
};

}  // namespace mor
