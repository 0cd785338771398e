// Llama decoder layer; see llama_layer.h.
#include "llama_layer.h"

namespace mor {

LayerShape LayerShape::split(ad::TpGroup* group) const {
  LayerShape s = *this;
  if (!group) return s;
  const int t = group->size();
  MOR_CHECK(n_heads % t == 0 && n_kv_heads % t == 0, "heads ", n_heads, "/", n_kv_heads, " do not split over ", t);
  s.n_heads /= t;
  s.n_kv_heads /= t;
  s.tp = group;
  return s;
}

namespace {

// Into / out of the sharded part of a block (identity without TP).
ad::Var enter_tp(const ad::Var& x, const LayerShape& s) { return s.tp ? ad::copy_to_tp_region(x, *s.tp) : x; }
ad::Var leave_tp(const ad::Var& x, const LayerShape& s) { return s.tp ? ad::reduce_from_tp_region(x, *s.tp) : x; }

ad::Var mlp_block(const ad::Var& a, const LayerWeights& w, const LayerShape& s) {
  ad::Var h = enter_tp(ad::rmsnorm(a, w.post_attn_norm, s.norm_eps), s);  // [n, d]
  ad::Var gu = ad::linear(h, w.w_gate_up);                                 // [n, 2f] (local: [n, 2f/tp])
  ad::Var m = leave_tp(ad::linear(ad::swiglu(gu), w.w_down), s);           // [n, d]
  return ad::add(a, m);
}

}  // namespace

namespace {
KvSource self_source(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) {
  return {{qkv, s.n_heads, s.n_kv_heads}, {qkv, s.n_heads + s.n_kv_heads, s.n_kv_heads}, layout};
}
}  // namespace

KvSource RecordKv::attend(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) {
  out_ = {qkv, layout};
  return self_source(qkv, layout, s);
}

KvSource ReuseKv::attend(const ad::Var&, const ad::SeqLayout&, const LayerShape& s) {
  return self_source(in_.qkv, in_.layout, s);
}

ad::Var layer_forward(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w, const LayerShape& s,
                      KvStore* kv) {
  const int64_t n = x->value.dim(0), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  const bool q_only = kv && kv->reuses_kv();
  ad::Var h = enter_tp(ad::rmsnorm(x, w.input_norm, s.norm_eps), s);  // [n, d]
  const int64_t heads = q_only ? Hq : Hq + 2 * Hkv;
  ad::Var qkv = ad::reshape(ad::linear(h, q_only ? w.wq : w.wqkv), {n, heads, D});  // [n, Hq(+2Hkv), D]
  qkv = ad::rope(qkv, layout.positions, q_only ? Hq : Hq + Hkv, s.rope_theta);     // q and k rotated
  const KvSource src = kv ? kv->attend(qkv, layout, s) : self_source(qkv, layout, s);
  ad::Var att = ad::attention({qkv, 0, Hq}, src.k, src.v, layout, src.layout);      // [n, Hq, D]
  ad::Var a = ad::add(x, leave_tp(ad::linear(ad::reshape(att, {n, Hq * D}), w.wo), s));  // [n, d]
  return mlp_block(a, w, s);
}

}  // namespace mor
