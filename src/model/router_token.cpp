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

    // Depth per token (no gradient, on the device): argmax of p + bias; everyone at max depth
    // during warm-up.
    const bool warmup = ctx.training && ctx.step < spec_.bal_warmup_steps;
    const ad::TokenDepths td = ad::token_depths(p->value, bias_ >= 0 ? table_.var(bias_)->value : Tensor(), warmup);
    RouteRows rows;
    rows.depth = td.depth;
    rows.probs = p->value;
    // g_t = p[t, i_t] (from the unbiased p), as a differentiable [n] vector.
    rows.gate = ad::reshape(ad::gather_rows(ad::reshape(p, {n * nr, 1}), td.gate_index), {n});
    // The depth histogram: the forward's one host round trip of the depths (counts only).
    const std::vector<int64_t> hist = n ? ad::depth_counts({n}, nr, td.depth) : std::vector<int64_t>(size_t(nr), 0);

    RoutingStats& st = rec.stats;
    st.depth = rows.depth;
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
    c.run = ad::iota_rows(layout.rows(), rows.depth.device());
    c.counts = layout_counts(layout);
    c.score = rows.probs;  // column r averaged when the statistics are read
    c.score_column = r;
    return c;
  }

  StepOutcome combine(int64_t r, const ad::Var& x, const ad::Var& f, const RouteRows& rows, const ad::Var&,
                      const std::vector<int64_t>& run_counts) const override {
    // The run rows all have depth >= r: those at r leave, the others stay. Counts per sequence from
    // the host round trip; the rows themselves are split on the device.
    const int64_t nr = spec_.num_recursions, S = int64_t(run_counts.size());
    const std::vector<int64_t> counts = ad::depth_counts(run_counts, nr, rows.depth);
    int64_t n_exit = 0;
    StepOutcome o;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t e = counts[size_t(s * nr + r)];
      n_exit += e;
      o.stays_counts.push_back(run_counts[size_t(s)] - e);
    }
    const ad::DepthSplit split = ad::split_by_depth(rows.depth, int32_t(r), n_exit);
    const int64_t n_stay = rows.depth.numel() - n_exit;
    ad::Var next = f;  // state of the rows after this step
    if (spec_.gate_every_step) next = ad::add(x, ad::scale_rows(f, rows.gate));
    if (n_exit > 0) {
      o.out_rows = split.exits;
      ad::Var fe = ad::gather_rows(next, o.out_rows);
      if (spec_.gate_every_step) o.out_update = fe, o.add = false;
      else if (spec_.gating == Gating::Weighted) o.out_update = ad::scale_rows(fe, ad::gather_rows(rows.gate, o.out_rows));
      else if (spec_.gating == Gating::Additive) o.out_update = fe;  // added to H^1
      else o.out_update = fe, o.add = false;
    }
    if (n_stay > 0) {
      o.stays = split.stays;
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
      ad::Var f = ad::make_var(Tensor::from_vector(fj, {n, nr}).to_dtype(p->value.dtype()).to(p->value.device()));
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
