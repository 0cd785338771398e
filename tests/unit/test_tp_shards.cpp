// Tensor-parallel sharding without ranks: the parameter table's local shapes, offsets and fused
// views for each shard, slices and reassembly of global tensors, and a model over a group of one
// member (the vocab-parallel and TP-layer code paths) equal to the whole model.
#include <gtest/gtest.h>

#include "src/autodiff/tp_group.h"
#include "src/model/model.h"
#include "tests/unit/random_tokens.h"

namespace mor {
namespace {

ModelConfig small() {
  ModelConfig m;
  m.vocab_size = 16;
  m.d_model = 8;
  m.n_layers = 2;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 12;
  return m;
}

TEST(TpShards, LocalShapesFusedViewsAndReassembly) {
  const ModelConfig cfg = small();
  Model whole(cfg);
  whole.initialize(3);
  const ParamTable& pw = whole.params();
  const int t = 2;
  std::vector<std::unique_ptr<ParamTable>> shards;
  for (int s = 0; s < t; ++s) {
    auto tbl = std::make_unique<ParamTable>();
    for (size_t i = 0; i < pw.size(); ++i) tbl->add(pw.spec(int(i)));
    tbl->set_tp_shard({s, t});
    tbl->finalize();
    tbl->initialize(3);
    shards.push_back(std::move(tbl));
  }
  const ParamTable& p0 = *shards[0];
  const int q = p0.index("layers.0.self_attn.q_proj"), v = p0.index("layers.0.self_attn.v_proj");
  const int o = p0.index("layers.0.self_attn.o_proj"), norm = p0.index("norm");
  EXPECT_EQ(p0.local_shape(q), (Shape{4, 8}));                       // 2 of 4 heads x head_dim 2
  EXPECT_EQ(p0.local_shape(o), (Shape{8, 4}));                       // columns split (8 -> 4)
  EXPECT_EQ(p0.local_shape(norm), (Shape{8}));                       // replicated
  EXPECT_EQ(p0.view_rows(q, v)->value.shape(), (Shape{4 + 2 + 2, 8}));  // [q | k | v] of this shard
  for (size_t i = 0; i < pw.size(); ++i) {
    const int k = int(i);
    // Each shard holds its slice of the global initial values; the slices reassemble the tensor.
    Tensor gathered = Tensor::empty({t * p0.numel(k)}, DType::F32);
    for (int s = 0; s < t; ++s) {
      EXPECT_EQ(shards[size_t(s)]->local_slice(k, pw.var(k)->value).to_vector<float>(),
                shards[size_t(s)]->var(k)->value.to_vector<float>())
          << pw.spec(k).name;
      gathered.view(s * p0.numel(k), {p0.numel(k)}).copy_from(shards[size_t(s)]->var(k)->value.reshape({p0.numel(k)}));
    }
    if (p0.sharded(k)) EXPECT_EQ(p0.from_shards(k, gathered).to_vector<float>(), pw.var(k)->value.to_vector<float>())
        << pw.spec(k).name;
  }
}

TEST(TpShards, ModelOverGroupOfOneEqualsWholeModel) {
  ModelConfig cfg = small();
  cfg.recursion.sharing = "middle_cycle";
  cfg.n_layers = 4;
  cfg.recursion.num_recursions = 2;
  cfg.mor.type = "expert";
  ad::LocalTpGroup solo;
  Model whole(cfg, DType::F64), split(cfg, DType::F64, &solo);
  whole.initialize(5);
  split.initialize(5);
  const Tensor tok = testing::random_tokens(2, 8, 16, 2);
  double loss[2];
  Model* ms[2] = {&whole, &split};
  for (int i = 0; i < 2; ++i) {
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardResult f = ms[i]->forward(tok, ForwardContext{});
    tape.backward(f.loss);
    loss[i] = f.loss->value.item();
  }
  EXPECT_NEAR(loss[0], loss[1], 1e-12);
  const auto a = whole.params().grads().to_vector<double>(), b = split.params().grads().to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << i;
}

}  // namespace
}  // namespace mor
