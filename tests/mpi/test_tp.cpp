// Tensor parallelism across ranks (the whole world as one TP group: 1, 2 or 4 members):
//   - the conjugate primitives in closed form from rank numbers, and a collective finite-difference
//     gradient check of a column-parallel -> row-parallel composite and of the vocab-parallel
//     embedding and cross-entropy;
//   - TP == one process for vanilla (tied and untied head), expert-choice (also with KV sharing and
//     an auxiliary router) and token-choice (loss-free bias; balancing loss) MoR, in f64:
//     loss, auxiliary losses, selections, logits and every parameter's gradient (shard of the whole
//     model's), with the selection check on; replicated gradients bit-identical across TP ranks;
//   - the selection check fails, naming the step and recursion, when ranks disagree.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dist/process_grid.h"
#include "dist/runtime.h"
#include "dist/tp_comm.h"
#include "src/core/rng.h"
#include "src/model/model.h"
#include "tests/unit/random_tokens.h"

namespace mor::dist {
namespace {

Tensor randn(const Shape& s, uint64_t seed, double std = 1.0) {
  Rng rng(seed);
  std::vector<double> v(size_t(shape_numel(s)));
  for (double& x : v) x = std * rng.normal();
  return Tensor::from_vector(v, s);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  const auto x = a.to_dtype(DType::F64).to_vector<double>(), y = b.to_dtype(DType::F64).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

TEST(TensorParallel, PrimitivesInClosedForm) {
  ProcessGrid g(world(), world().size());
  CommTpGroup tp(g.tp());
  const int r = g.tp_rank(), t = g.tp_size();
  ad::Tape tape;
  ad::GradScope scope(tape);
  // reduce_from: forward sums x = r + 1 over ranks; backward passes dy = 1 through.
  ad::Var x = ad::make_var(Tensor::full({3}, r + 1.0, DType::F64), true);
  ad::Var y = ad::reduce_from_tp_region(x, tp);
  for (double v : y->value.to_vector<double>()) EXPECT_EQ(v, t * (t + 1) / 2.0);
  // copy_to: forward identity; backward sums each rank's upstream gradient (r + 1).
  ad::Var a = ad::make_var(Tensor::full({2}, 5.0, DType::F64), true);
  ad::Var b = ad::copy_to_tp_region(a, tp);
  for (double v : b->value.to_vector<double>()) EXPECT_EQ(v, 5.0);
  tape.backward(ad::add(ad::sum(ad::scale(b, r + 1.0)), ad::sum(y)));
  for (double v : a->grad.to_vector<double>()) EXPECT_EQ(v, t * (t + 1) / 2.0);
  for (double v : x->grad.to_vector<double>()) EXPECT_EQ(v, 1.0);
}

// Collective finite differences: inputs are this rank's (sharded or replicated); the scalar
// built by `f` is the same on every rank. Each element of each rank's inputs is perturbed in turn
// (all ranks step through the same loop), and rank q's analytic gradient is compared with the
// central difference of the replicated scalar.
void collective_gradcheck(CommTpGroup& tp, std::vector<Tensor> inputs, const std::function<ad::Var(std::vector<ad::Var>&)>& f,
                          const std::vector<bool>& replicated) {
  auto run = [&](std::vector<Tensor>& in, bool grad, std::vector<Tensor>* grads) {
    std::vector<ad::Var> v;
    for (Tensor& t : in) v.push_back(ad::make_var(t, true));
    ad::Tape tape;
    ad::GradScope scope(tape);
    ad::Var out = f(v);
    const double val = out->value.item();
    if (grad) {
      tape.backward(out);
      for (ad::Var& x : v) grads->push_back(x->grad.defined() ? x->grad.clone() : Tensor::zeros(x->value.shape(), DType::F64));
    } else {
      tape.clear();
    }
    return val;
  };
  std::vector<Tensor> analytic;
  run(inputs, true, &analytic);
  const int t = tp.size();
  const double eps = 1e-6;
  for (size_t k = 0; k < inputs.size(); ++k) {
    for (int q = 0; q < t; ++q) {
      // A replicated input is perturbed on every rank at once (its gradient is the same on each).
      if (replicated[k] && q > 0) break;
      for (int64_t e = 0; e < inputs[k].numel(); ++e) {
        const bool mine = replicated[k] || q == tp.shard_index();
        double* p = inputs[k].data<double>() + e;
        const double keep = *p;
        if (mine) *p = keep + eps;
        const double up = run(inputs, false, nullptr);
        if (mine) *p = keep - eps;
        const double down = run(inputs, false, nullptr);
        if (mine) *p = keep;
        const double numeric = (up - down) / (2 * eps);
        if (mine) EXPECT_NEAR(analytic[k].data<double>()[e], numeric, 1e-7 + 1e-5 * std::abs(numeric))
            << "input " << k << " element " << e << " on tp rank " << q;
      }
    }
  }
}

TEST(TensorParallel, ColumnThenRowParallelGradcheck) {
  ProcessGrid g(world(), world().size());
  CommTpGroup tp(g.tp());
  const int r = g.tp_rank();
  // x [3, 4] replicated; w1 shard [2, 4] (column-parallel), w2 shard [4, 2] (row-parallel).
  std::vector<Tensor> in{randn({3, 4}, 1), randn({2, 4}, 10 + uint64_t(r)), randn({4, 2}, 20 + uint64_t(r))};
  const Tensor R = randn({3, 4}, 2);
  collective_gradcheck(tp, in, [&](std::vector<ad::Var>& v) {
    ad::Var h = ad::gelu(ad::linear(ad::copy_to_tp_region(v[0], tp), v[1]));
    ad::Var y = ad::reduce_from_tp_region(ad::linear(h, v[2]), tp);
    return ad::sum(ad::mul(ad::mul(y, y), ad::make_var(R)));
  }, {true, false, false});
}

TEST(TensorParallel, VocabParallelEmbeddingAndLossGradcheck) {
  ProcessGrid g(world(), world().size());
  CommTpGroup tp(g.tp());
  const int r = g.tp_rank(), t = g.tp_size();
  const int64_t vl = 3, V = vl * t, d = 4;
  // Every rank's table shard [vl, d]; ids over the whole vocabulary; the head is tied to the table.
  std::vector<Tensor> in{randn({vl, d}, 30 + uint64_t(r))};
  std::vector<int32_t> ids, targets;
  for (int i = 0; i < 6; ++i) ids.push_back(int32_t((i * 5 + 1) % V)), targets.push_back(i == 2 ? -1 : int32_t((i * 7 + 2) % V));
  const Tensor ids_t = Tensor::from_vector(ids, {6}), tg = Tensor::from_vector(targets, {6});
  const Tensor mix = randn({d, d}, 3);
  collective_gradcheck(tp, in, [&](std::vector<ad::Var>& v) {
    ad::Var x = ad::reduce_from_tp_region(ad::embedding_shard(v[0], ids_t, r * vl, V), tp);
    x = ad::tanh(ad::linear(x, ad::make_var(mix)));
    return ad::classifier_cross_entropy_vocab_parallel(ad::copy_to_tp_region(x, tp), v[0], tg, {&tp, r * vl, V}, 0, {4});
  }, {false});
}

// The same loss with each shard's 3 rows cut into tiles of 2 whose logits the gradient pass
// recomputes, and blocks of 4 rows (so the statistics are combined per block, twice).
TEST(TensorParallel, VocabParallelLossRecomputedTilesGradcheck) {
  ProcessGrid g(world(), world().size());
  CommTpGroup tp(g.tp());
  const int r = g.tp_rank(), t = g.tp_size();
  const int64_t vl = 3, V = vl * t, d = 4;
  std::vector<Tensor> in{randn({6, d}, 40), randn({vl, d}, 41 + uint64_t(r))};
  std::vector<int32_t> targets;
  for (int i = 0; i < 6; ++i) targets.push_back(i == 4 ? -1 : int32_t((i * 5 + 3) % V));
  const Tensor tg = Tensor::from_vector(targets, {6});
  collective_gradcheck(tp, in, [&](std::vector<ad::Var>& v) {
    return ad::classifier_cross_entropy_vocab_parallel(ad::copy_to_tp_region(v[0], tp), v[1], tg, {&tp, r * vl, V}, 0,
                                                       {4, 2, true});
  }, {true, false});
}

// type: none | expert | token (loss-free bias); option: "" | "untied" (own lm_head) | "kv_share"
// (expert, KV sharing, aux router) | "balance_loss" (token, balancing loss + z-loss).
ModelConfig tp_model(const std::string& type, const std::string& option = "") {
  ModelConfig m;
  m.vocab_size = 64;
  m.d_model = 32;
  m.n_layers = 4;
  m.n_heads = 8;
  m.n_kv_heads = 4;  // GQA 2:1; splits over 1, 2 and 4 ranks
  m.d_ff = 48;
  m.init_std = 0.1;
  if (type != "none") {
    m.recursion.sharing = "middle_cycle";
    m.recursion.num_recursions = 2;
    m.mor.type = type;
    if (type == "token") m.mor.balancing = "loss_free";
    if (type == "expert") m.mor.z_coeff = 1e-3;
  }
  if (option == "untied") m.tie_embeddings = false;
  if (option == "kv_share") m.kv_mode = "share", m.mor.sampling = "aux_router";
  if (option == "balance_loss") m.mor.balancing = "loss", m.mor.z_coeff = 1e-3;
  return m;
}

using mor::testing::random_tokens;

struct Run {
  ForwardResult f;
  Tensor logits;
};
Run forward_backward(Model& m, const Tensor& tok) {
  m.params().zero_grads();
  ad::Tape tape;
  ad::GradScope scope(tape);
  ForwardContext ctx;
  ctx.step = 3;
  ctx.return_hidden = true;
  Run out{m.forward(tok, ctx), Tensor()};
  tape.backward(out.f.loss);
  out.logits = m.logits(out.f.hidden);
  return out;
}

void expect_tp_equals_whole(const std::string& type, DType dtype, double tol, const std::string& option = "") {
  SCOPED_TRACE(type + " " + option + (dtype == DType::F64 ? " f64" : " f32"));
  ProcessGrid g(world(), world().size());
  CommTpGroup tp(g.tp(), /*check_selection=*/true);
  const ModelConfig cfg = tp_model(type, option);
  Model whole(cfg, dtype), split(cfg, dtype, &tp);
  whole.initialize(7);
  split.initialize(7);
  const Tensor tok = random_tokens(3, 12, cfg.vocab_size, 11);
  const Run a = forward_backward(whole, tok), b = forward_backward(split, tok);
  EXPECT_NEAR(a.f.loss->value.item(), b.f.loss->value.item(), tol);
  EXPECT_NEAR(a.f.lm_loss, b.f.lm_loss, tol);
  ASSERT_EQ(a.f.aux.size(), b.f.aux.size());
  for (const auto& [k, v] : a.f.aux) EXPECT_NEAR(v, b.f.aux.at(k), tol) << k;
  ASSERT_EQ(a.f.routing.selected.size(), b.f.routing.selected.size());
  for (size_t i = 0; i < a.f.routing.selected.size(); ++i)
    EXPECT_EQ(a.f.routing.selected[i].to_vector<int32_t>(), b.f.routing.selected[i].to_vector<int32_t>()) << "step " << i;
  if (a.f.routing.depth.defined()) EXPECT_EQ(a.f.routing.depth.to_vector<int32_t>(), b.f.routing.depth.to_vector<int32_t>());
  EXPECT_EQ(a.f.routing.tokens_per_step, b.f.routing.tokens_per_step);
  EXPECT_LE(max_abs_diff(a.logits, b.logits), tol);
  const ParamTable& pw = whole.params();
  const ParamTable& ps = split.params();
  ASSERT_EQ(pw.size(), ps.size());
  for (size_t i = 0; i < pw.size(); ++i) {
    const int k = int(i);
    if (!pw.spec(k).trainable) continue;
    const Tensor want = ps.local_slice(k, pw.var(k)->grad);
    EXPECT_LE(max_abs_diff(want, ps.var(k)->grad), tol) << pw.spec(k).name;
    // Replicated parameters: the same bits on every TP rank (no all-reduce makes them agree).
    if (!ps.sharded(k)) tp.check_identical(ps.var(k)->grad, "gradient of " + pw.spec(k).name);
  }
  // A loss-free bias update from the same counts leaves identical biases.
  EXPECT_EQ(whole.take_depth_counts(), split.take_depth_counts());
}

TEST(TensorParallel, VanillaEqualsOneProcess) { expect_tp_equals_whole("none", DType::F64, 1e-10); }
TEST(TensorParallel, ExpertChoiceEqualsOneProcess) { expect_tp_equals_whole("expert", DType::F64, 1e-10); }
TEST(TensorParallel, TokenChoiceEqualsOneProcess) { expect_tp_equals_whole("token", DType::F64, 1e-10); }
TEST(TensorParallel, ExpertChoiceEqualsOneProcessInF32) { expect_tp_equals_whole("expert", DType::F32, 2e-5); }
TEST(TensorParallel, UntiedHeadEqualsOneProcess) { expect_tp_equals_whole("none", DType::F64, 1e-10, "untied"); }
TEST(TensorParallel, ExpertKvShareAuxRouterEqualsOneProcess) { expect_tp_equals_whole("expert", DType::F64, 1e-10, "kv_share"); }
TEST(TensorParallel, TokenBalancingLossEqualsOneProcess) { expect_tp_equals_whole("token", DType::F64, 1e-10, "balance_loss"); }

TEST(TensorParallel, SelectionCheckNamesStepAndRecursion) {
  ProcessGrid g(world(), world().size());
  if (g.tp_size() == 1) GTEST_SKIP() << "needs 2+ ranks";
  CommTpGroup tp(g.tp(), true);
  const ModelConfig cfg = tp_model("expert");
  Model split(cfg, DType::F64, &tp);
  split.initialize(7);
  // Different weights for the second router (recursion 1 keeps every token at capacity 1) on the last TP
  // rank: the replicated routers no longer agree.
  if (g.tp_rank() == g.tp_size() - 1) {
    Tensor& w = split.params().var("routers.1.weight")->value;
    for (int64_t j = 0; j < w.numel(); ++j) w.data<double>()[j] *= -3.0;
  }
  ad::NoGradScope no_grad;
  ForwardContext ctx;
  ctx.step = 4;
  try {
    split.forward(random_tokens(2, 12, cfg.vocab_size, 5), ctx);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training step 5, recursion 2: expert-choice selected rows"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mor::dist
