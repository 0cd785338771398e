// MoR model checks: whole-model finite-difference gradients through routing (selections held
// fixed), equivalences with the baselines, executed FLOPs against MOR.md section 6, and the
// behaviour of each routing option.
#include <gtest/gtest.h>

#include <cmath>

#include "src/autodiff/flop_counter.h"
#include "src/core/rng.h"
#include "src/model/flops.h"
#include "src/model/model.h"

namespace mor {
namespace {

ModelConfig tiny_mor(const std::string& type, const std::string& kv_mode = "recursion") {
  ModelConfig m;
  m.vocab_size = 13;
  m.d_model = 8;
  m.n_layers = 5;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.d_ff = 12;
  m.kv_mode = kv_mode;
  m.recursion.sharing = "middle_cycle";
  m.recursion.num_recursions = 3;
  m.mor.type = type;
  return m;
}

Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Tensor t = Tensor::empty({B, T + 1}, DType::I32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = int32_t(rng.below(uint64_t(V)));
  return t;
}

// Routing decisions of a forward, to check they stay fixed under perturbation.
std::vector<std::vector<int32_t>> decisions(const ForwardResult& r) {
  std::vector<std::vector<int32_t>> d;
  for (const Tensor& s : r.routing.selected) d.push_back(s.to_vector<int32_t>());
  if (r.routing.depth.defined()) d.push_back(r.routing.depth.to_vector<int32_t>());
  return d;
}

// Finite differences in f64 over every parameter element of a tiny model.
void gradcheck_model(const ModelConfig& cfg, const std::string& label) {
  Model model(cfg, DType::F64);
  model.initialize(21);
  // Larger router weights spread the scores (no near-ties at the top-k boundary).
  for (size_t i = 0; i < model.params().size(); ++i)
    if (model.params().spec(int(i)).name.find("router") != std::string::npos) {
      Tensor& v = model.params().var(int(i))->value;
      for (int64_t j = 0; j < v.numel(); ++j) v.data<double>()[j] *= 25.0;
    }
  const Tensor tokens = random_tokens(2, 9, cfg.vocab_size, 4);
  ForwardContext ctx;
  ctx.micro_batches = 2;  // exercise the auxiliary-loss normalisation
  ad::Tape tape;
  ForwardResult base;
  {
    ad::GradScope scope(tape);
    base = model.forward(tokens, ctx);
    tape.backward(base.loss);
  }
  const auto base_decisions = decisions(base);
  ParamTable& p = model.params();
  const double eps = 1e-6;
  int checked = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!p.spec(int(i)).trainable) continue;
    Tensor& v = p.var(int(i))->value;
    const Tensor g = p.var(int(i))->grad;
    for (int64_t j = 0; j < v.numel(); ++j) {
      double* x = v.data<double>() + j;
      const double x0 = *x;
      *x = x0 + eps;
      ForwardResult rp = model.forward(tokens, ctx);
      *x = x0 - eps;
      ForwardResult rm = model.forward(tokens, ctx);
      *x = x0;
      ASSERT_EQ(decisions(rp), base_decisions) << label << ": routing changed under perturbation";
      ASSERT_EQ(decisions(rm), base_decisions) << label << ": routing changed under perturbation";
      // The auxiliary router reads a detached copy of the hidden states: its BCE trains only the
      // auxiliary router, so for every other parameter it is not part of the differentiated loss.
      auto objective = [&](const ForwardResult& r) {
        double v = r.loss->value.item();
        if (p.spec(int(i)).group != "aux_router" && r.aux.count("aux_router_bce"))
          v -= r.aux.at("aux_router_bce") / double(ctx.micro_batches);
        return v;
      };
      const double numeric = (objective(rp) - objective(rm)) / (2 * eps);
      const double analytic = g.data<double>()[j];
      ASSERT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::fabs(numeric))
          << label << ": " << p.spec(int(i)).name << "[" << j << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 500) << label;
}

TEST(MoRGrad, ExpertRecursionWiseLinearSigmoidWithZLoss) {
  ModelConfig c = tiny_mor("expert");
  c.mor.aux_coeff = 0.1;
  c.mor.z_coeff = 0.01;
  gradcheck_model(c, "expert/recursion");
}

TEST(MoRGrad, ExpertKvShareMlpTanh) {
  ModelConfig c = tiny_mor("expert", "share");
  c.mor.router_type = "mlp";
  c.mor.router_func = "tanh";
  gradcheck_model(c, "expert/share");
}

TEST(MoRGrad, ExpertAuxRouter) {
  ModelConfig c = tiny_mor("expert");
  c.mor.sampling = "aux_router";
  gradcheck_model(c, "expert/aux_router");
}

TEST(MoRGrad, TokenRecursionWiseSoftmaxBalanceZ) {
  ModelConfig c = tiny_mor("token");
  c.mor.z_coeff = 0.01;
  gradcheck_model(c, "token/recursion");
}

TEST(MoRGrad, TokenKvShareSigmoidGateEveryStep) {
  ModelConfig c = tiny_mor("token", "share");
  c.mor.router_func = "sigmoid";
  c.mor.gate_every_step = true;
  gradcheck_model(c, "token/share");
}

TEST(MoREquivalence, FullCapacityUngatedExpertEqualsRecursiveBitForBit) {
  ModelConfig rec = tiny_mor("none");
  ModelConfig ex = tiny_mor("expert");
  ex.mor.capacity = {1.0, 1.0, 1.0};
  ex.mor.gating = "none";
  Model a(rec), b(ex);
  a.initialize(5);
  b.initialize(5);  // shared parameter names get identical values
  const Tensor tokens = random_tokens(3, 11, rec.vocab_size, 6);
  ForwardContext ctx;
  ctx.return_hidden = true;
  ForwardResult ra = a.forward(tokens, ctx), rb = b.forward(tokens, ctx);
  EXPECT_EQ(ra.lm_loss, rb.lm_loss);
  EXPECT_EQ(ra.hidden.to_vector<float>(), rb.hidden.to_vector<float>());
}

// Executed layer FLOPs (linear + attention, forward + backward) vs 3 x the section-6 formula.
double counted_over_formula(const ModelConfig& m, int64_t B, int64_t T) {
  Model model(m);
  model.initialize(1);
  ad::flops_reset();
  ad::Tape tape;
  {
    ad::GradScope scope(tape);
    ForwardResult r = model.forward(random_tokens(B, T, m.vocab_size, 2), ForwardContext{});
    tape.backward(r.loss);
  }
  const double counted = ad::flops_counted()["model"];
  return counted / (3.0 * budget_flops_per_token(m, T) * double(B * T));
}

ModelConfig flops_config(const std::string& type, const std::string& kv_mode) {
  ModelConfig m;
  m.vocab_size = 50;
  m.d_model = 64;
  m.n_heads = 4;
  m.n_kv_heads = 4;  // section 6 counts K/V at full width
  m.d_ff = 128;
  m.n_layers = type == "vanilla" ? 4 : 8;
  m.kv_mode = kv_mode;
  if (type != "vanilla") {
    m.recursion.sharing = "middle_cycle";
    m.recursion.num_recursions = 3;
    m.mor.type = type == "recursive" ? "none" : type;
  }
  return m;
}

TEST(MoRFlops, ExecutedMatmulFlopsMatchSection6) {
  EXPECT_NEAR(counted_over_formula(flops_config("vanilla", "recursion"), 2, 128), 1.0, 0.01);
  EXPECT_NEAR(counted_over_formula(flops_config("recursive", "recursion"), 2, 128), 1.0, 0.01);
  EXPECT_NEAR(counted_over_formula(flops_config("expert", "recursion"), 2, 128), 1.0, 0.01);
  EXPECT_NEAR(counted_over_formula(flops_config("expert", "share"), 2, 128), 1.0, 0.01);
}

// The MFU numerator: executed FLOPs per token against everything the FLOP counter saw (layers,
// attention, routers, lm_head), with GQA and every routing / KV variant.
TEST(MoRFlops, ExecutedFlopsMatchTheCounter) {
  for (const auto& [type, kv] : std::vector<std::pair<std::string, std::string>>{
           {"vanilla", "recursion"}, {"recursive", "recursion"}, {"expert", "recursion"}, {"expert", "share"}, {"token", "recursion"}}) {
    ModelConfig m = flops_config(type, kv);
    m.n_kv_heads = 2;
    m.vocab_size = 500;
    if (type == "token") m.mor.router_type = "mlp";
    Model model(m);
    model.initialize(1);
    ad::flops_reset();
    ad::Tape tape;
    {
      ad::GradScope scope(tape);
      ForwardResult r = model.forward(random_tokens(2, 128, m.vocab_size, 2), ForwardContext{});
      tape.backward(r.loss);
    }
    double counted = 0;
    for (const auto& [label, f] : ad::flops_counted()) counted += f;
    // Token-choice's depths depend on the router: the formula assumes perfect balance.
    const double tolerance = type == "token" ? 0.15 : 0.01;
    EXPECT_NEAR(counted / (executed_flops_per_token(m, 128) * 2 * 128), 1.0, tolerance) << type << " " << kv;
  }
}

TEST(MoRExpert, KeepsFloorCapacityTimesLengthPerSequence) {
  ModelConfig c = tiny_mor("expert");
  Model model(c);
  model.initialize(3);
  ForwardResult r = model.forward(random_tokens(2, 10, c.vocab_size, 1), ForwardContext{});
  EXPECT_EQ(r.routing.tokens_per_step, (std::vector<int64_t>{20, 12, 6}));  // 2 x floor({1, 2/3, 1/3} x 10)
  EXPECT_EQ(r.routing.depth_histogram, (std::vector<int64_t>{8, 6, 6}));
  // Hierarchical: every row selected at step r was selected at step r - 1.
  for (size_t s = 1; s < r.routing.selected.size(); ++s) {
    auto prev = r.routing.selected[s - 1].to_vector<int32_t>();
    for (int32_t row : r.routing.selected[s].to_vector<int32_t>())
      EXPECT_TRUE(std::find(prev.begin(), prev.end(), row) != prev.end());
  }
  EXPECT_TRUE(r.aux.count("bce"));
}

TEST(MoRExpert, ThresholdSelectionAtEvaluation) {
  ModelConfig c = tiny_mor("expert");
  Model model(c);
  model.initialize(3);
  ForwardContext ctx;
  ctx.training = false;
  ctx.selection = Selection::Threshold;
  ForwardResult r = model.forward(random_tokens(2, 10, c.vocab_size, 1), ctx);
  EXPECT_EQ(r.routing.tokens_per_step[0], 20);  // c_1 = 1: everyone runs the first step
  EXPECT_LE(r.routing.tokens_per_step[2], r.routing.tokens_per_step[1]);
  EXPECT_TRUE(std::isfinite(r.lm_loss));
}

TEST(MoRExpert, AuxRouterDoesNotTouchTheTrunkGradient) {
  ModelConfig a = tiny_mor("expert"), b = tiny_mor("expert");
  a.mor.sampling = "aux_router";
  b.mor.aux_coeff = 0;  // same objective for the trunk and the main routers
  Model ma(a), mb(b);
  ma.initialize(8);
  mb.initialize(8);
  const Tensor tokens = random_tokens(2, 9, a.vocab_size, 3);
  for (Model* m : {&ma, &mb}) {
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardResult r = m->forward(tokens, ForwardContext{});
    tape.backward(r.loss);
  }
  for (size_t i = 0; i < mb.params().size(); ++i) {
    const std::string& n = mb.params().spec(int(i)).name;
    EXPECT_EQ(ma.params().var(n)->grad.to_vector<float>(), mb.params().var(int(i))->grad.to_vector<float>()) << n;
  }
  double aux_grad = 0;
  for (size_t i = 0; i < ma.params().size(); ++i)
    if (ma.params().spec(int(i)).group == "aux_router")
      for (float g : ma.params().var(int(i))->grad.to_vector<float>()) aux_grad += std::fabs(g);
  EXPECT_GT(aux_grad, 0);
}

TEST(MoRExpert, RandomRouterHasNoAuxLossAndNoRouterGradient) {
  ModelConfig c = tiny_mor("expert");
  c.mor.rand_router = true;
  Model model(c);
  model.initialize(2);
  Rng rng(9);
  ForwardContext ctx;
  ctx.rng = &rng;
  ad::Tape tape;
  ForwardResult r;
  {
    ad::GradScope scope(tape);
    r = model.forward(random_tokens(2, 9, c.vocab_size, 3), ctx);
    tape.backward(r.loss);
  }
  EXPECT_FALSE(r.aux.count("bce"));
  for (float g : model.params().var("routers.1.weight")->grad.to_vector<float>()) EXPECT_EQ(g, 0.0f);
}

TEST(MoRToken, DepthsAndWarmup) {
  ModelConfig c = tiny_mor("token");
  c.mor.bal_warmup_steps = 10;
  Model model(c);
  model.initialize(3);
  ForwardContext ctx;
  ForwardResult warm = model.forward(random_tokens(2, 8, c.vocab_size, 1), ctx);
  EXPECT_EQ(warm.routing.depth_histogram, (std::vector<int64_t>{0, 0, 16}));  // everyone at max depth
  ctx.step = 10;
  ForwardResult r = model.forward(random_tokens(2, 8, c.vocab_size, 1), ctx);
  int64_t total = 0;
  for (int64_t h : r.routing.depth_histogram) total += h;
  EXPECT_EQ(total, 16);
  EXPECT_EQ(r.routing.tokens_per_step[0], 16);
  EXPECT_TRUE(r.aux.count("balance"));
}

TEST(MoRToken, LossFreeBiasMovesTowardUnderloadedDepths) {
  ModelConfig c = tiny_mor("token");
  c.mor.balancing = "loss_free";
  c.mor.bias_update_rate = 0.01;
  Model model(c);
  model.initialize(3);
  EXPECT_FALSE(model.params().spec(model.params().index("router_bias")).trainable);
  model.update_router_bias({10, 0, 0});
  auto b = model.params().var("router_bias")->value.to_vector<float>();
  EXPECT_FLOAT_EQ(b[0], -0.01f);
  EXPECT_FLOAT_EQ(b[1], 0.01f);
  EXPECT_FLOAT_EQ(b[2], 0.01f);
  ForwardResult r = model.forward(random_tokens(1, 8, c.vocab_size, 1), ForwardContext{});
  EXPECT_FALSE(r.aux.count("balance"));
  auto counts = model.take_depth_counts();
  EXPECT_DOUBLE_EQ(counts[0] + counts[1] + counts[2], 8.0);
}

}  // namespace
}  // namespace mor
