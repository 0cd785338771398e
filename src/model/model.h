// The language model: embedding -> [first layer] -> N_r recursion steps of the shared block
// (routed or not) -> [last layer] -> final RMSNorm -> tied lm_head with a fused cross-entropy.
// Vanilla (sharing none), Recursive (sharing, no routing) and MoR models are this one class.
// Tensor parallelism: given a TpGroup (src/autodiff/tp_group.h) the model holds its shard of
// every split parameter (the table decides which), runs attention over its local heads and the
// FFN over its d_ff slice, looks up and scores the vocabulary in parallel (vocab-parallel
// embedding and cross-entropy; full logits never exist), and keeps routers and norms replicated:
// routers read the replicated hidden state, so every member selects the same rows (checked by
// TpGroup::check_identical when enabled). The model never sees a rank.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llama_layer.h"
#include "router.h"
#include "src/core/rng.h"
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
  int64_t step = 0;        // optimizer step (token-choice balancing warm-up)
  // Expert capacity warm-up (MOR.md 3.2, counted as upstream): training forward calls so far,
  // counting this one (1 on the very first), and forward calls per optimizer step (the local
  // gradient-accumulation count), which turns model.mor.cap_warmup_steps into forward calls.
  int64_t forward_call = 0;
  int64_t calls_per_step = 1;
  bool training = true;
  bool return_hidden = false;  // keep the final normed hidden states in ForwardResult::hidden
  // Expert-choice selection: "" = top-k when training, model.mor.eval_selection otherwise;
  // "topk" or "threshold" force a mode.
  std::string selection;
  Rng* rng = nullptr;          // randomness for the random-router baseline
};

// Per-forward routing statistics (empty for unrouted models).
struct RoutingStats {
  std::vector<int64_t> tokens_per_step;  // tokens processed by each recursion step
  std::vector<double> mean_score;        // mean router score per step (over its candidates)
  std::vector<int64_t> depth_histogram;  // tokens whose final depth is 1..N_r (index 0 = depth 1)
  int64_t total_tokens = 0;
  double dead_ratio = 0;  // expert: share of positions never selected at the last step in any row
  double maxvio = 0;      // token: (max load - mean load) / mean load
  std::vector<Tensor> selected;  // expert: i32 global rows selected at each step
  Tensor depth;                  // token: i32 [rows] recursion depth index (0-based) per token
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
  // dtype: f32 for training; f64 for whole-model gradient checks. tp: the tensor-parallel group
  // to split over (nullptr: the whole model here); it must outlive the model.
  explicit Model(const ModelConfig& cfg, DType dtype = DType::F32, ad::TpGroup* tp = nullptr);
  ad::TpGroup* tp_group() const { return tp_; }
  const ModelConfig& config() const { return cfg_; }
  const SharingPlan& plan() const { return plan_; }
  ParamTable& params() { return params_; }
  const ParamTable& params() const { return params_; }

  // Initialises every parameter (N(0, init_std^2), norms 1) from `seed`.
  void initialize(uint64_t seed) { params_.initialize(seed); }

  // tokens: i32 [B, T+1]; inputs are columns [0, T), targets [1, T].
  ForwardResult forward(const Tensor& tokens, const ForwardContext& ctx);

  // Final hidden states -> logits for the given rows: [n, d] -> [n, V] (inference helper; under
  // TP every member's vocabulary slice is gathered).
  Tensor logits(const Tensor& hidden) const;

  // Read access for inference code (decoding with KV caches).
  const LayerWeights& layer_weights(int64_t effective_layer) const { return layer_w_[size_t(effective_layer)]; }
  const LayerShape& layer_shape() const { return shape_; }
  const ad::Var& embedding_table() const { return params_.var(embed_); }
  const ad::Var& final_norm() const { return params_.var(norm_); }
  const ad::Var& lm_head() const { return params_.var(head_ >= 0 ? head_ : embed_); }
  const RouterParams& router(int64_t i) const { return routers_[size_t(i)]; }
  bool has_aux_routers() const { return !aux_routers_.empty(); }
  const RouterParams& aux_router(int64_t i) const { return aux_routers_[size_t(i)]; }
  std::vector<double> router_bias_values() const;

  // Token-choice loss-free balancing: per-depth token counts of the training forwards since the
  // last call (sum them across data-parallel ranks before update_router_bias).
  std::vector<double> take_depth_counts();
  // b_j += u * sign(mean(ratio) - ratio_j) from the counts (MOR.md 4.4). No-op for other models.
  void update_router_bias(const std::vector<double>& counts);

 private:
  struct UniqueLayerIds {
    int input_norm = -1, q = -1, k = -1, v = -1, o = -1, post_norm = -1, gate = -1, up = -1, down = -1;
  };
  // Weighted auxiliary terms added to the LM loss (already normalised).
  struct AuxTerm {
    std::string name;
    ad::Var value;
    double coeff;
  };
  void declare_parameters();
  void declare_routers();
  void build_layer_weights();
  // Runs the B layers of recursion step r over rows x [n, d] laid out by `layout`. KV sharing:
  // step 0 stores each layer's K/V in first_kv; later steps attend to them.
  ad::Var run_step(int64_t r, const ad::Var& x, const ad::SeqLayout& layout, std::vector<LayerKV>& first_kv);
  ad::Var expert_forward(ad::Var h, const ad::SeqLayout& full, int64_t T, const ForwardContext& ctx,
                         ForwardResult& res, std::vector<AuxTerm>& aux);
  ad::Var token_forward(const ad::Var& h1, const ad::SeqLayout& full, const ForwardContext& ctx,
                        ForwardResult& res, std::vector<AuxTerm>& aux);

  ModelConfig cfg_;
  ad::TpGroup* tp_ = nullptr;
  SharingPlan plan_;
  LayerShape shape_;
  ParamTable params_;
  std::vector<UniqueLayerIds> unique_ids_;
  std::vector<LayerWeights> layer_w_;  // per effective layer
  int embed_ = -1, norm_ = -1, head_ = -1;
  std::vector<RouterParams> routers_;      // expert: one per step; token: one
  std::vector<RouterParams> aux_routers_;  // expert with sampling aux_router
  int router_bias_ = -1;                   // token loss_free: non-trainable bias [N_r]
  std::vector<double> depth_counts_;       // token: counts since take_depth_counts()
};

// Splits i32 [B, T+1] into inputs and targets, both i32 [B*T].
void split_tokens(const Tensor& tokens, Tensor& inputs, Tensor& targets);

}  // namespace mor
