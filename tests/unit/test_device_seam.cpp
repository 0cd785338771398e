// The device seam, proved without a GPU: the same model trained, evaluated, routed and decoded by
// the inference engine on the test
// device (host memory behind its own allocator, host access refused, CPU kernels behind the
// kernel table; src/core/device.h) matches device: cpu bit for bit. A host read left anywhere in
// an op, a router, the optimizer or the parameter table fails these tests with "host access".
#include <gtest/gtest.h>

#include <cstring>

#include "src/core/rng.h"
#include "src/engine/engine.h"
#include "src/model/model.h"
#include "src/train/optimizer.h"
#include "tests/unit/random_tokens.h"

namespace mor {
namespace {

ModelConfig seam_model(const std::string& type, const std::string& sharing = "middle_cycle") {
  ModelConfig m;
  m.vocab_size = 37;
  m.d_model = 16;
  m.n_layers = 5;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 24;
  m.recursion.sharing = sharing;
  m.recursion.num_recursions = sharing == "none" ? 1 : 3;
  m.mor.type = type;
  return m;
}

struct Variant {
  std::string name;
  ModelConfig cfg;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"vanilla", seam_model("none", "none")});
  v.push_back({"recursive", seam_model("none")});
  v.push_back({"expert", seam_model("expert")});
  ModelConfig share = seam_model("expert");
  share.kv_mode = "share";
  v.push_back({"expert_share_kv", share});
  ModelConfig aux = seam_model("expert");
  aux.mor.sampling = "aux_router";
  aux.mor.z_coeff = 1e-3;
  v.push_back({"expert_aux_router", aux});
  ModelConfig token = seam_model("token");
  token.mor.z_coeff = 1e-3;
  v.push_back({"token_loss", token});
  ModelConfig free = seam_model("token");
  free.mor.balancing = "loss_free";
  v.push_back({"token_loss_free", free});
  return v;
}

std::vector<float> host_values(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

// Bitwise equality of two float vectors (NaN-safe, -0 != +0).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// What one training step reports, for comparison across devices.
struct StepRecord {
  double lm_loss = 0, grad_norm = 0;
  std::map<std::string, double> aux;
  RoutingStats routing;
};

StepRecord train_step(Model& model, AdamW& opt, int64_t step, const Tensor& tokens) {
  model.params().zero_grads();
  ad::Tape tape;
  StepRecord rec;
  {
    ad::GradScope scope(tape);
    ForwardContext ctx;
    ctx.step = step;
    ctx.forward_call = step + 1;
    ForwardResult r = model.forward(tokens, ctx);
    tape.backward(r.loss);
    rec.lm_loss = r.lm_loss;
    rec.aux = r.aux;
    rec.routing = r.routing;
  }
  rec.routing.resolve();
  rec.grad_norm = opt.grad_norm();
  opt.step(3e-3, rec.grad_norm, 1.0);
  model.update_router_bias(model.take_depth_counts());
  return rec;
}

void expect_same_routing(const RoutingStats& a, const RoutingStats& b, const std::string& where) {
  EXPECT_EQ(a.tokens_per_step, b.tokens_per_step) << where;
  EXPECT_EQ(a.depth_histogram, b.depth_histogram) << where;
  EXPECT_EQ(a.mean_score, b.mean_score) << where;
  EXPECT_EQ(a.dead_ratio, b.dead_ratio) << where;
  EXPECT_EQ(a.maxvio, b.maxvio) << where;
  ASSERT_EQ(a.selected.size(), b.selected.size()) << where;
  for (size_t i = 0; i < a.selected.size(); ++i)
    EXPECT_EQ(a.selected[i].to_vector<int32_t>(), b.selected[i].to_vector<int32_t>()) << where << " step " << i;
  EXPECT_EQ(a.depth.defined(), b.depth.defined()) << where;
  if (a.depth.defined()) {
    EXPECT_EQ(a.depth.to_vector<int32_t>(), b.depth.to_vector<int32_t>()) << where;
  }
}

TEST(DeviceSeam, TrainingAndEvaluationMatchTheCpuBitForBit) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    Model cpu(v.cfg), dev(v.cfg, DType::F32, nullptr, Device::test());
    ASSERT_TRUE(dev.device().is_test());
    cpu.initialize(5);
    dev.initialize(5);
    TrainConfig t;
    AdamW opt_cpu(cpu.params(), t), opt_dev(dev.params(), t);
    for (int64_t s = 0; s < 4; ++s) {
      const Tensor tokens = testing::random_tokens(3, 12, v.cfg.vocab_size, 40 + uint64_t(s));
      const StepRecord a = train_step(cpu, opt_cpu, s, tokens), b = train_step(dev, opt_dev, s, tokens);
      const std::string where = v.name + " step " + std::to_string(s + 1);
      EXPECT_EQ(a.lm_loss, b.lm_loss) << where;
      EXPECT_EQ(a.grad_norm, b.grad_norm) << where;
      EXPECT_EQ(a.aux, b.aux) << where;
      expect_same_routing(a.routing, b.routing, where);
    }
    EXPECT_TRUE(same_bits(host_values(cpu.params().values()), host_values(dev.params().values()))) << "weights";
    EXPECT_TRUE(same_bits(host_values(opt_cpu.exp_avg()), host_values(opt_dev.exp_avg()))) << "first moments";
    EXPECT_TRUE(same_bits(host_values(opt_cpu.exp_avg_sq()), host_values(opt_dev.exp_avg_sq()))) << "second moments";
    EXPECT_TRUE(opt_dev.exp_avg().device().is_test());

    // Evaluation: top-k and, for expert-choice, the causal threshold rule (a host copy of scores).
    ad::NoGradScope no_grad;
    std::vector<std::optional<Selection>> selections{std::nullopt};
    if (v.cfg.mor.type == "expert") selections.push_back(Selection::Threshold);
    for (const auto& sel : selections) {
      ForwardContext ctx;
      ctx.training = false;
      ctx.selection = sel;
      ctx.return_hidden = true;
      const Tensor tokens = testing::random_tokens(2, 16, v.cfg.vocab_size, 99);
      ForwardResult a = cpu.forward(tokens, ctx), b = dev.forward(tokens, ctx);
      a.routing.resolve();
      b.routing.resolve();
      EXPECT_EQ(a.lm_loss, b.lm_loss) << "eval";
      EXPECT_TRUE(b.hidden.device().is_test());
      EXPECT_TRUE(same_bits(host_values(a.hidden), host_values(b.hidden))) << "eval hidden";
      EXPECT_TRUE(same_bits(host_values(cpu.logits(a.hidden)), host_values(dev.logits(b.hidden)))) << "logits";
      expect_same_routing(a.routing, b.routing, v.name + " eval");
    }
  }
}

// Where a training step waits for its device, counted (every host read of device data is a copy,
// device_to_host_copies()): the forward reads back only the logged scalars -- the LM loss and each
// auxiliary loss -- plus, for token-choice, the per-depth counts (once for the histogram, once per
// recursion step that ran); expert-choice top-k needs none; backward and the AdamW update none.
TEST(DeviceSeam, AStepReadsTheDeviceOnlyWhereItMust) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    Model dev(v.cfg, DType::F32, nullptr, Device::test());
    dev.initialize(3);
    TrainConfig t;
    AdamW opt(dev.params(), t);
    const Tensor tokens = testing::random_tokens(3, 12, v.cfg.vocab_size, 17);
    ad::Tape tape;
    ForwardResult r;
    int64_t forward = 0, backward = 0;
    {
      ad::GradScope scope(tape);
      ForwardContext ctx;
      ctx.forward_call = 1;
      const int64_t c0 = device_to_host_copies();
      r = dev.forward(tokens, ctx);
      const int64_t c1 = device_to_host_copies();
      tape.backward(r.loss);
      forward = c1 - c0, backward = device_to_host_copies() - c1;
    }
    int64_t expected = 1 + int64_t(r.aux.size());
    if (v.cfg.mor.type == "token") {
      expected += 1;  // the depth histogram
      for (int64_t n : r.routing.tokens_per_step) expected += n > 0;  // each step's exits and stays
    }
    EXPECT_EQ(forward, expected);
    EXPECT_EQ(backward, 0);
    const int64_t c2 = device_to_host_copies();
    opt.step(3e-3, opt.grad_norm(), 1.0);
    EXPECT_EQ(device_to_host_copies(), c2) << "the optimizer step";
  }
}

// Generation: the engine's batched, paged, depth-wise decoding of several requests (greedy and
// sampled, prompts longer than a page) gives the same tokens on the test device as on the CPU.
TEST(DeviceSeam, GenerationMatchesTheCpu) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    Model cpu(v.cfg), dev(v.cfg, DType::F32, nullptr, Device::test());
    cpu.initialize(8);
    dev.initialize(8);
    auto generate = [&](const Model& m) {
      EngineOptions o;
      o.max_batch = 4;
      o.page_tokens = 4;
      o.kv_budget_bytes = int64_t(1) << 22;
      Engine e(m, o);
      std::vector<int64_t> ids;
      for (int i = 0; i < 3; ++i) {
        Request r;
        Rng rng(uint64_t(i), "prompt");
        for (int k = 0; k < 3 + 4 * i; ++k) r.prompt.push_back(int32_t(rng.below(uint64_t(v.cfg.vocab_size))));
        r.max_new_tokens = 6;
        if (i == 2) r.sampling.temperature = 0.8, r.sampling.top_k = 5, r.sampling.seed = 3;
        ids.push_back(e.submit(r));
      }
      e.run();
      std::vector<std::vector<int32_t>> out;
      for (int64_t id : ids) {
        EXPECT_EQ(e.completion(id).error, "");
        out.push_back(e.completion(id).tokens);
      }
      return out;
    };
    const auto a = generate(cpu), b = generate(dev);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.front().size(), 6u);
  }
}

TEST(DeviceSeam, HostAccessAndMixedDevicesAreRefused) {
  Model dev(seam_model("expert"), DType::F32, nullptr, Device::test());
  dev.initialize(1);
  try {
    (void)dev.params().values().data<float>();
    FAIL() << "expected host access to a test-device tensor to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test"), std::string::npos) << e.what();
  }
  // An op whose inputs live on two devices names both.
  const ad::Var x = ad::make_var(Tensor::full({2, 16}, 1.0, DType::F32));
  try {
    ad::rmsnorm(x, dev.params().var("norm"), 1e-5);
    FAIL() << "expected mixed devices to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu and test"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mor
