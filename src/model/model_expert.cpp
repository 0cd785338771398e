// Expert-choice MoR forward (MOR.md section 3): per recursion step r, the step's own router scores
// the previous step's survivors, each sequence keeps its top k_r = max(1, floor(c_r T)) (sorted by
// position), only those rows are gathered and run through the shared block (attention among
// them, at their original positions), and the result is scattered back: x <- x + g * f(x).
#include <cmath>
#include <set>

#include "model.h"
#include "routing_resolved.h"
#include "routing_util.h"
#include "src/autodiff/profiler.h"

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

// The router activation: sigmoid / tanh / none (identity).
ad::Var activate(const ad::Var& logits, const std::string& func) {
  if (func == "tanh") return ad::tanh(logits);
  if (func == "none") return logits;
  return ad::sigmoid(logits);
}

}  // namespace

ad::Var Model::expert_forward(ad::Var h, const ad::SeqLayout& full, int64_t T, const ForwardContext& ctx,
                              ForwardResult& res, std::vector<AuxTerm>& aux) {
  const MoRConfig& m = cfg_.mor;
  const int64_t nr = plan_.num_recursions(), S = full.n_seq();
  const ResolvedRouting rr = resolve_routing(cfg_);
  const std::string& func = rr.router_func;
  const double alpha = rr.alpha;  // 1.0 for router_func none: the raw logit is the gate
  const double threshold = rr.threshold;
  const std::string mode = !ctx.selection.empty() ? ctx.selection : (ctx.training ? "topk" : m.eval_selection);
  const bool training_losses = ctx.training;  // auxiliary losses are part of the training objective
  const double micro = double(std::max<int64_t>(ctx.micro_batches, 1));
  const std::vector<double>& caps = rr.capacity;

  Tensor cand;                  // global rows of the candidates (all rows at step 0)
  ad::SeqLayout cand_layout = full;
  std::vector<LayerKV> first_kv(size_t(plan_.base_depth()));
  RoutingStats& st = res.routing;
  st.total_tokens = full.rows();
  ad::Var bce_sum, z_sum, aux_router_sum;
  auto accumulate = [](ad::Var& acc, const ad::Var& v) { acc = acc ? ad::add(acc, v) : v; };

  for (int64_t r = 0; r < nr; ++r) {
    const int64_t mrows = cand_layout.rows();
    ad::Var xc = r == 0 ? h : ad::gather_rows(h, cand);
    ad::Var xin = m.temp != 1.0 ? ad::scale(xc, 1.0 / m.temp) : xc;

    // Scores and gates over the candidates.
    ad::Var logits, score, gate;
    if (m.rand_router) {
      std::vector<double> u(static_cast<size_t>(mrows));
      MOR_CHECK(ctx.rng, "rand_router needs ForwardContext::rng");
      for (double& x : u) x = ctx.rng->uniform();
      score = ad::make_var(Tensor::from_vector(u, {mrows}).to_dtype(h->value.dtype()));
      gate = ad::scale(score, alpha);
    } else {
      logits = ad::reshape(router_logits(params_, routers_[size_t(r)], xin), {mrows});
      score = activate(logits, func);
      gate = alpha == 1.0 ? score : ad::scale(score, alpha);
    }
    // The score the causal (threshold) rule reads: the aux router's when there is one.
    ad::Var aux_logits;
    if (!aux_routers_.empty()) {
      ad::Var detached = ad::make_var(xin->value);  // no gradient into the trunk
      aux_logits = ad::reshape(router_logits(params_, aux_routers_[size_t(r)], detached), {mrows});
    }

    // Selection (no gradient): top-k per sequence, or threshold per token.
    Tensor sel_local;
    std::vector<int64_t> counts(static_cast<size_t>(S));
    const double c_eff = effective_capacity(caps[size_t(r)], ctx, m.cap_warmup_steps);
    if (mode == "threshold" && caps[size_t(r)] < 1.0) {
      const std::vector<double> sv = (aux_logits ? aux_logits->value : score->value).to_dtype(DType::F64).to_vector<double>();
      const double thr = aux_logits ? 0.0 : threshold;  // aux router: sigmoid(logit) >= 0.5
      std::vector<int32_t> keep;
      const int64_t* off = cand_layout.offsets.data<int64_t>();
      for (int64_t s = 0; s < S; ++s) {
        const size_t before = keep.size();
        for (int64_t i = off[s]; i < off[s + 1]; ++i)
          if (sv[size_t(i)] >= thr) keep.push_back(int32_t(i));
        counts[size_t(s)] = int64_t(keep.size() - before);
      }
      sel_local = to_i32(keep);
    } else {
      const auto cc = layout_counts(cand_layout);
      for (int64_t s = 0; s < S; ++s)
        counts[size_t(s)] = std::min<int64_t>(cc[size_t(s)], std::max<int64_t>(1, int64_t(std::floor(c_eff * double(T)))));
      sel_local = ad::topk_per_sequence(gate->value, cand_layout, counts);
    }
    const Tensor sel = r == 0 ? sel_local : take_i32(cand, sel_local);  // global rows
    if (tp_) tp_->check_identical(sel, routing_context(ctx, r) + ": expert-choice selected rows");
    const ad::SeqLayout sel_layout = subset_layout(sel, counts, full);

    // Statistics.
    double mean_score = 0;
    for (double v : score->value.to_dtype(DType::F64).to_vector<double>()) mean_score += v;
    st.tokens_per_step.push_back(sel.numel());
    st.selected.push_back(sel);
    st.mean_score.push_back(mrows ? mean_score / double(mrows) : 0.0);

    // Auxiliary losses on the router logits (training only).
    if (training_losses && (logits || aux_logits)) {
      Tensor target = Tensor::zeros({mrows}, DType::F64);
      for (int64_t i = 0; i < sel_local.numel(); ++i) target.data<double>()[sel_local.data<int32_t>()[i]] = 1.0;
      const double norm = double(std::max<int64_t>(mrows, 1)) * micro;
      if (logits && m.sampling == "aux_loss" && !m.rand_router) accumulate(bce_sum, ad::bce_with_logits(logits, target, norm));
      if (aux_logits) accumulate(aux_router_sum, ad::bce_with_logits(aux_logits, target, norm));
      if (logits && m.z_coeff > 0) accumulate(z_sum, ad::scale(ad::sum(ad::mul(logits, logits)), 1.0 / norm));
    }

    // Run the shared block on the selected rows only, then scatter back.
    if (sel.numel() > 0) {
      ad::Var xs = ad::gather_rows(h, sel);
      ad::Var f = run_step(r, xs, sel_layout, first_kv);
      if (m.gating == "weighted")
        h = ad::scatter_add_rows(h, sel, ad::scale_rows(f, ad::gather_rows(gate, sel_local)));
      else if (m.gating == "additive")
        h = ad::scatter_add_rows(h, sel, f);
      else  // none: selected rows take f(x) (equals the Recursive model at capacity 1)
        h = ad::scatter_rows(h, sel, f);
    }
    cand = sel;
    cand_layout = sel_layout;
  }

  // Dead ratio: positions that no sequence selected at the last step.
  std::set<int32_t> alive;
  for (int64_t i = 0; i < cand_layout.rows(); ++i) alive.insert(cand_layout.positions.data<int32_t>()[i]);
  st.dead_ratio = 1.0 - double(alive.size()) / double(T);
  st.depth_histogram.assign(size_t(nr), 0);
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t next = r + 1 < nr ? st.tokens_per_step[size_t(r + 1)] : 0;
    st.depth_histogram[size_t(r)] = st.tokens_per_step[size_t(r)] - next;
  }
  if (bce_sum) aux.push_back({"bce", bce_sum, m.aux_coeff});
  if (aux_router_sum) aux.push_back({"aux_router_bce", aux_router_sum, 1.0});
  if (z_sum) aux.push_back({"z", z_sum, m.z_coeff});
  return h;
}

}  // namespace mor
