// The inference engine (src/engine): for vanilla, Recursive, expert-choice (causal threshold) and
// token-choice MoR in both KV modes,
//   - one sequence decoded alone equals a full forward over the growing sequence (teacher-forced
//     argmax at every generated position);
//   - sequences of different lengths decoded together (continuous batching, depth-wise for MoR,
//     prompts split into chunks, small batches that queue) give each one's tokens decoded alone;
//   - the KV memory reported equals what was allocated; requests that cannot fit are refused with
//     a message, requests that do not fit yet wait, and a pool that runs short preempts and
//     restarts a sequence without changing its tokens.
// Models run in f64, so batched and single decoding can only differ by a real bug, not by rounding.
#include <gtest/gtest.h>

#include <cmath>

#include "src/core/rng.h"
#include "src/core/storage.h"
#include "src/engine/engine.h"

namespace mor {
namespace {

struct Variant {
  std::string name;
  std::string sharing;
  int64_t layers, nr;
  std::string type, kv_mode;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"vanilla", "none", 3, 1, "none", "recursion"},
      {"recursive", "middle_cycle", 6, 2, "none", "recursion"},
      {"recursive_share", "middle_cycle", 6, 2, "none", "share"},
      {"expert", "middle_cycle", 8, 3, "expert", "recursion"},
      {"expert_share", "middle_cycle", 8, 3, "expert", "share"},
      {"expert_cycle", "cycle", 4, 2, "expert", "recursion"},
      {"token", "middle_cycle", 8, 3, "token", "recursion"},
      {"token_share", "middle_cycle", 8, 3, "token", "share"},
  };
  return v;
}

ModelConfig config_of(const Variant& v) {
  ModelConfig m;
  m.vocab_size = 29;
  m.d_model = 16;
  m.n_layers = v.layers;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 24;
  m.init_std = 0.3;  // peaked logits and router scores spread around the threshold
  m.recursion.sharing = v.sharing;
  m.recursion.num_recursions = v.nr;
  m.mor.type = v.type;
  m.kv_mode = v.kv_mode;
  return m;
}

std::vector<int32_t> random_prompt(int64_t n, uint64_t seed, int64_t vocab) {
  Rng rng(seed, "prompt");
  std::vector<int32_t> p;
  for (int64_t i = 0; i < n; ++i) p.push_back(int32_t(rng.below(uint64_t(vocab))));
  return p;
}

EngineOptions options(int64_t max_batch, int64_t budget = int64_t(1) << 24) {
  EngineOptions o;
  o.max_batch = max_batch;
  o.kv_budget_bytes = budget;
  o.page_tokens = 4;
  return o;
}

Request request(std::vector<int32_t> prompt, int64_t n, SamplingParams s = {}) {
  Request r;
  r.prompt = std::move(prompt);
  r.max_new_tokens = n;
  r.sampling = s;
  return r;
}

std::vector<int32_t> decode_alone(const Model& model, const Request& r, int64_t max_batch = 8) {
  Engine e(model, options(max_batch));
  const int64_t id = e.submit(r);
  e.run();
  EXPECT_TRUE(e.completion(id).done);
  EXPECT_EQ(e.completion(id).error, "");
  return e.completion(id).tokens;
}

// Argmax of the full causal forward (eval, causal threshold selection) at every position.
std::vector<int32_t> teacher_forced_argmax(Model& model, const std::vector<int32_t>& seq) {
  const int64_t T = int64_t(seq.size());
  Tensor tokens = Tensor::empty({1, T + 1}, DType::I32);
  for (int64_t i = 0; i < T; ++i) tokens.data<int32_t>()[i] = seq[size_t(i)];
  tokens.data<int32_t>()[T] = 0;
  ForwardContext ctx;
  ctx.training = false;
  ctx.return_hidden = true;
  ctx.selection = Selection::Threshold;
  ad::NoGradScope no_grad;
  const Tensor logits = model.logits(model.forward(tokens, ctx).hidden);  // [T, V]
  const int64_t V = logits.dim(1);
  std::vector<int32_t> out;
  for (int64_t t = 0; t < T; ++t) {
    const double* z = logits.data<double>() + t * V;
    out.push_back(int32_t(std::max_element(z, z + V) - z));
  }
  return out;
}

class EngineVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(EngineVariant, SingleSequenceEqualsTeacherForcedForward) {
  const Variant& v = GetParam();
  Model model(config_of(v), DType::F64);
  model.initialize(11);
  for (int64_t plen : {1, 5}) {
    const std::vector<int32_t> prompt = random_prompt(plen, 7 + uint64_t(plen), 29);
    const std::vector<int32_t> gen = decode_alone(model, request(prompt, 12));
    ASSERT_EQ(gen.size(), 12u) << v.name;
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), gen.begin(), gen.end() - 1);
    const std::vector<int32_t> am = teacher_forced_argmax(model, seq);
    for (size_t i = 0; i < gen.size(); ++i)
      EXPECT_EQ(gen[i], am[prompt.size() - 1 + i]) << v.name << ": prompt " << plen << ", generated token " << i;
  }
}

TEST_P(EngineVariant, BatchedEqualsSingleSequence) {
  const Variant& v = GetParam();
  Model model(config_of(v), DType::F64);
  model.initialize(5);
  std::vector<Request> reqs;
  for (int64_t i = 0; i < 6; ++i) {
    SamplingParams s;
    if (i % 2) s.temperature = 0.9, s.top_k = 5, s.top_p = 0.9, s.seed = uint64_t(100 + i);
    reqs.push_back(request(random_prompt(1 + (i * 3) % 7, uint64_t(i), 29), 4 + (i * 5) % 9, s));
  }
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : reqs) alone.push_back(decode_alone(model, r));
  // Batches larger and smaller than the request count (queueing, prompt chunks of 2 and 3 rows).
  for (int64_t b : {8, 3, 2}) {
    Engine e(model, options(b));
    std::vector<int64_t> ids;
    for (const Request& r : reqs) ids.push_back(e.submit(r));
    e.run();
    for (size_t i = 0; i < reqs.size(); ++i)
      EXPECT_EQ(e.completion(ids[i]).tokens, alone[i]) << v.name << ": batch " << b << ", request " << i;
    EXPECT_EQ(e.pool().used_pages(), 0) << "every page returns when the sequences end";
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, EngineVariant, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

TEST(Engine, DepthWiseBatchesMixRecursionDepths) {
  // Expert-choice with the causal threshold: some tokens stop early, and with more sequences than
  // the block batch the shared block runs rows of different depths together.
  Model model(config_of(variants()[3]), DType::F64);
  model.initialize(5);
  Engine e(model, options(4));
  for (int64_t i = 0; i < 6; ++i) e.submit(request(random_prompt(2, uint64_t(i), 29), 10));
  e.run();
  const EngineStats& st = e.stats();
  EXPECT_EQ(st.generated_tokens, 60);
  EXPECT_LT(st.tokens_per_step[2], st.tokens_per_step[0]) << "the threshold lets some tokens stop early";
  EXPECT_GT(st.mixed_depth_batches, 0) << "rows of different depths share block batches";
  EXPECT_LE(st.mean_block_occupancy(4), 1.0);
}

TEST(Engine, ReportedKvBytesAreWhatWasAllocated) {
  Model model(config_of(variants()[3]), DType::F32);
  model.initialize(3);
  const int64_t before = memory_stats().in_use_bytes;
  Engine e(model, options(4, 100000));
  const int64_t allocated = memory_stats().in_use_bytes - before;
  EXPECT_EQ(e.pool().bytes(), allocated);
  // Pages of 4 rows of K and V (2 heads x 4 dims, f32) plus the position.
  EXPECT_EQ(e.pool().row_bytes(), 2 * 2 * 4 * 4 + 4);
  EXPECT_EQ(e.pool().pages(), 100000 / (4 * e.pool().row_bytes()));
  // Recursion-wise caching with capacities 1, 2/3, 1/3: 2 + 2 x (1 + 2/3 + 1/3) cache rows per token.
  EXPECT_DOUBLE_EQ(e.estimate().rows_per_token(), 6.0);
}

TEST(Engine, RequestThatCannotFitIsRefusedOthersRun) {
  Model model(config_of(variants()[0]), DType::F64);
  model.initialize(3);
  // Vanilla, 3 layers: a 10-token sequence needs 3 layers x 3 pages of 4 rows.
  const int64_t row = 2 * 2 * 4 * 8 + 4, budget = 9 * 4 * row;
  Engine e(model, options(4, budget));
  const int64_t big = e.submit(request({1, 2, 3}, 40));
  const int64_t ok1 = e.submit(request({4, 5}, 8));
  const int64_t ok2 = e.submit(request({6}, 9));
  EXPECT_TRUE(e.completion(big).done);
  EXPECT_NE(e.completion(big).error.find("cannot fit"), std::string::npos) << e.completion(big).error;
  EXPECT_NE(e.completion(big).error.find("Hint: raise the KV budget"), std::string::npos);
  e.run();
  // The two others each fit alone but not together: the second waited for the first's pages.
  EXPECT_EQ(e.completion(ok1).tokens, decode_alone(model, request({4, 5}, 8)));
  EXPECT_EQ(e.completion(ok2).tokens, decode_alone(model, request({6}, 9)));
  EXPECT_EQ(e.stats().refused, 1);
}

TEST(Engine, ShortPoolPreemptsAndRestartsWithoutChangingTokens) {
  // Expert-choice whose routers score exactly 0.5 (zero weights): every token continues, while the
  // scheduler expects capacity [1, 1/4] at the recursions -- so the pool runs short.
  ModelConfig c = config_of(variants()[3]);
  c.mor.capacity = {1.0, 0.25, 0.25};
  Model model(c, DType::F64);
  model.initialize(9);
  for (size_t i = 0; i < model.params().size(); ++i)
    if (model.params().spec(int(i)).name.rfind("routers.", 0) == 0) model.params().var(int(i))->value.fill_(0.0);
  const std::vector<int32_t> p1 = {3, 1, 4}, p2 = {1, 5};
  const std::vector<int32_t> a1 = decode_alone(model, request(p1, 9)), a2 = decode_alone(model, request(p2, 9));
  // Each sequence really caches 10-11 tokens in all 8 layers (8 x 3 pages of 4), but is expected to
  // need 3 + 3 + 2 x 3 + 2 x 1 + 2 x 1 = 16 pages: both start in 36 pages, then run short.
  const int64_t row = 2 * 2 * 4 * 8 + 4;
  Engine e(model, options(4, 36 * 4 * row));
  const int64_t i1 = e.submit(request(p1, 9)), i2 = e.submit(request(p2, 9));
  e.run();
  EXPECT_EQ(e.completion(i1).tokens, a1);
  EXPECT_EQ(e.completion(i2).tokens, a2);
  EXPECT_GT(e.stats().preemptions, 0) << "the pool was expected to run short";
  // Alone in a pool smaller than its real need: refused part-way with a message, no crash.
  Engine small(model, options(4, 20 * 4 * row));
  const int64_t i3 = small.submit(request(p1, 9));
  small.run();
  EXPECT_TRUE(small.completion(i3).done);
  EXPECT_NE(small.completion(i3).error.find("needs more KV cache than the whole budget"), std::string::npos)
      << small.completion(i3).error;
  EXPECT_EQ(small.pool().used_pages(), 0);
}

TEST(Engine, StreamsEachTokenBeforeTheNextIsComputedAndStopsAtTheStopToken) {
  Model model(config_of(variants()[6]), DType::F64);
  model.initialize(4);
  const std::vector<int32_t> free_run = decode_alone(model, request({2, 7}, 10));
  Engine e(model, options(4));
  Request r = request({2, 7}, 10);
  r.stop_token = free_run[3];
  std::vector<int32_t> streamed;
  std::vector<int64_t> generated_then;
  const Engine* ep = &e;
  r.on_token = [&](int32_t t) {
    streamed.push_back(t);
    generated_then.push_back(ep->stats().generated_tokens);
  };
  const int64_t id = e.submit(r);
  e.run();
  // The first occurrence of the stop token ends the sequence (it is emitted).
  size_t stop = 0;
  while (free_run[stop] != r.stop_token) ++stop;
  EXPECT_EQ(e.completion(id).tokens, std::vector<int32_t>(free_run.begin(), free_run.begin() + long(stop) + 1));
  EXPECT_EQ(streamed, e.completion(id).tokens);
  for (size_t i = 0; i < generated_then.size(); ++i) EXPECT_EQ(generated_then[i], int64_t(i) + 1);
}

}  // namespace
}  // namespace mor
