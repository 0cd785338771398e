// Model structure: sharing plans, parameter table, baselines from one class, determinism.
#include <gtest/gtest.h>

#include "src/core/rng.h"
#include "src/model/flops.h"
#include "src/model/model.h"
#include "src/train/optimizer.h"

namespace mor {
namespace {

std::vector<int64_t> map_of(const SharingPlan& p) {
  std::vector<int64_t> v;
  for (int64_t l = 0; l < p.effective_layers(); ++l) v.push_back(p.unique_of(l));
  return v;
}

TEST(Sharing, FourStrategiesMapAsSection2) {
  EXPECT_EQ(map_of(SharingPlan("cycle", 6, 3)), (std::vector<int64_t>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(map_of(SharingPlan("sequence", 6, 3)), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(map_of(SharingPlan("middle_cycle", 8, 3)), (std::vector<int64_t>{0, 1, 2, 1, 2, 1, 2, 3}));
  EXPECT_EQ(map_of(SharingPlan("middle_sequence", 8, 3)), (std::vector<int64_t>{0, 1, 1, 1, 2, 2, 2, 3}));
  EXPECT_EQ(map_of(SharingPlan("none", 3, 1)), (std::vector<int64_t>{0, 1, 2}));
  SharingPlan mc("middle_cycle", 32, 3);
  EXPECT_EQ(mc.base_depth(), 10);
  EXPECT_EQ(mc.unique_layers(), 12);
  EXPECT_EQ(mc.step_layers(2), (std::vector<int64_t>{21, 22, 23, 24, 25, 26, 27, 28, 29, 30}));
}

ModelConfig tiny(const std::string& sharing = "none", int64_t layers = 4, int64_t nr = 1) {
  ModelConfig m;
  m.vocab_size = 97;
  m.d_model = 32;
  m.n_layers = layers;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 48;
  m.recursion.sharing = sharing;
  m.recursion.num_recursions = nr;
  return m;
}

Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Tensor t = Tensor::empty({B, T + 1}, DType::I32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = int32_t(rng.below(uint64_t(V)));
  return t;
}

TEST(Model, ParameterCountMatchesFormula) {
  for (auto m : {tiny(), tiny("middle_cycle", 6, 2), tiny("cycle", 4, 2), tiny("sequence", 6, 3)}) {
    Model model(m);
    EXPECT_EQ(model.params().total_numel(), unique_params(m, true)) << m.recursion.sharing;
  }
  ModelConfig own = tiny("middle_cycle", 6, 2);
  own.recursion.ln_share = false;
  EXPECT_EQ(Model(own).params().total_numel(), unique_params(own, true));
  for (const char* type : {"expert", "token"})
    for (const char* router : {"linear", "mlp"}) {
      ModelConfig m = tiny("middle_cycle", 6, 2);
      m.mor.type = type;
      m.mor.router_type = router;
      m.mor.sampling = "aux_router";
      m.mor.balancing = "loss_free";
      EXPECT_EQ(Model(m).params().total_numel(), unique_params(m, true)) << type << " " << router;
    }
}

TEST(Model, InitialLossIsNearLogVocab) {
  Model model(tiny());
  model.initialize(1);
  ForwardContext ctx;
  ForwardResult r = model.forward(random_tokens(2, 16, 97, 3), ctx);
  EXPECT_NEAR(r.lm_loss, std::log(97.0), 0.1);
  EXPECT_EQ(r.tokens, 32);
}

TEST(Model, RecursiveWithOneRecursionEqualsVanilla) {
  Model vanilla(tiny("none", 4, 1)), rec(tiny("cycle", 4, 1));
  vanilla.initialize(7);
  rec.initialize(7);
  Tensor tok = random_tokens(2, 12, 97, 5);
  ForwardContext ctx;
  EXPECT_EQ(vanilla.forward(tok, ctx).lm_loss, rec.forward(tok, ctx).lm_loss);
}

TEST(Model, SharedWeightsGetOneAccumulatedGradient) {
  // A middle-cycle model with N_r = 2 reuses each shared layer twice: its gradient must be the
  // sum of both uses, i.e. differ from the gradient of a one-use (N_r = 1, 4-layer) model.
  Model model(tiny("middle_cycle", 6, 2));
  model.initialize(11);
  ad::Tape tape;
  ForwardResult r;
  {
    ad::GradScope scope(tape);
    r = model.forward(random_tokens(2, 8, 97, 9), ForwardContext{});
    tape.backward(r.loss);
  }
  const ParamTable& p = model.params();
  // Gradients exist for every trainable parameter of every unique layer.
  for (size_t i = 0; i < p.size(); ++i) {
    const Tensor g = p.var(int(i))->grad;
    double ss = 0;
    for (float v : g.to_vector<float>()) ss += double(v) * v;
    EXPECT_GT(ss, 0) << p.spec(int(i)).name;
  }
}

std::vector<double> train_losses(const ModelConfig& m, int steps) {
  Model model(m);
  model.initialize(3);
  TrainConfig t;
  AdamW opt(model.params(), t);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    model.params().zero_grads();
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardResult r = model.forward(random_tokens(2, 16, 97, 100), ForwardContext{});  // one batch: memorise it
    tape.backward(r.loss);
    opt.step(1e-2, opt.grad_norm(), 1.0);
    losses.push_back(r.lm_loss);
  }
  return losses;
}

TEST(Model, TrainingIsBitIdenticalAcrossRuns) {
  auto a = train_losses(tiny("middle_cycle", 6, 2), 4);
  auto b = train_losses(tiny("middle_cycle", 6, 2), 4);
  EXPECT_EQ(a, b);
  EXPECT_LT(a.back(), a.front());  // and it learns something
}

}  // namespace
}  // namespace mor
