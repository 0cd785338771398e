// Model construction and the unrouted forward pass; see model.h.
#include "model.h"

#include <cstring>

namespace mor {

void split_tokens(const Tensor& tokens, Tensor& inputs, Tensor& targets) {
  MOR_CHECK(tokens.dtype() == DType::I32 && tokens.ndim() == 2 && tokens.dim(1) >= 2,
            "tokens must be i32 [B, T+1], got ", shape_str(tokens.shape()));
  const int64_t B = tokens.dim(0), T = tokens.dim(1) - 1;
  inputs = Tensor::empty({B * T}, DType::I32);
  targets = Tensor::empty({B * T}, DType::I32);
  const int32_t* src = tokens.data<int32_t>();
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(inputs.data<int32_t>() + b * T, src + b * (T + 1), size_t(T) * 4);
    std::memcpy(targets.data<int32_t>() + b * T, src + b * (T + 1) + 1, size_t(T) * 4);
  }
}

Model::Model(const ModelConfig& cfg, DType dtype, ad::TpGroup* tp, Device device)
    : cfg_(cfg),
      tp_(tp),
      plan_(cfg.recursion.sharing, cfg.n_layers, cfg.recursion.num_recursions),
      shape_(LayerShape::from(cfg).split(tp)),
      spec_(resolve_routing(cfg)) {
  declare_parameters();
  router_ = Router::create(spec_, params_, cfg_.d_model, cfg_.init_std);
  if (tp_) params_.set_tp_shard({tp_->shard_index(), tp_->size()});
  params_.finalize(device, dtype);
  build_layer_weights();
}

void Model::declare_parameters() {
  // Global shapes; the table derives each shard's local ones.
  const int64_t d = cfg_.d_model, V = cfg_.vocab_size, f = cfg_.d_ff, D = shape_.head_dim;
  const int64_t q_rows = cfg_.n_heads * D, kv_rows = cfg_.kv_heads() * D;
  const double std = cfg_.init_std;
  auto matrix = [&](const std::string& name, Shape s, int tp_axis, int layer) {
    return params_.add({name, std::move(s), ParamInit::Normal, std, true, tp_axis, layer});
  };
  auto norm = [&](const std::string& name, int layer) {
    return params_.add({name, {d}, ParamInit::Ones, 0, false, -1, layer});
  };
  embed_ = matrix("embed_tokens", {V, d}, 0, -1);
  // Norms are shared with the block (ln_share) or owned by each effective layer.
  const bool own_norms = !cfg_.recursion.ln_share && cfg_.recursion.sharing != "none";
  unique_ids_.resize(size_t(plan_.unique_layers()));
  for (int64_t u = 0; u < plan_.unique_layers(); ++u) {
    const std::string p = "layers." + std::to_string(u) + ".";
    UniqueLayerIds& ids = unique_ids_[size_t(u)];
    const int layer = int(u);
    if (!own_norms) ids.input_norm = norm(p + "input_layernorm", layer);
    ids.q = matrix(p + "self_attn.q_proj", {q_rows, d}, 0, layer);  // q|k|v back to back: fused
    ids.k = matrix(p + "self_attn.k_proj", {kv_rows, d}, 0, layer);
    ids.v = matrix(p + "self_attn.v_proj", {kv_rows, d}, 0, layer);
    ids.o = matrix(p + "self_attn.o_proj", {d, q_rows}, 1, layer);
    if (!own_norms) ids.post_norm = norm(p + "post_attention_layernorm", layer);
    ids.gate = matrix(p + "mlp.gate_proj", {f, d}, 0, layer);  // gate|up back to back: fused
    ids.up = matrix(p + "mlp.up_proj", {f, d}, 0, layer);
    ids.down = matrix(p + "mlp.down_proj", {d, f}, 1, layer);
  }
  if (own_norms) {
    for (int64_t l = 0; l < plan_.effective_layers(); ++l) {
      const std::string p = "norms." + std::to_string(l) + ".";
      norm(p + "input_layernorm", int(plan_.unique_of(l)));
      norm(p + "post_attention_layernorm", int(plan_.unique_of(l)));
    }
  }
  norm_ = norm("norm", -1);
  if (!cfg_.tie_embeddings) head_ = matrix("lm_head", {V, d}, 0, -1);
}

void Model::build_layer_weights() {
  const bool own_norms = !cfg_.recursion.ln_share && cfg_.recursion.sharing != "none";
  // One fused-view set per unique layer, shared by all effective layers that use it.
  std::vector<LayerWeights> unique_w;
  for (const UniqueLayerIds& ids : unique_ids_) {
    LayerWeights w;
    if (!own_norms) {
      w.input_norm = params_.var(ids.input_norm);
      w.post_attn_norm = params_.var(ids.post_norm);
    }
    w.wqkv = params_.view_rows(ids.q, ids.v);
    w.wq = params_.var(ids.q);
    w.wo = params_.var(ids.o);
    w.w_gate_up = params_.view_rows(ids.gate, ids.up);
    w.w_down = params_.var(ids.down);
    unique_w.push_back(w);
  }
  for (int64_t l = 0; l < plan_.effective_layers(); ++l) {
    LayerWeights w = unique_w[size_t(plan_.unique_of(l))];
    if (own_norms) {
      const std::string p = "norms." + std::to_string(l) + ".";
      w.input_norm = params_.var(p + "input_layernorm");
      w.post_attn_norm = params_.var(p + "post_attention_layernorm");
    }
    layer_w_.push_back(w);
  }
}

ad::Var Model::run_step(int64_t r, const ad::Var& x, const ad::SeqLayout& layout,
                        std::vector<LayerKV>& first_kv) {
  const bool share = spec_.share_kv();
  ad::Var h = x;
  const auto layers = plan_.step_layers(r);
  for (size_t j = 0; j < layers.size(); ++j) {
    const LayerWeights& w = layer_w_[size_t(layers[j])];
    if (share && r > 0) {
      ReuseKv kv(first_kv[j]);
      h = layer_forward(h, layout, w, shape_, &kv);
    } else if (share) {
      RecordKv kv(first_kv[j]);
      h = layer_forward(h, layout, w, shape_, &kv);
    } else {
      h = layer_forward(h, layout, w, shape_);
    }
  }
  return h;
}

ForwardResult Model::forward(const Tensor& tokens, const ForwardContext& ctx) {
  Tensor inputs, targets;
  split_tokens(tokens, inputs, targets);  // on the host
  // Token ids are checked once here, where they enter the model (the ops do not scan them again).
  {
    const int32_t* t = tokens.data<int32_t>();
    for (int64_t i = 0; i < tokens.numel(); ++i)
      if (t[i] < 0 || t[i] >= cfg_.vocab_size)
        fail_input("token id ", t[i], " at position ", i, " of the batch is outside [0, ", cfg_.vocab_size,
                   "). Hint: the data's vocabulary must match model.vocab_size.");
  }
  const Device dev = device();
  if (!dev.is_cpu()) inputs = inputs.to(dev), targets = targets.to(dev);  // uploads
  const int64_t B = tokens.dim(0), T = tokens.dim(1) - 1;
  const ad::SeqLayout layout = ad::SeqLayout::dense(B, T, dev);
  ForwardResult res;
  res.tokens = B * T;
  std::vector<AuxTerm> aux;

  // [B*T, d]; vocab-parallel: each member looks up its rows of the vocabulary, the sum is the lookup.
  ad::Var x = embed(inputs);
  if (plan_.has_middle()) x = layer_forward(x, layout, layer_w_.front(), shape_);
  if (router_) {
    x = routed_recursions(x, layout, T, ctx, res, aux);
  } else {
    std::vector<LayerKV> first_kv(size_t(plan_.base_depth()));
    for (int64_t r = 0; r < plan_.num_recursions(); ++r) x = run_step(r, x, layout, first_kv);
  }
  if (plan_.has_middle()) x = layer_forward(x, layout, layer_w_.back(), shape_);
  x = final_norm(x);
  if (ctx.return_hidden) res.hidden = x->value;

  const int head_id = head_ >= 0 ? head_ : embed_;
  const ad::Var& head = params_.var(head_id);
  // Every target is a valid id (checked above), so the default normaliser is the token count: the
  // loss op need not count valid rows on the host.
  const double norm = ctx.loss_normalizer > 0 ? ctx.loss_normalizer : double(res.tokens);
  res.loss = tp_ ? ad::classifier_cross_entropy_vocab_parallel(ad::copy_to_tp_region(x, *tp_), head, targets,
                                                               {tp_, params_.shard_begin(head_id), cfg_.vocab_size},
                                                               norm)
                 : ad::classifier_cross_entropy(x, head, targets, norm);
  res.lm_loss = res.loss->value.item() * norm / double(res.tokens);
  for (const AuxTerm& a : aux) {
    // Logged values are per micro-batch means (undo the 1/micro_batches normalisation).
    res.aux[a.name] += a.value->value.item() * double(std::max<int64_t>(ctx.micro_batches, 1));
    if (a.coeff != 0) res.loss = ad::add(res.loss, ad::scale(a.value, a.coeff));
  }
  return res;
}

ad::Var Model::embed(const Tensor& ids) const {
  // [n, d]; vocab-parallel: each member looks up its rows of the vocabulary, the sum is the lookup.
  return tp_ ? ad::reduce_from_tp_region(
                   ad::embedding_shard(params_.var(embed_), ids, params_.shard_begin(embed_), cfg_.vocab_size), *tp_)
             : ad::embedding(params_.var(embed_), ids);
}

ad::Var Model::final_norm(const ad::Var& x) const { return ad::rmsnorm(x, params_.var(norm_), cfg_.norm_eps); }

Tensor Model::logits(const Tensor& hidden) const {
  ad::NoGradScope no_grad;
  const Tensor local = ad::linear(ad::make_var(hidden), params_.var(head_ >= 0 ? head_ : embed_))->value;  // [n, V/tp]
  if (!tp_) return local;
  const int t = tp_->size();
  const int64_t n = local.dim(0), vl = local.dim(1);
  // Gathered and interleaved on the host (an inference helper; explicit copies off the CPU).
  const Tensor local_host = local.host();
  Tensor parts = Tensor::empty({t, n, vl}, local.dtype());
  tp_->all_gather(local_host, parts);
  Tensor out = Tensor::empty({n, vl * t}, local.dtype());  // member k's columns are [k*vl, (k+1)*vl)
  const size_t es = dtype_size(local.dtype()), row = size_t(vl) * es;
  for (int k = 0; k < t; ++k)
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char*>(out.raw()) + (size_t(i) * size_t(t) + size_t(k)) * row,
                  static_cast<const char*>(parts.raw()) + (size_t(k) * size_t(n) + size_t(i)) * row, row);
  return local.device().is_cpu() ? out : out.to(local.device());
}

}  // namespace mor

