// Token-choice MoR forward (MOR.md section 4, as the upstream code does it): one router reads
// H^1 (the input of the first recursion) and gives each token a depth i_t = argmax_j (p + b)_j;
// recursion r runs the tokens with i_t >= r (nested active sets, attention among them at their
// original positions); a token leaving at r outputs H^1 + g_t F_t with g_t = p_{t, i_t}; tokens that
// continue take F_t ungated. Option gate_every_step: x <- x + g_t F_t at every step (paper eq. 2.2).
#include <cmath>

#include "model.h"
#include "routing_resolved.h"
#include "routing_util.h"

namespace mor {

ad::Var Model::token_forward(const ad::Var& h1, const ad::SeqLayout& full, const ForwardContext& ctx,
                             ForwardResult& res, std::vector<AuxTerm>& aux) {
  const MoRConfig& m = cfg_.mor;
  const int64_t nr = plan_.num_recursions(), n = full.rows(), S = full.n_seq();
  const ResolvedRouting rr = resolve_routing(cfg_);
  const std::string& func = rr.router_func;
  const double alpha = rr.alpha;
  const bool training_losses = ctx.training;  // auxiliary losses are part of the training objective
  const double micro = double(std::max<int64_t>(ctx.micro_batches, 1));

  // Router probabilities p [n, N_r].
  ad::Var xin = m.temp != 1.0 ? ad::scale(h1, 1.0 / m.temp) : h1;
  ad::Var z = router_logits(params_, routers_[0], xin);
  ad::Var p = ad::scale(func == "softmax" ? ad::softmax(z) : ad::sigmoid(z), alpha);

  // Depth per token (no gradient): argmax of p + bias; everyone at max depth during warm-up.
  const bool warmup = ctx.training && ctx.step < m.bal_warmup_steps;
  std::vector<int32_t> depth(static_cast<size_t>(n));
  std::vector<int32_t> gate_index(static_cast<size_t>(n));
  const std::vector<double> pv = p->value.to_dtype(DType::F64).to_vector<double>();
  std::vector<double> bias(static_cast<size_t>(nr), 0.0);
  if (router_bias_ >= 0) bias = params_.var(router_bias_)->value.to_dtype(DType::F64).to_vector<double>();
  for (int64_t t = 0; t < n; ++t) {
    int32_t best = int32_t(nr - 1);
    if (!warmup) {
      best = 0;
      double bv = pv[size_t(t * nr)] + bias[0];
      for (int64_t j = 1; j < nr; ++j) {
        const double v = pv[size_t(t * nr + j)] + bias[size_t(j)];
        if (v > bv) bv = v, best = int32_t(j);
      }
    }
    depth[size_t(t)] = best;
    gate_index[size_t(t)] = int32_t(t * nr + best);
  }
  res.routing.depth = to_i32(depth);
  // g_t = p[t, i_t] (from the unbiased p), as a differentiable [n] vector.
  ad::Var gate = ad::reshape(ad::gather_rows(ad::reshape(p, {n * nr, 1}), to_i32(gate_index)), {n});

  // Nested active sets and the recursion loop.
  std::vector<LayerKV> first_kv(size_t(plan_.base_depth()));
  RoutingStats& st = res.routing;
  st.total_tokens = n;
  st.depth_histogram.assign(size_t(nr), 0);
  for (int32_t dv : depth) ++st.depth_histogram[size_t(dv)];
  ad::Var out = h1;
  ad::Var x = h1;                 // rows of the current active set
  std::vector<int32_t> active(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) active[size_t(t)] = int32_t(t);
  ad::SeqLayout active_layout = full;
  for (int64_t r = 0; r < nr; ++r) {
    st.tokens_per_step.push_back(int64_t(active.size()));
    double score = 0;
    for (int32_t t : active) score += pv[size_t(int64_t(t) * nr + r)];
    st.mean_score.push_back(active.empty() ? 0.0 : score / double(active.size()));
    if (active.empty()) break;
    const Tensor active_rows = to_i32(active);
    if (tp_) tp_->check_identical(active_rows, routing_context(ctx, r) + ": token-choice active rows");
    ad::Var f = run_step(r, x, active_layout, first_kv);  // [|A_r|, d]
    // Split the active rows into exits (depth == r) and continuers (depth > r).
    std::vector<int32_t> exit_local, exit_rows, cont_local, cont_rows;
    std::vector<int64_t> cont_counts(size_t(S), 0);
    const int64_t* off = full.offsets.data<int64_t>();
    for (size_t i = 0; i < active.size(); ++i) {
      const int32_t t = active[i];
      if (depth[size_t(t)] == r) {
        exit_local.push_back(int32_t(i));
        exit_rows.push_back(t);
      } else {
        cont_local.push_back(int32_t(i));
        cont_rows.push_back(t);
        int64_t s = std::upper_bound(off, off + S + 1, int64_t(t)) - off - 1;
        ++cont_counts[size_t(s)];
      }
    }
    ad::Var next = f;  // state of the active rows after this step
    if (m.gate_every_step)
      next = ad::add(x, ad::scale_rows(f, ad::gather_rows(gate, active_rows)));
    if (!exit_local.empty()) {
      const Tensor el = to_i32(exit_local), er = to_i32(exit_rows);
      ad::Var fe = ad::gather_rows(next, el);
      if (m.gate_every_step)
        out = ad::scatter_rows(out, er, fe);
      else if (m.gating == "weighted")
        out = ad::scatter_add_rows(out, er, ad::scale_rows(fe, ad::gather_rows(gate, er)));
      else if (m.gating == "additive")
        out = ad::scatter_add_rows(out, er, fe);
      else
        out = ad::scatter_rows(out, er, fe);
    }
    if (cont_local.empty()) break;
    x = ad::gather_rows(next, to_i32(cont_local));
    active = cont_rows;
    active_layout = subset_layout(to_i32(active), cont_counts, full);
  }
  while (int64_t(st.tokens_per_step.size()) < nr) st.tokens_per_step.push_back(0), st.mean_score.push_back(0.0);

  // Load statistics and the per-depth counts for loss-free balancing.
  double mean_load = double(n) / double(nr), max_load = 0;
  for (int64_t j = 0; j < nr; ++j) max_load = std::max(max_load, double(st.depth_histogram[size_t(j)]));
  st.maxvio = (max_load - mean_load) / mean_load;
  if (ctx.training)
    for (int64_t j = 0; j < nr; ++j) depth_counts_[size_t(j)] += double(st.depth_histogram[size_t(j)]);

  if (training_losses) {
    const double norm = double(n) * micro;
    if (m.balancing == "loss") {
      // L_bal = sum_j f_j P_j, f_j = N_r * count_j / n (constant), P_j = mean_t p_tj.
      std::vector<double> fj(static_cast<size_t>(n * nr));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < nr; ++j)
          fj[size_t(t * nr + j)] = double(nr) * double(st.depth_histogram[size_t(j)]) / double(n);
      ad::Var f = ad::make_var(Tensor::from_vector(fj, {n, nr}).to_dtype(p->value.dtype()));
      aux.push_back({"balance", ad::scale(ad::sum(ad::mul(p, f)), 1.0 / norm), m.bal_coeff});
    }
    if (m.z_coeff > 0) {
      ad::Var lse = ad::logsumexp(z);
      aux.push_back({"z", ad::scale(ad::sum(ad::mul(lse, lse)), 1.0 / norm), m.z_coeff});
    }
  }
  return out;
}

}  // namespace mor
