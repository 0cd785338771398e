// FLOP accounting; see flops.h.
#include "flops.h"

#include <cmath>

#include "sharing.h"
#include "src/config/routing_spec.h"
#include "src/core/error.h"

namespace mor {

std::vector<double> step_capacities(const ModelConfig& m) { return resolve_routing(m).capacity; }

double budget_flops_per_token(const ModelConfig& m, int64_t T) {
  const double d = double(m.d_model), f = double(m.d_ff);
  const double lin = 2.0 * (4 * d * d + 3 * d * f), att = 2.0 * d * double(T);
  const double lin_q_only = 2.0 * (2 * d * d + 3 * d * f);
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const auto c = step_capacities(m);
  const bool share = resolve_routing(m).share_kv();
  double total = plan.has_middle() ? 2 * (lin + att) : 0.0;
  for (int64_t r = 0; r < plan.num_recursions(); ++r) {
    const double cr = c[size_t(r)];
    const double layer = (share && r > 0) ? cr * lin_q_only + cr * att : cr * lin + cr * cr * att;
    total += double(plan.base_depth()) * layer;
  }
  return total;
}

double executed_matmul_params(const ModelConfig& m) {
  const double d = double(m.d_model), f = double(m.d_ff);
  const double qo = 2.0 * d * double(m.n_heads * m.hdim()), kv = 2.0 * d * double(m.kv_heads() * m.hdim());
  const double layer = qo + kv + 3 * d * f;
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const auto c = step_capacities(m);
  const bool share_kv = resolve_routing(m).share_kv();
  double n = plan.has_middle() ? 2 * layer : 0.0;
  for (int64_t r = 0; r < plan.num_recursions(); ++r) {
    const bool share = share_kv && r > 0;
    n += double(plan.base_depth()) * c[size_t(r)] * (share ? layer - kv : layer);
  }
  return n + double(m.vocab_size) * d;  // lm_head
}

double train_flops_per_token(const ModelConfig& m, int64_t T) {
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const auto c = step_capacities(m);
  const bool share_kv = resolve_routing(m).share_kv();
  double attn_layers = plan.has_middle() ? 2.0 : 0.0;
  for (int64_t r = 0; r < plan.num_recursions(); ++r) {
    const bool share = share_kv && r > 0;
    attn_layers += double(plan.base_depth()) * (share ? c[size_t(r)] : c[size_t(r)] * c[size_t(r)]);
  }
  return 6.0 * executed_matmul_params(m) + 12.0 * attn_layers * double(T) * double(m.d_model);
}

double executed_flops_per_token(const ModelConfig& m, int64_t T) {
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const RoutingSpec rr = resolve_routing(m);
  const double d = double(m.d_model), hq = double(m.n_heads * m.hdim());
  double attn = plan.has_middle() ? 2.0 : 0.0;  // layer-equivalents of causal attention
  for (int64_t r = 0; r < plan.num_recursions(); ++r) {
    const double c = rr.capacity[size_t(r)];
    attn += double(plan.base_depth()) * (rr.share_kv() && r > 0 ? c : c * c);
  }
  // Routers: a linear d -> out or an MLP d -> 2d -> out on each candidate row.
  auto router = [&](double out) { return rr.router_arch == RouterArch::Linear ? d * out : 2 * d * d + 2 * d * out; };
  double routed = 0;
  if (rr.expert() && !rr.rand_router) {
    const double copies = rr.has_aux_router() ? 2.0 : 1.0;
    for (int64_t r = 0; r < plan.num_recursions(); ++r)
      routed += copies * (r == 0 ? 1.0 : rr.capacity[size_t(r - 1)]) * router(1);
  } else if (rr.token()) {
    routed = router(double(plan.num_recursions()));
  }
  return 3.0 * (2.0 * executed_matmul_params(m) + attn * 2.0 * hq * double(T) + 2.0 * routed);
}

int64_t unique_params(const ModelConfig& m, bool include_embedding) {
  const int64_t d = m.d_model, f = m.d_ff, hq = m.n_heads * m.hdim(), hkv = m.kv_heads() * m.hdim();
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const int64_t layer = 2 * d * hq + 2 * d * hkv + 3 * d * f;
  const bool own_norms = !m.recursion.ln_share && m.recursion.sharing != "none";
  int64_t n = plan.unique_layers() * layer + (own_norms ? plan.effective_layers() : plan.unique_layers()) * 2 * d + d;
  if (include_embedding) n += m.vocab_size * d * (m.tie_embeddings ? 1 : 2);
  // Routers: linear d -> out, or MLP d -> 2d -> out.
  const RoutingSpec rs = resolve_routing(m);
  auto router = [&](int64_t out) { return rs.router_arch == RouterArch::Linear ? d * out : 2 * d * d + 2 * d * out; };
  const int64_t nr = m.recursion.num_recursions;
  if (rs.expert()) n += nr * router(1) * (rs.has_aux_router() ? 2 : 1);
  if (rs.token()) n += router(nr) + (rs.balancing == Balancing::LossFree ? nr : 0);
  return n;
}

int64_t steps_for_budget(double budget, double flops_per_token, double tokens_per_step) {
  const double steps = budget / flops_per_token / tokens_per_step;
  if (steps < 0.5)
    fail_input("train.budget_flops ", budget, " buys ", steps, " optimizer steps (one step costs ",
               flops_per_token * tokens_per_step, " budget FLOPs). Hint: raise train.budget_flops or shrink the batch.");
  return int64_t(std::llround(steps));
}

}  // namespace mor
