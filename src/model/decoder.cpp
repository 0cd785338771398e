// Incremental decoding; see decoder.h.
#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "routing_util.h"

namespace mor {

Decoder::Decoder(const Model& model, std::string selection)
    : model_(model), selection_(std::move(selection)), caches_(size_t(model.plan().effective_layers())) {
  if (model.tp_group())  // the decoder's layers are unsharded: generation runs in one process
    fail_internal("Decoder needs a whole model (load the checkpoint without tensor parallelism).");
  if (selection_ != "threshold" && selection_ != "all")
    fail_input("decoder selection '", selection_, "': use threshold or all.");
  stats_.tokens_per_step.assign(size_t(model.plan().num_recursions()), 0);
}

ad::Var Decoder::run_layer(int64_t l, const ad::Var& x, Cache* own, const Cache* shared) {
  const LayerShape& s = model_.layer_shape();
  const LayerWeights& w = model_.layer_weights(l);
  const int64_t Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  ad::SeqLayout q_layout;
  q_layout.offsets = Tensor::from_vector(std::vector<int64_t>{0, 1}, {2});
  q_layout.positions = Tensor::from_vector(std::vector<int32_t>{int32_t(pos_)}, {1});
  ad::Var h = ad::rmsnorm(x, w.input_norm, s.norm_eps);
  ad::Var q;
  const Cache* kv = shared;
  if (!shared) {
    ad::Var qkv = ad::rope(ad::reshape(ad::linear(h, w.wqkv), {1, Hq + 2 * Hkv, D}), q_layout.positions, Hq + Hkv,
                           s.rope_theta);
    const float* row = qkv->value.data<float>() + Hq * D;  // K then V heads of this token
    own->kv.insert(own->kv.end(), row, row + 2 * Hkv * D);
    own->positions.push_back(int32_t(pos_));
    q = qkv;
    kv = own;
  } else {
    q = ad::rope(ad::reshape(ad::linear(h, w.wq), {1, Hq, D}), q_layout.positions, Hq, s.rope_theta);
  }
  const int64_t n = int64_t(kv->positions.size());
  ad::SeqLayout kv_layout;
  kv_layout.offsets = Tensor::from_vector(std::vector<int64_t>{0, n}, {2});
  kv_layout.positions = Tensor::wrap(const_cast<int32_t*>(kv->positions.data()), {n}, DType::I32, Device::cpu());
  ad::Var cache = ad::make_var(Tensor::wrap(const_cast<float*>(kv->kv.data()), {n, 2 * Hkv, D}, DType::F32, Device::cpu()));
  ad::Var att = ad::attention({q, 0, Hq}, {cache, 0, Hkv}, {cache, Hkv, Hkv}, q_layout, kv_layout);
  ad::Var a = ad::add(x, ad::linear(ad::reshape(att, {1, Hq * D}), w.wo));
  ad::Var m = ad::linear(ad::swiglu(ad::linear(ad::rmsnorm(a, w.post_attn_norm, s.norm_eps), w.w_gate_up)), w.w_down);
  return ad::add(a, m);
}

Tensor Decoder::step(int32_t token) {
  ad::NoGradScope no_grad;
  const ModelConfig& cfg = model_.config();
  const SharingPlan& plan = model_.plan();
  const int64_t nr = plan.num_recursions();
  const bool share = model_.routing().share_kv();
  ad::Var x = model_.embed(to_i32({token}));  // [1, d]
  if (plan.has_middle()) x = run_layer(0, x, &caches_[0], nullptr);
  auto run_step = [&](int64_t r, const ad::Var& in) {
    ad::Var h = in;
    const auto layers = plan.step_layers(r);
    for (size_t j = 0; j < layers.size(); ++j) {
      const int64_t l = layers[j];
      h = share && r > 0 ? run_layer(l, h, nullptr, &caches_[size_t(plan.step_layers(0)[j])])
                         : run_layer(l, h, &caches_[size_t(l)], nullptr);
    }
    ++stats_.tokens_per_step[size_t(r)];
    return h;
  };
  Router* router = model_.router();
  if (router) {
    // The model's router on this one row: expert-choice by the causal threshold (or every step
    // with selection "all"), token-choice by its depth.
    ForwardContext ctx;
    ctx.training = false;
    ctx.selection = selection_ == "all" ? Selection::TopK : Selection::Threshold;
    RoutingStats st;
    std::vector<AuxTerm> aux;
    RouteRecord rec{st, aux, {}, {}};
    const ad::SeqLayout one = ad::SeqLayout::dense(1, 1);
    ad::Var out = x, in = x;
    RouteRows rows = router->begin(x, ctx, rec);
    for (int64_t r = 0; r < nr; ++r) {
      const StepChoice c = router->select(r, in, rows, one, 1, ctx, rec);
      if (c.run.numel() == 0) break;
      const ad::Var f = run_step(r, in);
      const StepOutcome o = router->combine(r, in, f, rows, c.gate);
      if (o.out_rows.defined() && o.out_rows.numel() > 0) out = o.add ? ad::add(out, o.out_update) : o.out_update;
      if (!o.stays.defined() || o.stays.numel() == 0) break;
      in = o.next ? o.next : out;
    }
    x = out;
  } else {
    for (int64_t r = 0; r < nr; ++r) x = run_step(r, x);
  }
  if (plan.has_middle()) x = run_layer(plan.effective_layers() - 1, x, &caches_[size_t(plan.effective_layers() - 1)], nullptr);
  x = model_.final_norm(x);
  ++pos_;
  ++stats_.tokens;
  return model_.logits(x->value).reshape({cfg.vocab_size});
}

std::vector<int32_t> generate(Decoder& decoder, const std::vector<int32_t>& prompt, const SampleOptions& o) {
  MOR_CHECK(!prompt.empty(), "generate needs at least one prompt token");
  Tensor logits;
  for (int32_t t : prompt) logits = decoder.step(t);
  Rng rng(o.seed, "sampling");
  std::vector<int32_t> out;
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    std::vector<float> z = logits.to_vector<float>();
    int32_t next = 0;
    if (o.temperature <= 0) {
      next = int32_t(std::max_element(z.begin(), z.end()) - z.begin());
    } else {
      std::vector<int32_t> idx(z.size());
      for (size_t k = 0; k < idx.size(); ++k) idx[k] = int32_t(k);
      size_t keep = o.top_k > 0 ? std::min<size_t>(size_t(o.top_k), idx.size()) : idx.size();
      std::partial_sort(idx.begin(), idx.begin() + long(keep), idx.end(), [&](int32_t a, int32_t b) { return z[size_t(a)] > z[size_t(b)]; });
      const double mx = z[size_t(idx[0])];
      std::vector<double> w(keep);
      double total = 0;
      for (size_t k = 0; k < keep; ++k) total += (w[k] = std::exp((double(z[size_t(idx[k])]) - mx) / o.temperature));
      double u = rng.uniform() * total;
      next = idx[keep - 1];
      for (size_t k = 0; k < keep; ++k) {
        if ((u -= w[k]) <= 0) {
          next = idx[k];
          break;
        }
      }
    }
    out.push_back(next);
    if (o.on_token) o.on_token(next);
    if (next == o.stop_token || i + 1 == o.max_new_tokens) break;
    logits = decoder.step(next);
  }
  return out;
}

}  // namespace mor
