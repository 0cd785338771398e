// Loss ops: cross_entropy on logits, classifier_cross_entropy fused with the lm_head GEMM (whole
// vocabulary, or split across a tensor-parallel group; blocks of rows, kernels/cpu/lmhead_xent.h),
// bce_with_logits. Each returns a scalar [1].
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/lmhead_xent.h"
#include "kernels/cpu/loss.h"
#include "src/autodiff/dispatch.h"
#include "src/autodiff/flop_counter.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"
#include "src/autodiff/tp_group.h"

MOR_REGISTER_OP(cross_entropy)
MOR_REGISTER_OP(classifier_cross_entropy)
MOR_REGISTER_OP(classifier_cross_entropy_vocab_parallel)
MOR_REGISTER_OP(bce_with_logits)

namespace mor::ad {
namespace {

double resolve_normalizer(const Tensor& targets, double normalizer) {
  if (normalizer > 0) return normalizer;
  const int32_t* t = targets.data<int32_t>();
  int64_t valid = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) valid += t[i] >= 0;
  return valid > 0 ? double(valid) : 1.0;
}

void check_targets(const char* op, const Tensor& targets, int64_t n, int64_t V) {
  MOR_CHECK(targets.dtype() == DType::I32 && targets.numel() == n, op, ": targets must be i32 [", n, "]");
  const int32_t* t = targets.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    if (t[i] >= V)
      fail_input(op, ": target token ", t[i], " at row ", i, " >= vocab size ", V,
                 ". Hint: the data's vocabulary must match model.vocab_size.");
}

// g(v) (+)= c * src
void add_scaled(const Var& v, const Tensor& src, double c) {
  GradTarget g = grad_target(v);
  MOR_DISPATCH_FLOAT(src.dtype(), T, kernels::axpy<T>(src.numel(), T(c), src.data<T>(), g.buf.data<T>(), g.accumulate));
}

// The classifier losses' shared driver (kernels/cpu/lmhead_xent.h): per block of rows, pass 1
// computes the logits z = h w^T [m, V_w] of this member's vocabulary shard and each row's max,
// sum of exponentials and target logit; `combine(row_max [m], sum_exp_and_target [2m])` turns
// those into the full vocabulary's (a no-op without tensor parallelism); pass 2 turns the logits
// into d(loss)/dz and accumulates dh and dW by two GEMMs. The logits exist for one block only
// (kept between the passes, or with tiling.recompute one tile at a time, recomputed). The
// gradients are computed in the forward pass (a loss is always terminal); the loss output's
// backward only scales them.
template <typename CombineFn>
Var classifier_loss(const char* op, const Var& h, const Var& w, const Tensor& targets, int64_t vocab, int64_t first,
                    double normalizer, const ClassifierTiling& tiling, CombineFn combine) {
  const Tensor& H = h->value;
  const Tensor& W = w->value;
  require_cpu(op, H);
  const int64_t d = W.dim(1), V = W.dim(0);
  require_shape(op, "h", H.dim(-1) == d && H.dtype() == W.dtype(), H.shape(), "[n, " + std::to_string(d) + "]");
  const int64_t n = H.numel() / d;
  check_targets(op, targets, n, vocab);
  const double norm = resolve_normalizer(targets, normalizer);
  const bool grad_h = active_tape() && h->requires_grad;
  const bool grad_w = active_tape() && w->requires_grad;
  const bool keep = (grad_h || grad_w) && !tiling.recompute;  // without gradients nothing reads them again
  const int64_t rows = std::min(kernels::lmhead_block_rows(n, vocab, tiling.rows), std::max<int64_t>(n, 1));  // alike on every member
  const int64_t tile = tiling.vocab_tile > 0 ? std::min(tiling.vocab_tile, V) : V;
  Tensor logits = Tensor::empty({rows, keep ? V : tile}, H.dtype());  // one block's, or one tile's
  Tensor stats = Tensor::empty({3, rows}, H.dtype());
  Tensor dh = grad_h ? Tensor::empty(H.shape(), H.dtype()) : Tensor();
  Tensor dw = grad_w ? Tensor::empty(W.shape(), W.dtype()) : Tensor();
  Tensor Y = Tensor::empty({1}, H.dtype());
  {  // executed GEMMs: the logits (twice when recomputed), and (computed here, in the forward pass) dh and dW; V is this rank's shard
    FlopLabel label("lm_head");
    const bool grads = grad_h || grad_w;
    flops_add(2.0 * double(n) * double(V) * double(d) * (1 + int(grads && !keep) + int(grad_h) + int(grad_w)));
  }
  MOR_DISPATCH_FLOAT(H.dtype(), T, {
    kernels::LmHeadXent<T> p;
    p.n = n, p.V = V, p.d = d, p.first = first;
    p.h = H.data<T>(), p.w = W.data<T>(), p.target = targets.data<int32_t>();
    p.rows = rows, p.tile = tile, p.keep = keep;
    p.logits = logits.data<T>(), p.stats = stats.data<T>();
    p.grad_scale = T(1.0 / norm);
    p.dh = grad_h ? dh.data<T>() : nullptr;
    p.dw = grad_w ? dw.data<T>() : nullptr;
    p.combine = [&](int64_t m, T*) {
      Tensor row_max = stats.view(0, {m}), sum_exp_and_target = stats.view(m, {2 * m});
      combine(row_max, sum_exp_and_target);
    };
    Y.data<T>()[0] = T(kernels::lmhead_xent<T>(p) / norm);
  });
  Var out = make_output(Y, {&h, &w});
  record(out, [h, w, dh, dw, op](const Tensor& dy) {
    MOR_PROFILE_BACKWARD(op);
    const double g = dy.item();
    if (dh.defined()) add_scaled(h, dh, g);
    if (dw.defined()) add_scaled(w, dw, g);
  });
  return out;
}

}  // namespace

Var cross_entropy(const Var& logits, const Tensor& targets, double normalizer) {
  MOR_PROFILE_FORWARD("cross_entropy");
  const Tensor& Z = logits->value;
  require_cpu("cross_entropy", Z);
  const int64_t V = Z.dim(-1), n = Z.numel() / V;
  check_targets("cross_entropy", targets, n, V);
  const double norm = resolve_normalizer(targets, normalizer);
  const bool want_grad = active_tape() && logits->requires_grad;
  Tensor work = Z.clone();  // becomes d(loss)/d(logits) when want_grad
  Tensor row_loss = Tensor::empty({n}, Z.dtype());
  Tensor Y = Tensor::empty({1}, Z.dtype());
  MOR_DISPATCH_FLOAT(Z.dtype(), T, {
    double total = kernels::softmax_xent_rows<T>(n, V, work.data<T>(), targets.data<int32_t>(),
                                                 want_grad ? T(1.0 / norm) : T(0), row_loss.data<T>());
    Y.data<T>()[0] = T(total / norm);
  });
  Var out = make_output(Y, {&logits});
  record(out, [logits, work](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("cross_entropy");
    add_scaled(logits, work, dy.item());
  });
  return out;
}

Var classifier_cross_entropy(const Var& h, const Var& w, const Tensor& targets, double normalizer,
                             const ClassifierTiling& tiling) {
  MOR_PROFILE_FORWARD("classifier_cross_entropy");
  return classifier_loss("classifier_cross_entropy", h, w, targets, w->value.dim(0), 0, normalizer, tiling,
                         [](Tensor&, Tensor&) {});
}

Var classifier_cross_entropy_vocab_parallel(const Var& h, const Var& w, const Tensor& targets, const VocabShard& shard,
                                            double normalizer, const ClassifierTiling& tiling) {
  MOR_PROFILE_FORWARD("classifier_cross_entropy_vocab_parallel");
  MOR_CHECK(shard.group, "classifier_cross_entropy_vocab_parallel needs a group");
  const int64_t V = w->value.dim(0), first = shard.first_id;
  MOR_CHECK(first >= 0 && first + V <= shard.vocab, "vocabulary shard [", first, ", ", first + V, ") of ", shard.vocab);
  // The shards' row statistics -> the full vocabulary's: the max over the members, every member's
  // sum of exponentials rescaled to it and summed, and the owner's target logit (0 elsewhere) summed.
  return classifier_loss("classifier_cross_entropy_vocab_parallel", h, w, targets, shard.vocab, first, normalizer, tiling,
                         [&](Tensor& row_max, Tensor& sum_exp_and_target) {
                           const Tensor local_max = row_max.clone();
                           shard.group->all_reduce_max(row_max);
                           MOR_DISPATCH_FLOAT(row_max.dtype(), T, {
                             const T* lm = local_max.data<T>();
                             const T* gm = row_max.data<T>();
                             T* se = sum_exp_and_target.data<T>();
                             for (int64_t i = 0; i < row_max.numel(); ++i) se[i] *= T(std::exp(double(lm[i]) - double(gm[i])));
                           });
                           shard.group->all_reduce_sum(sum_exp_and_target);  // one call for both
                         });
}

Var bce_with_logits(const Var& x, const Tensor& target_in, double normalizer) {
  MOR_PROFILE_FORWARD("bce_with_logits");
  const Tensor& X = x->value;
  require_cpu("bce_with_logits", X);
  require_shape("bce_with_logits", "targets", target_in.numel() == X.numel(), target_in.shape(), shape_str(X.shape()));
  const Tensor targets = target_in.dtype() == X.dtype() ? target_in : target_in.to_dtype(X.dtype());
  const double norm = normalizer > 0 ? normalizer : double(std::max<int64_t>(X.numel(), 1));
  Tensor Y = Tensor::empty({1}, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     Y.data<T>()[0] = T(kernels::bce_with_logits_sum<T>(X.numel(), X.data<T>(), targets.data<T>()) / norm));
  Var out = make_output(Y, {&x});
  record(out, [x, targets, norm](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("bce_with_logits");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::bce_with_logits_backward<T>(x->value.numel(), x->value.data<T>(), targets.data<T>(),
                                                            T(dy.item() / norm), g.buf.data<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
