// Expert-choice routing (MOR.md section 3): one router per recursion step scores the previous
// step's survivors; each sequence keeps its top k_r = max(1, floor(c_r T)) (training, and
// evaluation with eval_selection topk) or every token whose score passes the causal threshold
// (MOR.md 3.7: decoding, eval_selection threshold). The selected rows run the block and update
// x <- x + g * f(x) (weighted gating; additive: x + f(x); none: f(x)).
#include <cmath>

#include "router.h"
#include "routing_util.h"

namespace mor {
namespace {

// c_r with the optional cosine capacity warm-up (MOR.md 3.2), as upstream: training only, progress
// = training forward calls so far counting this one (from 1) / warm-up length in forward calls.
double effective_capacity(double c, const ForwardContext& ctx, int64_t warmup_steps) {
  if (warmup_steps <= 0 || !ctx.training) return c;
  const double calls = double(warmup_steps) * double(std::max<int64_t>(ctx.calls_per_step, 1));
  const double p = std::min(1.0, double(ctx.forward_call) / calls);
  return c + (1 - c) * 0.5 * (1 + std::cos(M_PI * p));
}

class ExpertRouter final : public Router {
 public:
  ExpertRouter(const RoutingSpec& spec, ParamTable& table, int64_t d, double init_std) : Router(spec, table) {
    for (int64_t r = 0; r < spec.num_recursions; ++r) {
      nets_.push_back(declare_router(table, "routers." + std::to_string(r), d, 1, spec.router_arch, init_std, "main"));
      if (spec.has_aux_router())
        aux_nets_.push_back(
            declare_router(table, "aux_routers." + std::to_string(r), d, 1, spec.router_arch, init_std, "aux_router"));
    }
  }

  RouteRows begin(const ad::Var&, const ForwardContext&, RouteRecord&) override { return {}; }

  StepChoice select(int64_t r, const ad::Var& xc, const RouteRows&, const ad::SeqLayout& layout, int64_t T,
                    const ForwardContext& ctx, RouteRecord& rec) override {
    const int64_t mrows = layout.rows(), S = layout.n_seq();
    const double alpha = spec_.alpha;  // 1.0 for router_func none: the raw logit is the gate
    ad::Var xin = router_input(xc);
    // Scores and gates over the candidates.
    ad::Var logits, score;
    StepChoice c;
    if (spec_.rand_router) {
      std::vector<double> u(static_cast<size_t>(mrows));
      MOR_CHECK(ctx.rng, "rand_router needs ForwardContext::rng");
      for (double& x : u) x = ctx.rng->uniform();
      score = ad::make_var(Tensor::from_vector(u, {mrows}).to_dtype(xc->value.dtype()).to(xc->value.device()));
      c.gate = ad::scale(score, alpha);
    } else {
      logits = ad::reshape(router_logits(table_, nets_[size_t(r)], xin), {mrows});
      score = spec_.router_func == RouterFunc::Tanh       ? ad::tanh(logits)
              : spec_.router_func == RouterFunc::Identity ? logits
                                                          : ad::sigmoid(logits);
      c.gate = alpha == 1.0 ? score : ad::scale(score, alpha);
    }
    // The score the causal (threshold) rule reads: the aux router's when there is one.
    ad::Var aux_logits;
    if (!aux_nets_.empty()) {
      ad::Var detached = ad::make_var(xin->value);  // no gradient into the trunk
      aux_logits = ad::reshape(router_logits(table_, aux_nets_[size_t(r)], detached), {mrows});
    }

    // Selection (no gradient): top-k per sequence, or threshold per token.
    c.counts.assign(size_t(S), 0);
    const double cap = spec_.capacity[size_t(r)];
    const Device dev = xc->value.device();
    if (selection(ctx) == Selection::Threshold && cap >= 1.0) {
      c.run = ad::iota_rows(mrows, dev);  // capacity 1: every candidate (as top-k over all of them)
      c.counts = layout_counts(layout);
    } else if (selection(ctx) == Selection::Threshold) {
      // The causal rule's counts depend on the scores: one host copy of them (decoding, evaluation).
      const std::vector<double> sv =
          (aux_logits ? aux_logits->value : score->value).host().to_dtype(DType::F64).to_vector<double>();
      const double thr = aux_logits ? 0.0 : spec_.threshold;  // aux router: sigmoid(logit) >= 0.5
      std::vector<int32_t> keep;
      const int64_t* off = layout.offsets.data<int64_t>();
      for (int64_t s = 0; s < S; ++s) {
        const size_t before = keep.size();
        for (int64_t i = off[s]; i < off[s + 1]; ++i)
          if (sv[size_t(i)] >= thr) keep.push_back(int32_t(i));
        c.counts[size_t(s)] = int64_t(keep.size() - before);
      }
      c.run = ad::i32_on(keep, dev);
    } else {  // top-k: k per sequence is known on the host, so the selection stays on the device
      const double c_eff = effective_capacity(cap, ctx, spec_.cap_warmup_steps);
      const auto cc = layout_counts(layout);
      for (int64_t s = 0; s < S; ++s)
        c.counts[size_t(s)] = std::min<int64_t>(cc[size_t(s)], std::max<int64_t>(1, int64_t(std::floor(c_eff * double(T)))));
      c.run = ad::topk_per_sequence(c.gate->value, layout, c.counts);
    }
    c.score = score->value;  // averaged when the statistics are read

    // Auxiliary losses on the router logits (training only).
    if (ctx.training && (logits || aux_logits)) {
      const Tensor target = ad::ones_at(mrows, c.run, (logits ? logits : aux_logits)->value.dtype());
      const double norm = double(std::max<int64_t>(mrows, 1)) * double(std::max<int64_t>(ctx.micro_batches, 1));
      if (logits && spec_.sampling == Sampling::AuxLoss && !spec_.rand_router)
        rec.accumulate("bce", ad::bce_with_logits(logits, target, norm));
      if (aux_logits) rec.accumulate("aux_router_bce", ad::bce_with_logits(aux_logits, target, norm));
      if (logits && spec_.z_coeff > 0) rec.accumulate("z", ad::scale(ad::sum(ad::mul(logits, logits)), 1.0 / norm));
    }
    return c;
  }

  StepOutcome combine(int64_t, const ad::Var& x, const ad::Var& f, const RouteRows&, const ad::Var& gate,
                      const std::vector<int64_t>&) const override {
    StepOutcome o;
    const int64_t k = x->value.dim(0);
    o.out_rows = ad::iota_rows(k, x->value.device());
    o.stays = o.out_rows;  // the next step's select() decides who continues
    if (spec_.gating == Gating::Weighted) o.out_update = ad::scale_rows(f, gate);
    else if (spec_.gating == Gating::Additive) o.out_update = f;
    else o.out_update = f, o.add = false;  // none: selected rows take f(x) (the Recursive model at capacity 1)
    return o;
  }

  void finish(const ad::SeqLayout&, int64_t, RouteRecord& rec) const override {
    // (The dead ratio is computed from rec.stats.selected when the statistics are read.)
    for (const auto& [name, coeff] : {std::pair{"bce", spec_.aux_coeff}, {"aux_router_bce", 1.0}, {"z", spec_.z_coeff}}) {
      auto it = rec.sums.find(name);
      if (it != rec.sums.end()) rec.aux.push_back({name, it->second, coeff});
    }
  }

 private:
  std::vector<RouterParams> nets_;      // one per step
  std::vector<RouterParams> aux_nets_;  // sampling aux_router
};

}  // namespace

std::unique_ptr<Router> make_expert_router(const RoutingSpec& spec, ParamTable& table, int64_t d, double init_std) {
  return std::make_unique<ExpertRouter>(spec, table, d, init_std);
}

}  // namespace mor
