// The C++ model against the PyTorch reference (tests/reference/make_llama_fixture.py, float64):
// same weights and batch -> logits, loss and every parameter gradient must match.
// Tolerances reflect our float32 arithmetic against a float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "checkpoints/safetensors.h"
#include "src/model/model.h"

namespace mor {
namespace {

struct Fixture {
  ckpt::SafetensorsFile file;
  ModelConfig cfg;
};

Fixture load(const std::string& name) {
  Fixture f;
  f.file = ckpt::read_safetensors(std::string(MOR_SOURCE_DIR) + "/tests/reference/" + name + ".safetensors");
  auto j = nlohmann::json::parse(f.file.metadata.at("config"));
  f.cfg.vocab_size = j["vocab_size"];
  f.cfg.d_model = j["d_model"];
  f.cfg.n_layers = j["n_layers"];
  f.cfg.n_heads = j["n_heads"];
  f.cfg.n_kv_heads = j["n_kv_heads"];
  f.cfg.d_ff = j["d_ff"];
  f.cfg.rope_theta = j["rope_theta"];
  f.cfg.norm_eps = j["norm_eps"];
  f.cfg.recursion.sharing = j["sharing"];
  f.cfg.recursion.num_recursions = j["num_recursions"];
  return f;
}

// max |a - b| / max(1e-30, max |b|)
double rel_max_err(const Tensor& a, const Tensor& b) {
  Tensor a64 = a.to_dtype(DType::F64), b64 = b.to_dtype(DType::F64);
  EXPECT_EQ(a64.numel(), b64.numel());
  double err = 0, scale = 1e-30;
  for (int64_t i = 0; i < b64.numel(); ++i) {
    err = std::max(err, std::fabs(a64.data<double>()[i] - b64.data<double>()[i]));
    scale = std::max(scale, std::fabs(b64.data<double>()[i]));
  }
  return err / scale;
}

void check_against_reference(const std::string& name) {
  Fixture f = load(name);
  Model model(f.cfg);
  ParamTable& p = model.params();
  int loaded = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string& n = p.spec(int(i)).name;
    auto it = f.file.tensors.find("param." + n);
    ASSERT_NE(it, f.file.tensors.end()) << "fixture lacks " << n;
    p.var(int(i))->value.copy_from(it->second.to_dtype(DType::F32));
    ++loaded;
  }
  EXPECT_EQ(loaded * 2 + 3, int(f.file.tensors.size()));  // params + grads + tokens/logits/loss

  ad::Tape tape;
  ForwardResult r;
  {
    ad::GradScope scope(tape);
    ForwardContext ctx;
    ctx.return_hidden = true;
    r = model.forward(f.file.tensors.at("tokens"), ctx);
    tape.backward(r.loss);
  }
  const double ref_loss = f.file.tensors.at("loss").item();
  EXPECT_NEAR(r.lm_loss, ref_loss, 2e-6 * ref_loss) << name;
  EXPECT_LT(rel_max_err(model.logits(r.hidden), f.file.tensors.at("logits")), 2e-6) << name;
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string& n = p.spec(int(i)).name;
    EXPECT_LT(rel_max_err(p.var(int(i))->grad, f.file.tensors.at("grad." + n)), 1e-4) << name << ": grad of " << n;
  }
}

TEST(ReferenceLlama, VanillaMatchesPyTorch) { check_against_reference("llama_tiny"); }
TEST(ReferenceLlama, MiddleCycleRecursiveMatchesPyTorch) { check_against_reference("recursive_tiny"); }

}  // namespace
}  // namespace mor
