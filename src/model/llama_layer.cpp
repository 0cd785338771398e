// Llama decoder layer; see llama_layer.h.
#include "llama_layer.h"

namespace mor {
namespace {

ad::Var mlp_block(const ad::Var& a, const LayerWeights& w, const LayerShape& s) {
  ad::Var h = ad::rmsnorm(a, w.post_attn_norm, s.norm_eps);  // [n, d]
  ad::Var gu = ad::linear(h, w.w_gate_up);                    // [n, 2f]
  ad::Var m = ad::linear(ad::swiglu(gu), w.w_down);           // [n, d]
  return ad::add(a, m);
}

}  // namespace

ad::Var layer_forward(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w, const LayerShape& s,
                      LayerKV* kv_out) {
  const int64_t n = x->value.dim(0), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  ad::Var h = ad::rmsnorm(x, w.input_norm, s.norm_eps);                        // [n, d]
  ad::Var qkv = ad::reshape(ad::linear(h, w.wqkv), {n, Hq + 2 * Hkv, D});      // [n, Hq+2Hkv, D]
  qkv = ad::rope(qkv, layout.positions, Hq + Hkv, s.rope_theta);              // q and k rotated
  ad::Var att = ad::attention({qkv, 0, Hq}, {qkv, Hq, Hkv}, {qkv, Hq + Hkv, Hkv}, layout, layout);  // [n, Hq, D]
  ad::Var a = ad::add(x, ad::linear(ad::reshape(att, {n, Hq * D}), w.wo));     // [n, d]
  if (kv_out) *kv_out = {qkv, layout};
  return mlp_block(a, w, s);
}

ad::Var layer_forward_shared_kv(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w,
                                const LayerShape& s, const LayerKV& shared_kv) {
  const int64_t n = x->value.dim(0), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  ad::Var h = ad::rmsnorm(x, w.input_norm, s.norm_eps);
  ad::Var q = ad::reshape(ad::linear(h, w.wq), {n, Hq, D});
  q = ad::rope(q, layout.positions, Hq, s.rope_theta);
  ad::Var att = ad::attention({q, 0, Hq}, {shared_kv.qkv, Hq, Hkv}, {shared_kv.qkv, Hq + Hkv, Hkv}, layout,
                              shared_kv.layout);
  ad::Var a = ad::add(x, ad::linear(ad::reshape(att, {n, Hq * D}), w.wo));
  return mlp_block(a, w, s);
}

}  // namespace mor
