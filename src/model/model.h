// The language model: embedding -> [first layer] -> N_r recursion steps of the shared block
// (routed or not) -> [last layer] -> final RMSNorm -> tied lm_head with a fused cross-entropy.
// Vanilla (sharing none), Recursive (sharing, no routing) and MoR models are this one class.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llama_layer.h"
#include "param_table.h"
#include "sharing.h"
#include "src/config/config.h"

namespace mor {

struct ForwardContext {
  // Denominator of the LM loss: target tokens of the whole optimizer batch across micro-steps
  // and ranks (<= 0: this batch's target count).
  double loss_normalizer = 0;
  // Micro-batches per optimizer step (auxiliary losses are averaged over them).
  int64_t micro_batches = 1;
  int64_t step = 0;        // optimizer step (warm-ups)
  bool training = true;
  bool return_hidden = false;  // keep the final normed hidden states in ForwardResult::hidden
};

// Per-forward routing statistics (empty for unrouted models).
struct RoutingStats {
  std::vector<int64_t> tokens_per_step;  // tokens processed by each recursion step
  std::vector<double> mean_score;        // mean router score per step
  std::vector<int64_t> depth_histogram;  // tokens whose final depth is 1..N_r (index 0 = depth 1)
  int64_t total_tokens = 0;
};

struct ForwardResult {
  ad::Var loss;         // total objective for backward (LM + weighted auxiliaries), normalised by ctx
  double lm_loss = 0;   // mean CE over this batch's target tokens
  int64_t tokens = 0;   // target tokens in this batch
  std::map<std::string, double> aux;  // unweighted auxiliary losses (bce, balance, z) for logging
  RoutingStats routing;
  Tensor hidden;        // [B*T, d] final normed hidden states (when ctx.return_hidden)
};

class Model {
 public:
  explicit Model(const ModelConfig& cfg);
  const ModelConfig& config() const { return cfg_; }
  const SharingPlan& plan() const { return plan_; }
  ParamTable& params() { return params_; }
  const ParamTable& params() const { return params_; }

  // Initialises every parameter (N(0, init_std^2), norms 1) from `seed`.
  void initialize(uint64_t seed) { params_.initialize(seed); }

  // tokens: i32 [B, T+1]; inputs are columns [0, T), targets [1, T].
  ForwardResult forward(const Tensor& tokens, const ForwardContext& ctx);

  // Final hidden states -> logits for the given rows: [n, d] -> [n, V] (inference helper).
  Tensor logits(const Tensor& hidden) const;

 private:
  struct UniqueLayerIds {
    int input_norm = -1, q = -1, k = -1, v = -1, o = -1, post_norm = -1, gate = -1, up = -1, down = -1;
  };
  void declare_parameters();
  void build_layer_weights();
  // Runs recursion step r (all tokens, no routing) over x [n, d].
  ad::Var plain_step(int64_t r, const ad::Var& x, const ad::SeqLayout& layout, std::vector<LayerKV>& first_kv);

  ModelConfig cfg_;
  SharingPlan plan_;
  LayerShape shape_;
  ParamTable params_;
  std::vector<UniqueLayerIds> unique_ids_;
  std::vector<LayerWeights> layer_w_;  // per effective layer
  int embed_ = -1, norm_ = -1, head_ = -1;
};

// Splits i32 [B, T+1] into inputs and targets, both i32 [B*T].
void split_tokens(const Tensor& tokens, Tensor& inputs, Tensor& targets);

}  // namespace mor
