// The routing resolver; see routing_spec.h.
#include "routing_spec.h"

#include <initializer_list>
#include <utility>

#include "src/core/error.h"
#include "src/model/sharing.h"

namespace mor {
namespace {

// The enum whose spelling is `s`, or a BadInput naming `key` and the valid spellings.
template <typename E>
E parse(const std::string& s, const std::string& key, std::initializer_list<std::pair<const char*, E>> names) {
  std::string list;
  for (const auto& [n, v] : names) {
    if (s == n) return v;
    list += std::string(list.empty() ? "" : ", ") + n;
  }
  fail_input("'", key, "' is '", s, "'; expected one of: ", list, ".");
}

}  // namespace

RoutingSpec resolve_routing(const ModelConfig& m) {
  const MoRConfig& c = m.mor;
  RoutingSpec r;
  r.type = parse<RoutingType>(c.type, "model.mor.type",
                              {{"none", RoutingType::None}, {"expert", RoutingType::Expert}, {"token", RoutingType::Token}});
  r.num_recursions = m.recursion.num_recursions;
  r.base_depth = SharingPlan(m.recursion.sharing, m.n_layers, r.num_recursions).base_depth();
  r.kv_mode = parse<KvMode>(m.kv_mode, "model.kv_mode", {{"recursion", KvMode::Recursion}, {"share", KvMode::Share}});
  const int64_t nr = r.num_recursions;
  r.capacity.assign(size_t(nr), 1.0);
  if (!r.routed()) return r;
  if (r.expert() && !c.capacity.empty()) r.capacity = c.capacity;
  else
    for (int64_t s = 0; s < nr; ++s) r.capacity[size_t(s)] = double(nr - s) / double(nr);

  r.router_arch = parse<RouterArch>(c.router_type, "model.mor.router_type",
                                    {{"linear", RouterArch::Linear}, {"mlp", RouterArch::Mlp}, {"wide_mlp", RouterArch::WideMlp}});
  r.temp = c.temp;
  r.gating = parse<Gating>(c.gating, "model.mor.gating",
                           {{"weighted", Gating::Weighted}, {"additive", Gating::Additive}, {"none", Gating::None}});
  r.z_coeff = c.z_coeff;
  r.sampling = parse<Sampling>(c.sampling, "model.mor.sampling", {{"aux_loss", Sampling::AuxLoss}, {"aux_router", Sampling::AuxRouter}});
  r.aux_coeff = c.aux_coeff;
  r.aux_router_lr_mult = c.aux_router_lr_mult;
  r.rand_router = c.rand_router;
  r.cap_warmup_steps = c.cap_warmup_steps;
  r.eval_selection = parse_selection(c.eval_selection, "model.mor.eval_selection");
  r.balancing = parse<Balancing>(c.balancing, "model.mor.balancing", {{"loss", Balancing::Loss}, {"loss_free", Balancing::LossFree}});
  r.bal_coeff = c.bal_coeff;
  r.bias_update_rate = c.bias_update_rate;
  r.bal_warmup_steps = c.bal_warmup_steps;
  r.gate_every_step = c.gate_every_step;

  if (r.expert()) {
    r.router_func = c.router_func.empty()
                        ? RouterFunc::Sigmoid
                        : parse<RouterFunc>(c.router_func, "model.mor.router_func",
                                            {{"sigmoid", RouterFunc::Sigmoid}, {"tanh", RouterFunc::Tanh}, {"none", RouterFunc::Identity}});
    const double configured = c.alpha < 0 ? 0.1 : c.alpha;
    r.alpha = r.router_func == RouterFunc::Identity && !c.rand_router ? 1.0 : configured;
    r.threshold = r.router_func == RouterFunc::Sigmoid ? 0.5 : 0.0;
  } else {
    r.router_func = c.router_func.empty()
                        ? RouterFunc::Softmax
                        : parse<RouterFunc>(c.router_func, "model.mor.router_func",
                                            {{"softmax", RouterFunc::Softmax}, {"sigmoid", RouterFunc::Sigmoid}});
    r.alpha = c.alpha >= 0 ? c.alpha : (r.router_func == RouterFunc::Softmax ? 1.0 : 0.1);
    r.threshold = 0.0;
  }
  return r;
}

void store_resolved_routing(ModelConfig& m) {
  const RoutingSpec r = resolve_routing(m);
  if (!r.routed()) return;
  m.mor.router_func = name_of(r.router_func);
  m.mor.alpha = r.alpha;
  if (r.expert()) m.mor.capacity = r.capacity;
}

const char* name_of(RoutingType v) {
  switch (v) {
    case RoutingType::Expert: return "expert";
    case RoutingType::Token: return "token";
    default: return "none";
  }
}
const char* name_of(RouterFunc v) {
  switch (v) {
    case RouterFunc::Tanh: return "tanh";
    case RouterFunc::Identity: return "none";
    case RouterFunc::Softmax: return "softmax";
    default: return "sigmoid";
  }
}
const char* name_of(RouterArch v) {
  switch (v) {
    case RouterArch::Mlp: return "mlp";
    case RouterArch::WideMlp: return "wide_mlp";
    default: return "linear";
  }
}
const char* name_of(KvMode v) { return v == KvMode::Share ? "share" : "recursion"; }
const char* name_of(Selection v) { return v == Selection::Threshold ? "threshold" : "topk"; }
const char* name_of(Gating v) {
  switch (v) {
    case Gating::Additive: return "additive";
    case Gating::None: return "none";
    default: return "weighted";
  }
}
const char* name_of(Sampling v) { return v == Sampling::AuxRouter ? "aux_router" : "aux_loss"; }
const char* name_of(Balancing v) { return v == Balancing::LossFree ? "loss_free" : "loss"; }

Selection parse_selection(const std::string& s, const std::string& what) {
  return parse<Selection>(s, what, {{"topk", Selection::TopK}, {"threshold", Selection::Threshold}});
}

}  // namespace mor
