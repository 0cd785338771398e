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

// The keys and values a layer's queries attend to, and their layout.
struct KvSource {
  ad::HeadSlice k, v;
  ad::SeqLayout layout;
};

// Where a layer's attention finds its keys and values: the rows themselves (training), an earlier
// recursion's K/V (KV sharing), or the inference engine's caches (src/engine/kv_cache.h). The
// layer code is the same for all of them.
class KvStore {
 public:
  virtual ~KvStore() = default;
  // true: K/V come from an earlier recursion of the same unique layer (KV sharing), so the layer
  // projects queries only.
  virtual bool reuses_kv() const { return false; }
  // The layer's rows after RoPE -- qkv [n, Hq + 2 Hkv, D], or q [n, Hq, D] when reuses_kv() --
  // laid out by `layout` -> what their queries attend to. A store may keep the rows' K/V.
  virtual KvSource attend(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) = 0;
};

// Attention among the rows themselves, keeping their K/V in `out` (KV sharing: recursion 1).
class RecordKv final : public KvStore {
 public:
  explicit RecordKv(LayerKV& out) : out_(out) {}
  KvSource attend(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) override;

 private:
  LayerKV& out_;
};

// Queries of these rows, keys/values of an earlier recursion over the full sequence (KV sharing).
class ReuseKv final : public KvStore {
 public:
  explicit ReuseKv(const LayerKV& in) : in_(in) {}
  bool reuses_kv() const override { return true; }
  KvSource attend(const ad::Var& q, const ad::SeqLayout& layout, const LayerShape& s) override;

 private:
  const LayerKV& in_;
};

// x [n, d] rows described by `layout` (positions explicit). kv: where attention reads (and keeps)
// keys and values; nullptr: causal attention among the rows themselves.
ad::Var layer_forward(const ad::Var& x, const ad::SeqLayout& layout, const LayerWeights& w, const LayerShape& s,
                      KvStore* kv = nullptr);

}  // namespace mor
