// The autodiff ops: coarse, fused operations with a CPU forward and backward each.
// Shapes in comments: n rows (tokens), d features, V vocabulary, H heads, D head dim.
// Integer inputs (ids, positions, indices) are plain int32 Tensors and carry no gradient.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tape.h"

namespace mor::ad {
class TpGroup;  // tp_group.h

// ---- rows ----
// table [V, d], ids [n] -> [n, d]
Var embedding(const Var& table, const Tensor& ids);
// x [n, d], idx [m] -> [m, d]
Var gather_rows(const Var& x, const Tensor& idx);
// base [n, d], idx [m] (distinct rows), src [m, d] -> base with rows idx increased by src
Var scatter_add_rows(const Var& base, const Tensor& idx, const Var& src);
// base [n, d], idx [m] (distinct rows), src [m, d] -> base with rows idx replaced by src
Var scatter_rows(const Var& base, const Tensor& idx, const Var& src);

// ---- dense ----
// x [n, in], w [out, in] -> x @ w^T [n, out]   (the matmul op; BLAS)
Var linear(const Var& x, const Var& w);
// x [n, d], w [d] -> w * x / sqrt(mean(x^2) + eps)
Var rmsnorm(const Var& x, const Var& w, double eps);
// x [n, H, D], pos [n] -> heads [0, n_rot) rotated at their positions, the rest copied
Var rope(const Var& x, const Tensor& pos, int64_t n_rot, double theta);
// gate_up [n, 2f] -> silu(gate) * up [n, f]
Var swiglu(const Var& gate_up);

// ---- attention ----
// Packed variable-length sequences: offsets i64 [S+1] into the rows (host), positions i32 [rows]
// (on the compute device). Paged (key/value caches of the inference engine; forward only): when
// `pages` (host) is set, sequence s's rows are the pages offsets[s] .. offsets[s+1]-1 in order,
// page g the rows [pages[2g], pages[2g] + pages[2g+1]) of the tensor, and positions covers every
// row of the tensor. A layout is immutable once built; its copies share the device copies of
// offsets and pages and the attention FLOP counts, each made once (layout_cache).
struct LayoutCache;
struct SeqLayout {
  Tensor offsets;
  Tensor positions;
  Tensor pages;  // i64 [G, 2] (first row, rows), or undefined
  int64_t n_seq() const { return offsets.numel() - 1; }
  int64_t rows() const { return positions.numel(); }
  bool paged() const { return pages.defined(); }
  // offsets / pages on device d (themselves on the CPU; a copy made once otherwise).
  const Tensor& offsets_on(Device d) const;
  const Tensor& pages_on(Device d) const;
  // B sequences of T tokens at positions 0..T-1, positions on `device`.
  static SeqLayout dense(int64_t B, int64_t T, Device device = Device::cpu());
  mutable std::shared_ptr<LayoutCache> cache;  // made on first use
};
// A head range of a [rows, H_total, D] tensor (so q, k, v can live in one fused qkv tensor).
struct HeadSlice {
  Var t;
  int64_t head_offset = 0;
  int64_t n_heads = 0;
};
// Causal GQA attention: query i sees key j of its sequence iff kpos[j] <= qpos[i].
// -> [Nq, Hq, D] with scale 1/sqrt(D). A paged kv_layout (decoding) has no backward.
Var attention(const HeadSlice& q, const HeadSlice& k, const HeadSlice& v, const SeqLayout& q_layout,
              const SeqLayout& kv_layout);

// ---- elementwise / reductions ----
Var reshape(const Var& x, const Shape& shape);  // zero-copy view with the same element count
Var add(const Var& a, const Var& b);          // same shapes
Var mul(const Var& a, const Var& b);          // same shapes
Var scale(const Var& a, double c);
Var scale_rows(const Var& x, const Var& s);   // x [n, d], s [n] -> s[:, None] * x
Var sum(const Var& x);                        // -> scalar [1]
Var sigmoid(const Var& x);
Var tanh(const Var& x);
Var gelu(const Var& x);                       // exact: x * Phi(x)
Var softmax(const Var& x);                    // over the last dim
Var logsumexp(const Var& x);                  // [n, c] -> [n]

// ---- losses (scalar [1] outputs) ----
// sum over rows with target >= 0 of CE(logits_i, target_i), divided by `normalizer`
// (<= 0: the number of such rows).
Var cross_entropy(const Var& logits, const Tensor& targets, double normalizer = 0);
// How the fused classifier loss cuts its work (kernels/cpu/lmhead_xent.h); 0 / false: the
// defaults kernels/lab/lmhead_lab chose (README "Kernel lab").
struct ClassifierTiling {
  int64_t rows = 0;        // most rows per block (0: kernels::lmhead_block_rows's bound, 2^25 logits, <= 1024 rows)
  int64_t vocab_tile = 0;  // vocabulary columns per tile within a block (0: the whole vocabulary or shard)
  bool recompute = false;  // gradient pass recomputes each tile's logits instead of keeping the block's
};
// The same loss of logits = h @ w^T, computed in blocks of rows (and tiles of the vocabulary)
// without materialising all logits; its gradient is computed during the forward pass (a loss is
// always terminal).
Var classifier_cross_entropy(const Var& h, const Var& w, const Tensor& targets, double normalizer = 0,
                             const ClassifierTiling& tiling = {});
// mean_i BCEWithLogits(x_i, t_i) over all n elements (targets are float 0/1 or soft).
Var bce_with_logits(const Var& x, const Tensor& targets, double normalizer = 0);

// ---- tensor parallelism (Megatron's conjugate f / g; every call is collective over `g`) ----
// Identity forward; backward sums the gradient over the group. Placed where a replicated tensor
// enters a sharded computation (before column-parallel linears, the vocab-parallel loss).
Var copy_to_tp_region(const Var& x, TpGroup& g);
// Sums over the group forward; identity backward. Placed where partial sums leave a sharded
// computation (after row-parallel linears, the vocab-parallel embedding).
Var reduce_from_tp_region(const Var& x, TpGroup& g);
// The vocabulary rows [first_id, first_id + V_local) of an embedding: table [V_local, d], ids [n]
// in [0, vocab) -> [n, d], rows of ids outside the shard are zero (sum the shards with
// reduce_from_tp_region for the full lookup).
Var embedding_shard(const Var& table, const Tensor& ids, int64_t first_id, int64_t vocab);
// classifier_cross_entropy over a vocabulary split across `group`: w holds the rows
// [first_id, first_id + V_local) of the full [vocab, d] head and h [n, d] is replicated. Each
// row's max and sum of exponentials and its target logit (from the owning member) are combined
// across the group, so full logits never exist anywhere. The loss is the same on every member; the
// gradient of h is this member's partial sum (feed h through copy_to_tp_region), w's is complete.
struct VocabShard {
  TpGroup* group = nullptr;
  int64_t first_id = 0;
  int64_t vocab = 0;  // the full vocabulary
};
Var classifier_cross_entropy_vocab_parallel(const Var& h, const Var& w, const Tensor& targets, const VocabShard& shard,
                                            double normalizer = 0, const ClassifierTiling& tiling = {});

// ---- selection (no gradient) ----
// scores [rows] packed by `layout`; k[s] per sequence -> i32 global row indices, ascending per
// sequence, concatenated (on the scores' device; no host round trip).
Tensor topk_per_sequence(const Tensor& scores, const SeqLayout& layout, const std::vector<int64_t>& k);

// ---- routing indices (no gradient; src/autodiff/ops/index_ops.cpp) ----
// All on the given / the inputs' device, asynchronous, unless the comment says it synchronises.
Tensor iota_rows(int64_t n, Device device);                    // i32 [0, 1, ..., n-1]
Tensor take_i32(const Tensor& table, const Tensor& idx);        // i32 out[i] = table[idx[i]]
Tensor i32_on(const std::vector<int32_t>& v, Device device);   // an upload of host indices
// In place: dst[idx[i]] = src[i] for rows (dst [R, d], src [n, d] floats) or i32 elements; idx
// distinct (the inference engine's KV pool appends).
void scatter_rows_into(Tensor& dst, const Tensor& idx, const Tensor& src);
// [n] of `dtype`, 1 at the rows idx and 0 elsewhere (the routers' auxiliary BCE target).
Tensor ones_at(int64_t n, const Tensor& idx, DType dtype);
// Token-choice depths from probabilities p [n, N_r]: depth[t] = argmax_j (p + bias) (bias [N_r]
// or undefined), or N_r - 1 everywhere when all_deepest; gate_index[t] = t N_r + depth[t].
struct TokenDepths {
  Tensor depth;       // i32 [n]
  Tensor gate_index;  // i32 [n]
};
TokenDepths token_depths(const Tensor& p, const Tensor& bias, bool all_deepest);
// Rows of each sequence at each depth: host [S * N_r] (row s: sequence s), for the rows of `depth`
// grouped by sequence with counts[s] rows in sequence s. The host round trip of token-choice
// routing: it synchronises.
std::vector<int64_t> depth_counts(const std::vector<int64_t>& counts, int64_t nr, const Tensor& depth);
// Stable split of the rows 0..n-1 of `depth` into those with depth == r (n_exit of them, known
// from depth_counts) and the others, both ascending.
struct DepthSplit {
  Tensor exits, stays;  // i32
};
DepthSplit split_by_depth(const Tensor& depth, int32_t r, int64_t n_exit);

}  // namespace mor::ad
