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

ad::Var layer_forward(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w, const LayerShape& s,
                      LayerKV* kv_out) {
  const int64_t n = x->value.dim(0), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  ad::Var h = enter_tp(ad::rmsnorm(x, w.input_norm, s.norm_eps), s);          // [n, d]
  ad::Var qkv = ad::reshape(ad::linear(h, w.wqkv), {n, Hq + 2 * Hkv, D});      // [n, Hq+2Hkv, D]
  qkv = ad::rope(qkv, layout.positions, Hq + Hkv, s.rope_theta);              // q and k rotated
  ad::Var att = ad::attention({qkv, 0, Hq}, {qkv, Hq, Hkv}, {qkv, Hq + Hkv, Hkv}, layout, layout);  // [n, Hq, D]
  ad::Var a = ad::add(x, leave_tp(ad::linear(ad::reshape(att, {n, Hq * D}), w.wo), s));  // [n, d]
  if (kv_out) *kv_out = {qkv, layout};
  return mlp_block(a, w, s);
}

ad::Var layer_forward_shared_kv(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w,
                                const LayerShape& s, const LayerKV& shared_kv) {
  const int64_t n = x->value.dim(0), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  ad::Var h = enter_tp(ad::rmsnorm(x, w.input_norm, s.norm_eps), s);
  ad::Var q = ad::reshape(ad::linear(h, w.wq), {n, Hq, D});
  q = ad::rope(q, layout.positions, Hq, s.rope_theta);
  ad::Var att = ad::attention({q, 0, Hq}, {shared_kv.qkv, Hq, Hkv}, {shared_kv.qkv, Hq + Hkv, Hkv}, layout,
                              shared_kv.layout);
  ad::Var a = ad::add(x, leave_tp(ad::linear(ad::reshape(att, {n, Hq * D}), w.wo), s));
  return mlp_block(a, w, s);
}

}  // namespace mor
