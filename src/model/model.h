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

#include "forward_context.h"
#include "llama_layer.h"
#include "param_table.h"
#include "router.h"
#include "sharing.h"
#include "src/config/config.h"
#include "src/config/routing_spec.h"
#include "src/core/rng.h"

namespace mor {

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
  // to split over (nullptr: the whole model here); it must outlive the model. device: where the
  // parameters live and every op runs (the model itself never touches their memory).
  explicit Model(const ModelConfig& cfg, DType dtype = DType::F32, ad::TpGroup* tp = nullptr,
                 Device device = Device::cpu());
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ad::TpGroup* tp_group() const { return tp_; }
  const ModelConfig& config() const { return cfg_; }
  const RoutingSpec& routing() const { return spec_; }
  // The router (nullptr for vanilla and Recursive models).
  Router* router() const { return router_.get(); }
  const SharingPlan& plan() const { return plan_; }
  ParamTable& params() { return params_; }
  const ParamTable& params() const { return params_; }
  Device device() const { return params_.values().device(); }

  // Initialises every parameter (N(0, init_std^2), norms 1) from `seed`.
  void initialize(uint64_t seed) { params_.initialize(seed); }

  // tokens: i32 [B, T+1] on the host (the data layer's batch; ids checked here, then uploaded);
  // inputs are columns [0, T), targets [1, T].
  ForwardResult forward(const Tensor& tokens, const ForwardContext& ctx);

  // Final hidden states -> logits for the given rows: [n, d] -> [n, V] on the model's device
  // (inference helper; under TP every member's vocabulary slice is gathered).
  Tensor logits(const Tensor& hidden) const;

  // The pieces of forward() the inference engine (src/engine) runs over the rows in flight, with
  // layer_forward and the router: token ids [n] -> embeddings [n, d]; each effective layer's
  // weights; the final RMSNorm [n, d] -> [n, d]; logits() above. ids on the model's device.
  ad::Var embed(const Tensor& ids) const;
  const LayerWeights& layer_weights(int64_t effective_layer) const { return layer_w_[size_t(effective_layer)]; }
  const LayerShape& layer_shape() const { return shape_; }
  ad::Var final_norm(const ad::Var& x) const;

  // Token-choice loss-free balancing: per-depth token counts of the training forwards since the
  // last call (sum them across data-parallel ranks before update_router_bias).
  std::vector<double> take_depth_counts() { return router_ ? router_->take_depth_counts() : std::vector<double>{}; }
  // b_j += u * sign(mean(ratio) - ratio_j) from the counts (MOR.md 4.4). No-op for other models.
  void update_router_bias(const std::vector<double>& counts) {
    if (router_) router_->update_bias(counts);
  }

 private:
  struct UniqueLayerIds {
    int input_norm = -1, q = -1, k = -1, v = -1, o = -1, post_norm = -1, gate = -1, up = -1, down = -1;
  };
  void declare_parameters();
  void build_layer_weights();
  // Runs the B layers of recursion step r over rows x [n, d] laid out by `layout`. KV sharing:
  // step 0 stores each layer's K/V in first_kv; later steps attend to them.
  ad::Var run_step(int64_t r, const ad::Var& x, const ad::SeqLayout& layout, std::vector<LayerKV>& first_kv);
  // The routed recursions (model_recursion.cpp): h1 [n, d] -> the output state [n, d].
  ad::Var routed_recursions(const ad::Var& h1, const ad::SeqLayout& full, int64_t T, const ForwardContext& ctx,
                            ForwardResult& res, std::vector<AuxTerm>& aux);

  ModelConfig cfg_;
  ad::TpGroup* tp_ = nullptr;
  SharingPlan plan_;
  LayerShape shape_;
  RoutingSpec spec_;
  ParamTable params_;
  std::vector<UniqueLayerIds> unique_ids_;
  std::vector<LayerWeights> layer_w_;  // per effective layer
  int embed_ = -1, norm_ = -1, head_ = -1;
  std::unique_ptr<Router> router_;  // declares its parameters after the layers'
};

// Splits i32 [B, T+1] into inputs and targets, both i32 [B*T].
void split_tokens(const Tensor& tokens, Tensor& inputs, Tensor& targets);

}  // namespace mor
