// Export key names; see hf_names.h.
#include "hf_names.h"

#include "src/config/routing_spec.h"
#include "src/model/sharing.h"

namespace mor::ckpt {
namespace {

const char* kLinear[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                         "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
const char* kNorms[] = {"input_layernorm", "post_attention_layernorm"};

// Keys of effective layer l under `prefix` ("model.layers.3." ...).
void add_layer(std::vector<std::pair<std::string, std::string>>& out, const std::string& prefix, const ModelConfig& m,
               const SharingPlan& plan, int64_t l) {
  const std::string unique = "layers." + std::to_string(plan.unique_of(l)) + ".";
  const bool own_norms = !m.recursion.ln_share && m.recursion.sharing != "none";
  for (const char* p : kLinear) out.emplace_back(prefix + p + ".weight", unique + p);
  for (const char* p : kNorms)
    out.emplace_back(prefix + p + ".weight", own_norms ? "norms." + std::to_string(l) + "." + p : unique + p);
}

void add_router(std::vector<std::pair<std::string, std::string>>& out, const std::string& key_prefix,
                const std::string& internal, const ModelConfig& m) {
  if (resolve_routing(m).router_arch == RouterArch::Linear) {
    out.emplace_back(key_prefix + ".weight", internal + ".weight");
  } else {
    out.emplace_back(key_prefix + ".0.weight", internal + ".0.weight");
    out.emplace_back(key_prefix + ".2.weight", internal + ".2.weight");
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> hf_key_map(const ModelConfig& m) {
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("model.embed_tokens.weight", "embed_tokens");
  const int64_t nr = plan.num_recursions(), B = plan.base_depth();
  const bool middle = plan.has_middle();
  const RoutingSpec rs = resolve_routing(m);
  if (!rs.routed()) {
    for (int64_t l = 0; l < plan.effective_layers(); ++l) add_layer(out, "model.layers." + std::to_string(l) + ".", m, plan, l);
  } else if (rs.expert()) {
    const int64_t base = middle ? 1 : 0;  // index of the first MoR wrapper
    if (middle) add_layer(out, "model.layers.0.", m, plan, 0);
    for (int64_t r = 0; r < nr; ++r) {
      const std::string wrap = "model.layers." + std::to_string(base + r) + ".";
      const auto layers = plan.step_layers(r);
      for (int64_t j = 0; j < B; ++j) add_layer(out, wrap + "block." + std::to_string(j) + ".", m, plan, layers[size_t(j)]);
      add_router(out, wrap + "mor_router.router", "routers." + std::to_string(r), m);
      if (rs.has_aux_router()) add_router(out, wrap + "mlp_router.router", "aux_routers." + std::to_string(r), m);
    }
    if (middle) add_layer(out, "model.layers." + std::to_string(nr + 1) + ".", m, plan, plan.effective_layers() - 1);
  } else {  // token
    const std::string wrap = middle ? "model.layers.1." : "model.layers.";
    if (middle) add_layer(out, "model.layers.0.", m, plan, 0);
    for (int64_t r = 0; r < nr; ++r) {
      const auto layers = plan.step_layers(r);
      for (int64_t j = 0; j < B; ++j)
        add_layer(out, wrap + "block_list." + std::to_string(r) + "." + std::to_string(j) + ".", m, plan, layers[size_t(j)]);
    }
    add_router(out, wrap + "mor_router.router", "router", m);
    if (rs.balancing == Balancing::LossFree) out.emplace_back(wrap + "router_bias", "router_bias");
    if (middle) add_layer(out, "model.layers.2.", m, plan, plan.effective_layers() - 1);
  }
  out.emplace_back("model.norm.weight", "norm");
  out.emplace_back("lm_head.weight", m.tie_embeddings ? "embed_tokens" : "lm_head");
  return out;
}

}  // namespace mor::ckpt
