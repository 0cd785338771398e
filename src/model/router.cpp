// Router factory and the per-row routing state helpers; see router.h.
#include "router.h"

namespace mor {

std::unique_ptr<Router> make_expert_router(const RoutingSpec&, ParamTable&, int64_t, double);  // router_expert.cpp
std::unique_ptr<Router> make_token_router(const RoutingSpec&, ParamTable&, int64_t, double);   // router_token.cpp

std::unique_ptr<Router> Router::create(const RoutingSpec& spec, ParamTable& table, int64_t d_model, double init_std) {
  switch (spec.type) {
    case RoutingType::Expert: return make_expert_router(spec, table, d_model, init_std);
    case RoutingType::Token: return make_token_router(spec, table, d_model, init_std);
    default: return nullptr;
  }
}

RouteRows RouteRows::take(const Tensor& local) const {
  RouteRows r;
  if (depth.defined()) r.depth = ad::take_i32(depth, local);
  if (gate) r.gate = ad::gather_rows(gate, local);
  if (probs.defined()) r.probs = ad::gather_rows(ad::make_var(probs), local)->value;
  return r;
}

RouteRows RouteRows::concat(const std::vector<const RouteRows*>& parts) {
  RouteRows r;
  if (parts.empty() || !parts.front()->depth.defined()) return r;
  int64_t n = 0;
  for (const RouteRows* p : parts) n += p->depth.numel();
  const int64_t nr = parts.front()->probs.dim(1);
  const Device dev = parts.front()->depth.device();
  r.depth = Tensor::empty({n}, DType::I32, dev);
  Tensor gate = Tensor::empty({n}, parts.front()->gate->value.dtype(), dev);
  r.probs = Tensor::empty({n, nr}, parts.front()->probs.dtype(), dev);
  int64_t at = 0;
  for (const RouteRows* p : parts) {  // device copies into the parts' rows
    const int64_t k = p->depth.numel();
    r.depth.view(at, {k}).copy_from(p->depth);
    gate.view(at, {k}).copy_from(p->gate->value.reshape({k}));
    r.probs.view(at * nr, {k, nr}).copy_from(p->probs);
    at += k;
  }
  r.gate = ad::make_var(gate);
  return r;
}

void RouteRecord::accumulate(const std::string& name, const ad::Var& v) {
  ad::Var& acc = sums[name];
  acc = acc ? ad::add(acc, v) : v;
}

}  // namespace mor
