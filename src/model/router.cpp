// Router factory and the per-row routing state helpers; see router.h.
#include "router.h"

#include <cstring>

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
  if (depth.defined()) {
    r.depth = Tensor::empty({local.numel()}, DType::I32);
    for (int64_t i = 0; i < local.numel(); ++i) r.depth.data<int32_t>()[i] = depth.data<int32_t>()[local.data<int32_t>()[i]];
  }
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
  const DType gd = parts.front()->gate->value.dtype(), pd = parts.front()->probs.dtype();
  r.depth = Tensor::empty({n}, DType::I32);
  Tensor gate = Tensor::empty({n}, gd);
  r.probs = Tensor::empty({n, nr}, pd);
  int64_t at = 0;
  for (const RouteRows* p : parts) {
    const int64_t k = p->depth.numel();
    std::memcpy(r.depth.data<int32_t>() + at, p->depth.data<int32_t>(), size_t(k) * 4);
    std::memcpy(static_cast<char*>(gate.raw()) + at * dtype_size(gd), p->gate->value.raw(), size_t(k) * dtype_size(gd));
    std::memcpy(static_cast<char*>(r.probs.raw()) + at * nr * dtype_size(pd), p->probs.raw(), size_t(k * nr) * dtype_size(pd));
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
