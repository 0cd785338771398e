// Token-choice routing (MOR.md section 4, as the upstream code does it): one router reads H^1 (the
// input of the first recursion) and gives each token a depth i_t = argmax_j (p + b)_j; step r runs
// the tokens with i_t >= r (nested active sets); a token leaving at r outputs H^1 + g_t F_t with
// g_t = p_{t, i_t}; tokens that continue take F_t ungated. Option gate_every_step: x <- x + g_t F_t
// at every step (paper eq. 2.2). Balancing: loss sum_j f_j P_j, or the loss-free bias b.
#include <algorithm>
#include <cmath>

#include "router.h"
#include "routing_util.h"

namespace mor {
namespace {

class TokenRouter final : public Router {
 public:
  TokenRouter(const RoutingSpec& spec, ParamTable& table, int64_t d, double init_std) : Router(spec, table) {
    const int64_t nr = spec.num_recursions;
    net_ = declare_router(table, "router", d, nr, spec.router_arch, init_std, "main");
    if (spec.balancing == Balancing::LossFree) {
      ParamSpec bias{"router_bias", {nr}, ParamInit::Zeros, 0, false, -1, -1};
      bias.trainable = false;
      bias_ = table.add(bias);
    }
    depth_counts_.assign(size_t(nr), 0.0);
  }

  RouteRows begin(const ad::Var& h1, const ForwardContext& ctx, RouteRecord& rec) override {
    const int64_t nr = spec_.num_recursions, n = h1->value.dim(0);
    // Router probabilities p [n, N_r].
    ad::Var z = router_logits(table_, net_, router_input(h1));
    ad::Var p = ad::scale(spec_.router_func == RouterFunc::Softmax ? ad::softmax(z) : ad::sigmoid(z), spec_.alpha);

    // Depth per token (no gradient): argmax of p + bias; everyone at max depth during warm-up.
    const bool warmup = ctx.training && ctx.step < spec_.bal_warmup_steps;
    std::vector<int32_t> depth(static_cast<size_t>(n)), gate_index(static_cast<size_t>(n));
    const std::vector<double> pv = p->value.to_dtype(DType::F64).to_vector<double>();
    const std::vector<double> bias = bias_values();
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
    RouteRows rows;
    rows.depth = to_i32(depth);
    rows.probs = p->value;
    // g_t = p[t, i_t] (from the unbiased p), as a differentiable [n] vector.
    rows.gate = ad::reshape(ad::gather_rows(ad::reshape(p, {n * nr, 1}), to_i32(gate_index)), {n});

    RoutingStats& st = rec.stats;
    st.depth = rows.depth;
    std::vector<int64_t> hist(size_t(nr), 0);
    for (int32_t dv : depth) ++hist[size_t(dv)];
    double max_load = 0;
    for (int64_t h : hist) max_load = std::max(max_load, double(h));
    const double mean_load = double(n) / double(nr);
    st.maxvio = n ? (max_load - mean_load) / mean_load : 0.0;
    if (ctx.training)
      for (int64_t j = 0; j < nr; ++j) depth_counts_[size_t(j)] += double(hist[size_t(j)]);

    if (ctx.training) {  // the losses are recorded after the recursions (finish), as before
      rec.saved["p"] = p;
      rec.saved["z"] = z;
      rec.saved["hist"] = ad::make_var(Tensor::from_vector(hist, {nr}));
      rec.saved["norm"] = ad::make_var(Tensor::full({1}, double(std::max<int64_t>(ctx.micro_batches, 1)), DType::F64));
    }
    return rows;
  }

  StepChoice select(int64_t r, const ad::Var&, const RouteRows& rows, const ad::SeqLayout& layout, int64_t,
                    const ForwardContext&, RouteRecord&) override {
    // Every remaining row runs step r (rows leave after their depth's step, in combine()).
    StepChoice c;
    const int64_t m = layout.rows(), nr = spec_.num_recursions;
    c.run = all_rows(m);
    c.counts = layout_counts(layout);
    double score = 0;
    const Tensor p = rows.probs.to_dtype(DType::F64);
    for (int64_t t = 0; t < m; ++t) score += p.data<double>()[t * nr + r];
    c.mean_score = m ? score / double(m) : 0.0;
    return c;
  }

  StepOutcome combine(int64_t r, const ad::Var& x, const ad::Var& f, const RouteRows& rows, const ad::Var&) const override {
    std::vector<int32_t> exits, stays;
    const int32_t* depth = rows.depth.data<int32_t>();
    for (int64_t i = 0; i < rows.depth.numel(); ++i) (depth[i] == r ? exits : stays).push_back(int32_t(i));
    StepOutcome o;
    ad::Var next = f;  // state of the rows after this step
    if (spec_.gate_every_step) next = ad::add(x, ad::scale_rows(f, rows.gate));
    if (!exits.empty()) {
      o.out_rows = to_i32(exits);
      ad::Var fe = ad::gather_rows(next, o.out_rows);
      if (spec_.gate_every_step) o.out_update = fe, o.add = false;
      else if (spec_.gating == Gating::Weighted) o.out_update = ad::scale_rows(fe, ad::gather_rows(rows.gate, o.out_rows));
      else if (spec_.gating == Gating::Additive) o.out_update = fe;  // added to H^1
      else o.out_update = fe, o.add = false;
    }
    if (!stays.empty()) {
      o.stays = to_i32(stays);
      o.next = ad::gather_rows(next, o.stays);
    }
    return o;
  }

  void finish(const ad::SeqLayout&, int64_t, RouteRecord& rec) const override {
    if (!rec.saved.count("p")) return;  // not training
    const ad::Var p = rec.saved.at("p"), z = rec.saved.at("z");
    const std::vector<int64_t> hist = rec.saved.at("hist")->value.to_vector<int64_t>();
    const int64_t n = p->value.dim(0), nr = spec_.num_recursions;
    const double norm = double(n) * rec.saved.at("norm")->value.item();
    if (spec_.balancing == Balancing::Loss) {
      // L_bal = sum_j f_j P_j, f_j = N_r * count_j / n (constant), P_j = mean_t p_tj.
      std::vector<double> fj(static_cast<size_t>(n * nr));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < nr; ++j) fj[size_t(t * nr + j)] = double(nr) * double(hist[size_t(j)]) / double(n);
      ad::Var f = ad::make_var(Tensor::from_vector(fj, {n, nr}).to_dtype(p->value.dtype()));
      rec.aux.push_back({"balance", ad::scale(ad::sum(ad::mul(p, f)), 1.0 / norm), spec_.bal_coeff});
    }
    if (spec_.z_coeff > 0) {
      ad::Var lse = ad::logsumexp(z);
      rec.aux.push_back({"z", ad::scale(ad::sum(ad::mul(lse, lse)), 1.0 / norm), spec_.z_coeff});
    }
  }

  std::vector<double> take_depth_counts() override {
    std::vector<double> c = depth_counts_;
    std::fill(depth_counts_.begin(), depth_counts_.end(), 0.0);
    return c;
  }

  void update_bias(const std::vector<double>& counts) override {
    if (bias_ < 0) return;
    double total = 0;
    for (double c : counts) total += c;
    if (total <= 0) return;
    const int64_t nr = int64_t(counts.size());
    Tensor& bias = table_.var(bias_)->value;
    std::vector<double> b = bias.to_dtype(DType::F64).to_vector<double>();
    for (int64_t j = 0; j < nr; ++j) {
      const double ratio = counts[size_t(j)] / total;
      const double e = 1.0 / double(nr) - ratio;  // mean(ratio) = 1 / N_r
      b[size_t(j)] += spec_.bias_update_rate * double((e > 0) - (e < 0));
    }
    bias.copy_from(Tensor::from_vector(b, {nr}).to_dtype(bias.dtype()));
  }

  std::vector<double> bias_values() const override {
    if (bias_ < 0) return std::vector<double>(size_t(spec_.num_recursions), 0.0);
    return table_.var(bias_)->value.to_dtype(DType::F64).to_vector<double>();
  }

 private:
  RouterParams net_;
  int bias_ = -1;                      // loss_free: non-trainable bias [N_r]
  std::vector<double> depth_counts_;   // counts since take_depth_counts()
};

}  // namespace

std::unique_ptr<Router> make_token_router(const RoutingSpec& spec, ParamTable& table, int64_t d, double init_std) {
  return std::make_unique<TokenRouter>(spec, table, d, init_std);
}

}  // namespace mor
