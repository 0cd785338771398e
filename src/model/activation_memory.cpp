// Activation memory of one micro-batch: a dry run of the forward pass that counts the tensors the
// tape keeps instead of computing them; see activation_memory.h for the list and the formulas.
#include "activation_memory.h"

#include <algorithm>
#include <cmath>

#include "flops.h"
#include "kernels/cpu/lmhead_xent.h"
#include "sharing.h"
#include "src/config/routing_spec.h"
#include "src/core/storage.h"

namespace mor {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Bytes of tensors kept, each rounded up to its allocator block.
struct Tally {
  int64_t bytes = 0;
  void f32(int64_t elems) { add(elems * 4); }
  void i32(int64_t elems) { add(elems * 4); }
  void i64(int64_t elems) { add(elems * 8); }
  void scalar() { f32(1); }
  void add(int64_t raw) { bytes += int64_t(storage_block_bytes(size_t(std::max<int64_t>(raw, 0)))); }
};

// Shapes of one layer on a tensor-parallel rank.
struct Widths {
  int64_t d, f, qkv, q, heads;  // f, qkv, q and heads are this rank's share
  Widths(const ModelConfig& m, int tp)
      : d(m.d_model),
        f(ceil_div(m.d_ff, tp)),
        qkv(ceil_div((m.n_heads + 2 * m.kv_heads()) * m.hdim(), tp)),
        q(ceil_div(m.n_heads * m.hdim(), tp)),
        heads(ceil_div(m.n_heads, tp)) {}
};

class Walk {
 public:
  Walk(const ModelConfig& m, int64_t B, int64_t T, int tp)
      : m_(m), rs_(resolve_routing(m)), w_(m, tp), plan_(m.recursion.sharing, m.n_layers, m.recursion.num_recursions), B_(B), T_(T), n_(B * T) {}

  ActivationMemory run(int tp) {
    t_.i32(B_ * (T_ + 1));  // the loader's batch
    t_.i32(n_), t_.i32(n_);  // inputs, targets
    t_.i64(B_ + 1), t_.i32(n_);  // dense layout
    t_.f32(n_ * w_.d);  // embedding
    if (plan_.has_middle()) layer(n_, false);
    if (rs_.expert()) expert();
    else if (rs_.token()) token();
    else
      for (int64_t r = 0; r < plan_.num_recursions(); ++r) step(r, n_);
    if (plan_.has_middle()) layer(n_, false);
    t_.f32(n_ * w_.d), t_.f32(n_);  // final rmsnorm
    t_.scalar();                    // the loss
    for (int i = 0; i < aux_terms_; ++i) t_.scalar(), t_.scalar();  // scale + add per auxiliary loss

    ActivationMemory a;
    a.tape = t_.bytes;
    // Fused classifier + cross-entropy: all four buffers live together during its forward.
    const int64_t V = ceil_div(m_.vocab_size, tp);
    const int64_t rows = std::min(kernels::lmhead_block_rows(n_, m_.vocab_size), n_);
    Tally loss;
    loss.f32(rows * V), loss.f32(3 * rows), loss.f32(n_ * w_.d), loss.f32(V * w_.d);
    a.loss = loss.bytes;
    // gemm_bf16's two per-thread buffers grow to the largest A and B of any layer GEMM: A up to
    // [n, widest] (dy), B up to [widest, d] (a weight) or [n, max(d, f)] (x of a weight gradient).
    const int64_t d64 = ceil_div(w_.d, 64) * 64, widest = std::max(w_.qkv, 2 * w_.f);
    const int64_t lm_head = V * w_.d + ceil_div(V, 64) * 64 * d64 + V * d64 + rows * w_.d + rows * V;
    const int64_t layers = n_ * widest + std::max(widest * w_.d, n_ * std::max(w_.d, w_.f));
    a.bf16 = 2 * (lm_head + layers);
    // The layer weights, which a step that uses them again keeps rounded and blocked (Bf16ConstantScope).
    // (KV sharing: later recursions read the query rows of q|k|v as a weight of their own.)
    a.bf16_weights = plan_.unique_layers() * w_.d * (w_.qkv + w_.q + 3 * w_.f + (rs_.share_kv() ? w_.q : 0));
    Tally back;
    back.add(widest_layer_grads_);
    if (rs_.routed()) back.f32(n_ * w_.d), back.f32(n_ * w_.d);  // residual-stream gradients
    a.backward = back.bytes;
    return a;
  }

 private:
  // One decoder layer over m rows (shared_kv: queries only, K/V from the first recursion).
  void layer(int64_t m, bool shared_kv) {
    const int64_t proj = shared_kv ? w_.q : w_.qkv;
    t_.f32(m * w_.d), t_.f32(m);                // rmsnorm, 1/rms
    t_.f32(m * proj), t_.f32(m * proj);         // projection, RoPE output
    t_.f32(m * w_.q), t_.f32(m * w_.heads);     // attention output, log-sum-exp
    t_.f32(m * w_.d), t_.f32(m * w_.d);         // o_proj, residual add
    t_.f32(m * w_.d), t_.f32(m);                // rmsnorm, 1/rms
    t_.f32(m * 2 * w_.f), t_.f32(m * w_.f);     // gate|up, swiglu
    t_.f32(m * w_.d), t_.f32(m * w_.d);         // down, residual add
    Tally mlp, attn;
    mlp.f32(m * w_.d), mlp.f32(m * w_.d), mlp.f32(m * w_.f), mlp.f32(m * 2 * w_.f);
    attn.f32(m * proj), attn.f32(m * w_.q), attn.f32(m * proj), attn.f32(m * w_.d), attn.f32(m * w_.d);
    widest_layer_grads_ = std::max({widest_layer_grads_, mlp.bytes, attn.bytes});
  }

  // The B layers of recursion step r over m rows.
  void step(int64_t r, int64_t m) {
    const bool share = rs_.share_kv();
    for (int64_t j = 0; j < plan_.base_depth(); ++j) layer(m, share && r > 0);
  }

  // Router network over m rows with `out` outputs.
  void router(int64_t m, int64_t out) {
    if (rs_.router_arch == RouterArch::Linear) {
      t_.f32(m * out);
    } else {
      t_.f32(m * 2 * w_.d), t_.f32(m * 2 * w_.d), t_.f32(m * out);  // linear, gelu, linear
    }
  }

  void expert() {
    const RoutingSpec& mc = rs_;
    std::vector<double> caps = mc.capacity;
    if (mc.cap_warmup_steps > 0) std::fill(caps.begin(), caps.end(), 1.0);  // the warm-up starts at 1
    const bool bce = !mc.rand_router && mc.sampling == Sampling::AuxLoss, aux_router = mc.has_aux_router();
    int64_t per_seq = T_;  // candidates per sequence
    for (int64_t r = 0; r < plan_.num_recursions(); ++r) {
      const int64_t mr = B_ * per_seq;
      if (r > 0) t_.f32(mr * w_.d);  // gather of the candidates
      if (mc.temp != 1.0) t_.f32(mr * w_.d);
      if (!mc.rand_router) {
        router(mr, 1);
        if (mc.router_func != RouterFunc::Identity) t_.f32(mr);  // score
      }
      t_.f32(mr);  // gate
      if (aux_router) router(mr, 1);
      if (bce) t_.f32(mr), t_.scalar();         // BCE target, loss
      if (aux_router) t_.f32(mr), t_.scalar();  // aux router BCE target, loss
      if (!mc.rand_router && mc.z_coeff > 0) t_.f32(mr), t_.scalar(), t_.scalar();
      const int64_t k = std::min(per_seq, std::max<int64_t>(1, int64_t(std::floor(caps[size_t(r)] * double(T_)))));
      const int64_t kr = B_ * k;
      const bool all = kr == mr;                           // every candidate runs: no gathers
      t_.i32(kr), t_.i32(kr);                              // local and global indices
      if (!all) t_.i64(B_ + 1), t_.i32(kr), t_.f32(kr * w_.d);  // layout, gather of the selected rows
      t_.f32(kr);                                          // gate gather
      step(r, kr);
      if (mc.gating == Gating::Weighted) t_.f32(kr * w_.d);  // scale_rows
      t_.i32(kr), t_.f32(n_ * w_.d);                       // global rows, scatter into a copy of h
      per_seq = k;
    }
    // Running sums of the per-step losses (one add per step after the first) and their terms.
    const int64_t steps = plan_.num_recursions();
    const int terms = int(bce) + int(aux_router) + int(!mc.rand_router && mc.z_coeff > 0);
    for (int64_t i = 0; i < terms * (steps - 1); ++i) t_.scalar();
    aux_terms_ = terms;
  }

  void token() {
    const RoutingSpec& mc = rs_;
    const int64_t nr = plan_.num_recursions();
    if (mc.temp != 1.0) t_.f32(n_ * w_.d);
    router(n_, nr);
    t_.f32(n_ * nr), t_.f32(n_ * nr);  // probabilities, scaled
    t_.i32(n_), t_.i32(n_), t_.f32(n_);  // depth, gate index, gate
    t_.i32(n_);                          // candidate rows
    // Worst case: every token takes the deepest recursion, so all n rows run every step and exit
    // together after the last one.
    for (int64_t r = 0; r < nr; ++r) {
      t_.i32(n_);  // rows that run
      step(r, n_);
      if (mc.gate_every_step) t_.f32(n_), t_.f32(n_ * w_.d), t_.f32(n_ * w_.d);
      if (r + 1 < nr) {
        t_.i32(n_), t_.f32(n_ * w_.d);  // continuers: indices, gather
        continue;
      }
      t_.i32(n_), t_.f32(n_ * w_.d);  // exits: indices, gather
      if (!mc.gate_every_step && mc.gating == Gating::Weighted) t_.f32(n_), t_.f32(n_ * w_.d);
      t_.i32(n_), t_.f32(n_ * w_.d);  // global rows, scatter into a copy of the output
    }
    aux_terms_ = 0;
    if (mc.balancing == Balancing::Loss) t_.f32(n_ * nr), t_.f32(n_ * nr), t_.scalar(), t_.scalar(), ++aux_terms_;
    if (mc.z_coeff > 0) t_.f32(n_), t_.f32(n_), t_.scalar(), t_.scalar(), ++aux_terms_;
  }

  const ModelConfig& m_;
  RoutingSpec rs_;
  Widths w_;
  SharingPlan plan_;
  int64_t B_, T_, n_;
  Tally t_;
  int64_t widest_layer_grads_ = 0;
  int aux_terms_ = 0;
};

}  // namespace

ActivationMemory activation_memory(const ModelConfig& m, int64_t micro_batch, int64_t seq_len, int tp) {
  return Walk(m, micro_batch, seq_len, std::max(tp, 1)).run(std::max(tp, 1));
}

}  // namespace mor
