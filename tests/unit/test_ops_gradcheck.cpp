// Gradient checks for every differentiable autodiff op (f64 central differences), plus an
// f32-vs-f64 agreement check per case, plus the rule that every registered op is covered.
#include <gtest/gtest.h>

#include <set>

#include "gradcheck.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/tp_group.h"

namespace mor::testing {
namespace {
using ad::Var;

Tensor i32(std::vector<int32_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); }
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

ad::SeqLayout layout(std::vector<int64_t> off, std::vector<int32_t> pos) {
  return {i64(std::move(off)), i32(std::move(pos))};
}

std::vector<GradCase> all_cases() {
  std::vector<GradCase> cs;
  cs.push_back({"embedding", "repeated ids", {randn64({7, 5}, 1)}, {},
                [](const std::vector<Var>& v) { return ad::embedding(v[0], i32({3, 0, 3, 6, 1})); }});
  cs.push_back({"gather_rows", "subset", {randn64({6, 4}, 2)}, {},
                [](const std::vector<Var>& v) { return ad::gather_rows(v[0], i32({2, 0, 5})); }});
  cs.push_back({"scatter_add_rows", "subset", {randn64({6, 4}, 3), randn64({3, 4}, 4)}, {},
                [](const std::vector<Var>& v) { return ad::scatter_add_rows(v[0], i32({1, 3, 4}), v[1]); }});
  cs.push_back({"scatter_rows", "replace subset", {randn64({6, 4}, 44), randn64({3, 4}, 45)}, {},
                [](const std::vector<Var>& v) { return ad::scatter_rows(v[0], i32({4, 0, 2}), v[1]); }});
  cs.push_back({"gelu", "", {randn64({9}, 46, 2.0)}, {},
                [](const std::vector<Var>& v) { return ad::gelu(v[0]); }});
  cs.push_back({"linear", "2d", {randn64({5, 4}, 5), randn64({3, 4}, 6)}, {},
                [](const std::vector<Var>& v) { return ad::linear(v[0], v[1]); }});
  cs.push_back({"linear", "3d input", {randn64({2, 3, 4}, 7), randn64({6, 4}, 8)}, {},
                [](const std::vector<Var>& v) { return ad::linear(v[0], v[1]); }});
  cs.push_back({"rmsnorm", "rows", {randn64({5, 8}, 9), randn64({8}, 10, 0.3, 1.0)}, {},
                [](const std::vector<Var>& v) { return ad::rmsnorm(v[0], v[1], 1e-5); }});
  cs.push_back({"rope", "explicit positions, one head copied", {randn64({6, 3, 4}, 11)}, {},
                [](const std::vector<Var>& v) { return ad::rope(v[0], i32({0, 1, 2, 5, 7, 90}), 2, 10000.0); }});
  cs.push_back({"swiglu", "fused gate|up", {randn64({4, 6}, 12)}, {},
                [](const std::vector<Var>& v) { return ad::swiglu(v[0]); }});
  cs.push_back({"reshape", "feeding a linear", {randn64({2, 6}, 42), randn64({2, 3}, 43)}, {},
                [](const std::vector<Var>& v) { return ad::linear(ad::reshape(v[0], {4, 3}), v[1]); }});
  cs.push_back({"add", "", {randn64({3, 4}, 13), randn64({3, 4}, 14)}, {},
                [](const std::vector<Var>& v) { return ad::add(v[0], v[1]); }});
  cs.push_back({"mul", "", {randn64({3, 4}, 15), randn64({3, 4}, 16)}, {},
                [](const std::vector<Var>& v) { return ad::mul(v[0], v[1]); }});
  cs.push_back({"scale", "", {randn64({3, 4}, 17)}, {},
                [](const std::vector<Var>& v) { return ad::scale(v[0], -0.7); }});
  cs.push_back({"scale_rows", "", {randn64({4, 3}, 18), randn64({4}, 19)}, {},
                [](const std::vector<Var>& v) { return ad::scale_rows(v[0], v[1]); }});
  cs.push_back({"sum", "", {randn64({3, 5}, 20)}, {},
                [](const std::vector<Var>& v) { return ad::sum(v[0]); }});
  cs.push_back({"sigmoid", "", {randn64({7}, 21, 2.0)}, {},
                [](const std::vector<Var>& v) { return ad::sigmoid(v[0]); }});
  cs.push_back({"tanh", "", {randn64({7}, 22)}, {},
                [](const std::vector<Var>& v) { return ad::tanh(v[0]); }});
  cs.push_back({"softmax", "rows", {randn64({3, 5}, 23, 2.0)}, {},
                [](const std::vector<Var>& v) { return ad::softmax(v[0]); }});
  cs.push_back({"logsumexp", "rows", {randn64({3, 5}, 24, 2.0)}, {},
                [](const std::vector<Var>& v) { return ad::logsumexp(v[0]); }});
  cs.push_back({"cross_entropy", "with an ignored row", {randn64({5, 7}, 25, 2.0)}, {},
                [](const std::vector<Var>& v) { return ad::cross_entropy(v[0], i32({3, 0, -1, 6, 2})); }});
  cs.push_back({"classifier_cross_entropy", "one chunk", {randn64({5, 4}, 26), randn64({7, 4}, 27)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy(v[0], v[1], i32({3, 0, -1, 6, 2}));
                }});
  cs.push_back({"classifier_cross_entropy", "chunks of 2 rows, explicit normaliser",
                {randn64({5, 4}, 28), randn64({7, 4}, 29)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy(v[0], v[1], i32({3, 0, 1, 6, 2}), 8.0, {2});
                }});
  // Vocabulary tiles of 3 over a vocabulary of 7 (the last tile is 1 wide), ignored rows, the
  // block's logits kept between the passes or recomputed tile by tile.
  cs.push_back({"classifier_cross_entropy", "blocks of 2 rows, vocabulary tiles of 3 of 7, two ignored rows",
                {randn64({5, 4}, 54), randn64({7, 4}, 55)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy(v[0], v[1], i32({-1, 6, 4, -1, 2}), 0, {2, 3, false});
                }});
  cs.push_back({"classifier_cross_entropy", "recomputed tiles of 3 of 7, blocks of 2 rows, an ignored row",
                {randn64({5, 4}, 56), randn64({7, 4}, 57)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy(v[0], v[1], i32({5, 0, -1, 6, 3}), 0, {2, 3, true});
                }});
  cs.push_back({"bce_with_logits", "0/1 targets", {randn64({6}, 30, 2.0)}, {},
                [](const std::vector<Var>& v) {
                  Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 1, 0}, {6});
                  return ad::bce_with_logits(v[0], t);
                }});
  // Attention: q, k, v as separate tensors; 2 sequences of 5, GQA 4:2.
  cs.push_back({"attention", "dense causal GQA", {randn64({10, 4, 4}, 31), randn64({10, 2, 4}, 32), randn64({10, 2, 4}, 33)}, {},
                [](const std::vector<Var>& v) {
                  auto L = ad::SeqLayout::dense(2, 5);
                  return ad::attention({v[0], 0, 4}, {v[1], 0, 2}, {v[2], 0, 2}, L, L);
                }});
  // Fused qkv [rows, 4+2+2 heads, D]; compacted subsets (original positions), uneven lengths.
  cs.push_back({"attention", "fused qkv, compacted token subsets", {randn64({7, 8, 4}, 34)}, {},
                [](const std::vector<Var>& v) {
                  auto L = layout({0, 4, 7}, {0, 2, 3, 9, 1, 4, 5});
                  return ad::attention({v[0], 0, 4}, {v[0], 4, 2}, {v[0], 6, 2}, L, L);
                }});
  // KV sharing: queries are a subset, keys/values the full sequence.
  cs.push_back({"attention", "queries subset, full keys (KV sharing)",
                {randn64({3, 2, 4}, 35), randn64({6, 1, 4}, 36), randn64({6, 1, 4}, 37)}, {},
                [](const std::vector<Var>& v) {
                  auto Lq = layout({0, 2, 3}, {1, 2, 0});
                  auto Lk = layout({0, 3, 6}, {0, 1, 2, 0, 1, 2});
                  return ad::attention({v[0], 0, 2}, {v[1], 0, 1}, {v[2], 0, 1}, Lq, Lk);
                }});
  // Longer than one 64-query block.
  cs.push_back({"attention", "70 tokens (two query blocks)", {randn64({70, 3, 2}, 38)}, {},
                [](const std::vector<Var>& v) {
                  auto L = ad::SeqLayout::dense(1, 70);
                  return ad::attention({v[0], 0, 1}, {v[0], 1, 1}, {v[0], 2, 1}, L, L);
                }});
  // Tensor-parallel ops over a group of one member (the multi-rank checks are in tests/mpi/test_tp.cpp).
  static ad::LocalTpGroup solo;
  cs.push_back({"copy_to_tp_region", "group of one, feeding a linear", {randn64({4, 3}, 47), randn64({2, 3}, 48)}, {},
                [](const std::vector<Var>& v) { return ad::linear(ad::copy_to_tp_region(v[0], solo), v[1]); }});
  cs.push_back({"reduce_from_tp_region", "group of one, after a linear", {randn64({4, 3}, 49), randn64({2, 3}, 50)}, {},
                [](const std::vector<Var>& v) { return ad::reduce_from_tp_region(ad::linear(v[0], v[1]), solo); }});
  cs.push_back({"embedding_shard", "rows 2..4 of a vocabulary of 7, ids in and out of the shard", {randn64({3, 5}, 51)}, {},
                [](const std::vector<Var>& v) { return ad::embedding_shard(v[0], i32({3, 0, 2, 6, 4, 3}), 2, 7); }});
  cs.push_back({"classifier_cross_entropy_vocab_parallel", "group of one, chunks of 2 rows, an ignored row",
                {randn64({5, 4}, 52), randn64({7, 4}, 53)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy_vocab_parallel(v[0], v[1], i32({3, 0, -1, 6, 2}), {&solo, 0, 7}, 0, {2});
                }});
  cs.push_back({"classifier_cross_entropy_vocab_parallel", "group of one, recomputed tiles of 2 of 7, blocks of 3 rows",
                {randn64({5, 4}, 58), randn64({7, 4}, 59)}, {},
                [](const std::vector<Var>& v) {
                  return ad::classifier_cross_entropy_vocab_parallel(v[0], v[1], i32({3, -1, 1, 6, 2}), {&solo, 0, 7}, 0,
                                                                     {3, 2, true});
                }});
  return cs;
}

class OpGrad : public ::testing::TestWithParam<GradCase> {};

TEST_P(OpGrad, MatchesFiniteDifferences) {
  GradReport r = gradcheck(GetParam());
  EXPECT_TRUE(r.ok) << GetParam().op << " (" << GetParam().label << "): " << r.worst
                    << " max abs err " << r.max_abs_err;
}

TEST_P(OpGrad, Float32MatchesFloat64) {
  GradReport r = f32_matches_f64(GetParam());
  EXPECT_TRUE(r.ok) << GetParam().op << " (" << GetParam().label << "): " << r.worst;
}

std::string case_name(const ::testing::TestParamInfo<GradCase>& info) {
  return info.param.op + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGrad, ::testing::ValuesIn(all_cases()), case_name);

TEST(OpRegistry, EveryDifferentiableOpHasAGradientCheck) {
  std::set<std::string> covered;
  for (const auto& c : all_cases()) covered.insert(c.op);
  auto ops = ad::registered_ops();
  ASSERT_GT(ops.size(), 10u);
  for (const auto& op : ops) {
    if (!op.differentiable) continue;
    EXPECT_TRUE(covered.count(op.name)) << "op '" << op.name
                                        << "' is registered but has no finite-difference test in "
                                           "tests/unit/test_ops_gradcheck.cpp";
  }
  for (const auto& name : covered) {
    bool found = false;
    for (const auto& op : ops) found |= op.name == name;
    EXPECT_TRUE(found) << "gradient case for unregistered op '" << name << "'";
  }
}

TEST(TopK, SelectsLargestPerSequenceSortedByPosition) {
  Tensor scores = Tensor::from_vector(std::vector<float>{0.1f, 0.9f, 0.5f, 0.7f, 0.3f, 0.8f, 0.2f}, {7});
  auto L = layout({0, 4, 7}, {0, 1, 2, 3, 0, 1, 2});
  Tensor idx = ad::topk_per_sequence(scores, L, {2, 1});
  EXPECT_EQ(idx.to_vector<int32_t>(), (std::vector<int32_t>{1, 3, 5}));
  // Ties: lower row wins.
  Tensor tied = Tensor::from_vector(std::vector<float>{0.5f, 0.5f, 0.5f}, {3});
  EXPECT_EQ(ad::topk_per_sequence(tied, layout({0, 3}, {0, 1, 2}), {2}).to_vector<int32_t>(),
            (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(ad::topk_per_sequence(tied, layout({0, 3}, {0, 1, 2}), {0}).numel(), 0);
}

TEST(Autodiff, SharedParameterAccumulatesOneGradient) {
  // y = W (W x): the gradient of W is the sum of both uses.
  Tensor w = randn64({3, 3}, 40), x = randn64({2, 3}, 41);
  GradCase c{"linear", "reuse", {w, x}, {}, [](const std::vector<Var>& v) {
               return ad::linear(ad::linear(v[1], v[0]), v[0]);
             }};
  GradReport r = gradcheck(c);
  EXPECT_TRUE(r.ok) << r.worst;
}

}  // namespace
}  // namespace mor::testing
