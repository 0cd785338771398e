// Incremental decoding with KV caches must reproduce the full causal forward pass position by
// position (vanilla, Recursive, KV sharing, token-choice, expert-choice running every step), and
// the causal threshold rule must skip recursions.
#include <gtest/gtest.h>

#include <cmath>

#include "src/core/rng.h"
#include "src/model/decoder.h"

namespace mor {
namespace {

ModelConfig base(const std::string& sharing, int64_t layers, int64_t nr) {
  ModelConfig m;
  m.vocab_size = 23;
  m.d_model = 16;
  m.n_layers = layers;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 24;
  m.recursion.sharing = sharing;
  m.recursion.num_recursions = nr;
  return m;
}

void expect_decoder_matches_forward(const ModelConfig& cfg, const std::string& label) {
  Model model(cfg);
  model.initialize(13);
  const int64_t T = 12;
  Tensor tokens = Tensor::empty({1, T + 1}, DType::I32);
  Rng rng(3);
  for (int64_t i = 0; i <= T; ++i) tokens.data<int32_t>()[i] = int32_t(rng.below(uint64_t(cfg.vocab_size)));
  ForwardContext ctx;
  ctx.training = false;
  ctx.return_hidden = true;
  Tensor full = model.logits(model.forward(tokens, ctx).hidden);  // [T, V]
  Decoder dec(model, "all");
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> got = dec.step(tokens.data<int32_t>()[t]).to_vector<float>();
    for (int64_t v = 0; v < cfg.vocab_size; ++v)
      ASSERT_NEAR(got[size_t(v)], full.data<float>()[t * cfg.vocab_size + v], 2e-5) << label << " position " << t;
  }
}

TEST(Decoder, VanillaMatchesFullForward) { expect_decoder_matches_forward(base("none", 3, 1), "vanilla"); }

TEST(Decoder, RecursiveMatchesFullForward) {
  expect_decoder_matches_forward(base("middle_cycle", 6, 2), "recursive");
  ModelConfig share = base("cycle", 4, 2);
  share.kv_mode = "share";
  expect_decoder_matches_forward(share, "recursive kv-share");
}

TEST(Decoder, TokenChoiceMatchesFullForward) {
  ModelConfig m = base("middle_cycle", 5, 3);
  m.mor.type = "token";
  expect_decoder_matches_forward(m, "token-choice");
  m.kv_mode = "share";
  expect_decoder_matches_forward(m, "token-choice kv-share");
}

TEST(Decoder, FullCapacityExpertMatchesFullForward) {
  ModelConfig m = base("middle_cycle", 5, 3);
  m.mor.type = "expert";
  m.mor.capacity = {1.0, 1.0, 1.0};
  expect_decoder_matches_forward(m, "expert capacity 1");
}

TEST(Decoder, ThresholdRuleSkipsRecursionsAndSamples) {
  ModelConfig m = base("middle_cycle", 5, 3);
  m.mor.type = "expert";
  Model model(m);
  model.initialize(2);  // untrained routers score ~0.5: about half the tokens pass each threshold
  Decoder dec(model, "threshold");
  SampleOptions o;
  o.max_new_tokens = 5;
  o.temperature = 0.8;
  o.top_k = 5;
  o.seed = 1;
  std::vector<int32_t> out = generate(dec, {1, 2, 3}, o);
  EXPECT_EQ(out.size(), 5u);
  for (int32_t t : out) EXPECT_TRUE(t >= 0 && t < m.vocab_size);
  const auto& steps = dec.stats().tokens_per_step;
  EXPECT_EQ(steps[0], 7);  // 3 prompt tokens + 4 fed back (the last sample is not fed)
  EXPECT_LT(steps[1], steps[0]);
  EXPECT_LE(steps[2], steps[1]);
  // Same seed, same sample.
  Decoder dec2(model, "threshold");
  EXPECT_EQ(generate(dec2, {1, 2, 3}, o), out);
}

TEST(Decoder, OnTokenSeesEachTokenBeforeTheNextIsComputed) {
  ModelConfig m = base("none", 3, 1);
  Model model(m);
  model.initialize(4);
  Decoder dec(model, "threshold");
  SampleOptions o;
  o.max_new_tokens = 6;
  o.seed = 2;
  std::vector<int32_t> seen;
  std::vector<int64_t> positions;  // tokens fed to the decoder when each callback ran
  o.on_token = [&](int32_t id) {
    seen.push_back(id);
    positions.push_back(dec.position());
  };
  const std::vector<int32_t> out = generate(dec, {1, 2, 3}, o);
  EXPECT_EQ(seen, out);
  ASSERT_EQ(positions.size(), out.size());
  for (size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(positions[i], int64_t(3 + i)) << "streamed late at token " << i;
}

}  // namespace
}  // namespace mor
