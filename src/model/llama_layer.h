// One Llama decoder layer on packed rows (MOR.md section 1.1):
//   a = x + o( attn( rope(qkv(rmsnorm1(x))) ) )      causal GQA by explicit positions
//   y = a + down( silu(gate(rmsnorm2(a))) * up(rmsnorm2(a)) )
// q|k|v and gate|up are fused matrices (views over back-to-back parameters).
// Tensor parallelism (LayerShape::tp set): the weights are this shard's slices (q, k, v, gate, up
// column-parallel; o, down row-parallel), the head counts are the local ones, and the replicated
// rows enter each half through copy_to_tp_region and leave through reduce_from_tp_region.
#pragma once
#include "src/autodiff/ops.h"
#include "src/autodiff/tp_group.h"
#include "src/config/config.h"

namespace mor {

struct LayerWeights {
  ad::Var input_norm;      // [d]
  ad::Var wqkv;            // [(Hq + 2 Hkv) D, d]
  ad::Var wq;              // [Hq D, d]   (rows of wqkv; KV-sharing steps project queries only)
  ad::Var wo;              // [d, Hq D]
  ad::Var post_attn_norm;  // [d]
  ad::Var w_gate_up;       // [2 f, d]
  ad::Var w_down;          // [d, f]
};

struct LayerShape {
  int64_t d_model, n_heads, n_kv_heads, head_dim;  // heads: this shard's (all of them without TP)
  double rope_theta, norm_eps;
  ad::TpGroup* tp = nullptr;  // the tensor-parallel group the weights are split over (none: whole)
  static LayerShape from(const ModelConfig& c) {
    return {c.d_model, c.n_heads, c.kv_heads(), c.hdim(), c.rope_theta, c.norm_eps};
  }
  // The same layer split over `group` (heads divided by its size).
  LayerShape split(ad::TpGroup* group) const;
};

// K/V of one layer, kept so that later recursions can attend to them (KV sharing).
struct LayerKV {
  ad::Var qkv;            // [rows, Hq + 2 Hkv, D] after RoPE; k and v are head slices of it
  ad::SeqLayout layout;   // rows' sequences and positions
};

// x [n, d] rows described by `layout`. When `kv_out` is given, the layer's K/V are stored there.
ad::Var layer_forward(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w, const LayerShape& s,
                      LayerKV* kv_out = nullptr);

// KV-sharing variant: queries from x's rows, keys/values from `shared_kv` (an earlier recursion
// of the same unique layer over the full sequence). K and V are not projected again.
ad::Var layer_forward_shared_kv(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w,
                                const LayerShape& s, const LayerKV& shared_kv);

}  // namespace mor
