// Loss ops: cross_entropy on logits, classifier_cross_entropy fused with the lm_head GEMM (whole
// vocabulary, or split across a tensor-parallel group; blocks of rows, kernels/cpu/lmhead_xent.h),
// bce_with_logits. Each returns a scalar [1].
#include <algorithm>
#include <cmath>
#include <type_traits>

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

// The model always passes its normaliser; counting the rows otherwise copies targets to the host.
double resolve_normalizer(const Tensor& targets, double normalizer) {
  if (normalizer > 0) return normalizer;
  const Tensor host = targets.host();
  const int32_t* t = host.data<int32_t>();
  int64_t valid = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) valid += t[i] >= 0;
  return valid > 0 ? double(valid) : 1.0;
}

// Target ids are validated where they enter (split_tokens), not scanned per op.
void check_targets(const char* op, const Tensor& targets, int64_t n) {
  MOR_CHECK(targets.dtype() == DType::I32 && targets.numel() == n, op, ": targets must be i32 [", n, "]");
}

// g(v) (+)= dy[0] * src, the scalar dy read on the device
void add_scaled(const char* op, const Var& v, const Tensor& src, const Tensor& dy) {
  GradTarget g = grad_target(v);
  const Device dev = src.device();
  MOR_DISPATCH_FLOAT(src.dtype(), T,
                     MOR_RUN(op, dev, T, axpy_scalar, src.numel(), dy.ptr<T>(), 1.0, src.ptr<T>(), g.buf.ptr<T>(),
                             g.accumulate));
}

// The classifier losses' shared driver (kernels/cpu/lmhead_xent.h): per block of rows, pass 1
// computes the logits z = h w^T [m, V_w] of this member's vocabulary shard and each row's max,
// sum of exponentials and target logit; `combine(row_max [m], sum_exp_and_target [2m])` turns
// those into the full vocabulary's (nullptr without tensor parallelism); pass 2 turns the logits
// into d(loss)/dz and accumulates dh and dW by two GEMMs. The logits exist for one block only
// (kept between the passes, or with tiling.recompute one tile at a time, recomputed). The
// gradients are computed in the forward pass (a loss is always terminal); the loss output's
// backward only scales them.
template <typename CombineFn>
Var classifier_loss(const char* op, const Var& h, const Var& w, const Tensor& targets, int64_t vocab, int64_t first,
                    double normalizer, const ClassifierTiling& tiling, CombineFn combine) {
  const Tensor& H = h->value;
  const Tensor& W = w->value;
  const Device dev = op_device(op, {&H, &W, &targets});
  const int64_t d = W.dim(1), V = W.dim(0);
  require_shape(op, "h", H.dim(-1) == d && H.dtype() == W.dtype(), H.shape(), "[n, " + std::to_string(d) + "]");
  const int64_t n = H.numel() / d;
  check_targets(op, targets, n);
  const double norm = resolve_normalizer(targets, normalizer);
  const bool grad_h = active_tape() && h->requires_grad;
  const bool grad_w = active_tape() && w->requires_grad;
  const bool keep = (grad_h || grad_w) && !tiling.recompute;  // without gradients nothing reads them again
  const int64_t rows = std::min(kernels::lmhead_block_rows(n, vocab, tiling.rows), std::max<int64_t>(n, 1));  // alike on every member
  const int64_t tile = tiling.vocab_tile > 0 ? std::min(tiling.vocab_tile, V) : V;
  Tensor logits = Tensor::empty({rows, keep ? V : tile}, H.dtype(), dev);  // one block's, or one tile's
  Tensor stats = Tensor::empty({3, rows}, H.dtype(), dev);
  Tensor dh = grad_h ? Tensor::empty(H.shape(), H.dtype(), dev) : Tensor();
  Tensor dw = grad_w ? Tensor::empty(W.shape(), W.dtype(), dev) : Tensor();
  Tensor Y = Tensor::empty({1}, H.dtype(), dev);
  {  // executed GEMMs: the logits (twice when recomputed), and (computed here, in the forward pass) dh and dW; V is this rank's shard
    FlopLabel label("lm_head");
    const bool grads = grad_h || grad_w;
    flops_add(2.0 * double(n) * double(V) * double(d) * (1 + int(grads && !keep) + int(grad_h) + int(grad_w)));
  }
  MOR_DISPATCH_FLOAT(H.dtype(), T, {
    kernels::LmHeadXent<T> p;
    p.n = n, p.V = V, p.d = d, p.first = first;
    p.h = H.ptr<T>(), p.w = W.ptr<T>(), p.target = targets.ptr<int32_t>();
    p.rows = rows, p.tile = tile, p.keep = keep;
    p.logits = logits.ptr<T>(), p.stats = stats.ptr<T>();
    p.grad_scale = T(1.0 / norm);
    p.dh = grad_h ? dh.ptr<T>() : nullptr;
    p.dw = grad_w ? dw.ptr<T>() : nullptr;
    if constexpr (!std::is_same_v<CombineFn, std::nullptr_t>)  // one shard: no hook, so no stream sync per block
      p.combine = [&](int64_t m, T*) {
        Tensor row_max = stats.view(0, {m}), sum_exp_and_target = stats.view(m, {2 * m});
        combine(row_max, sum_exp_and_target);
      };
    MOR_RUN(op, dev, T, lmhead_xent, p, norm, Y.ptr<T>());
  });
  Var out = make_output(Y, {&h, &w});
  record(out, [h, w, dh, dw, op](const Tensor& dy) {
    MOR_PROFILE_BACKWARD(op);
    if (dh.defined()) add_scaled(op, h, dh, dy);
    if (dw.defined()) add_scaled(op, w, dw, dy);
  });
  return out;
}

}  // namespace

Var cross_entropy(const Var& logits, const Tensor& targets, double normalizer) {
  MOR_PROFILE_FORWARD("cross_entropy");
  const Tensor& Z = logits->value;
  const Device dev = op_device("cross_entropy", {&Z, &targets});
  const int64_t V = Z.dim(-1), n = Z.numel() / V;
  check_targets("cross_entropy", targets, n);
  const double norm = resolve_normalizer(targets, normalizer);
  const bool want_grad = active_tape() && logits->requires_grad;
  Tensor work = Z.clone();  // becomes d(loss)/d(logits) when want_grad
  Tensor row_loss = Tensor::empty({n}, Z.dtype(), dev);
  Tensor Y = Tensor::empty({1}, Z.dtype(), dev);
  MOR_DISPATCH_FLOAT(Z.dtype(), T,
                     MOR_RUN("cross_entropy", dev, T, softmax_xent, n, V, work.ptr<T>(), targets.ptr<int32_t>(),
                             want_grad ? T(1.0 / norm) : T(0), row_loss.ptr<T>(), norm, Y.ptr<T>()));
  Var out = make_output(Y, {&logits});
  record(out, [logits, work](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("cross_entropy");
    add_scaled("cross_entropy", logits, work, dy);
  });
  return out;
}

Var classifier_cross_entropy(const Var& h, const Var& w, const Tensor& targets, double normalizer,
                             const ClassifierTiling& tiling) {
  MOR_PROFILE_FORWARD("classifier_cross_entropy");
  return classifier_loss("classifier_cross_entropy", h, w, targets, w->value.dim(0), 0, normalizer, tiling, nullptr);
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
                           const Device dev = row_max.device();
                           MOR_DISPATCH_FLOAT(row_max.dtype(), T,
                                              MOR_RUN("classifier_cross_entropy_vocab_parallel", dev, T, rescale_sum_exp,
                                                      row_max.numel(), local_max.ptr<T>(), row_max.ptr<T>(),
                                                      sum_exp_and_target.ptr<T>()));
                           shard.group->all_reduce_sum(sum_exp_and_target);  // one call for both
                         });
}

Var bce_with_logits(const Var& x, const Tensor& target_in, double normalizer) {
  MOR_PROFILE_FORWARD("bce_with_logits");
  const Tensor& X = x->value;
  const Device dev = op_device("bce_with_logits", {&X, &target_in});
  require_shape("bce_with_logits", "targets", target_in.numel() == X.numel(), target_in.shape(), shape_str(X.shape()));
  const Tensor targets = target_in.dtype() == X.dtype() ? target_in : target_in.to_dtype(X.dtype());
  const double norm = normalizer > 0 ? normalizer : double(std::max<int64_t>(X.numel(), 1));
  Tensor Y = Tensor::empty({1}, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     MOR_RUN("bce_with_logits", dev, T, bce_with_logits_forward, X.numel(), X.ptr<T>(), targets.ptr<T>(),
                             norm, Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, targets, norm, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("bce_with_logits");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("bce_with_logits", dev, T, bce_with_logits_backward, x->value.numel(), x->value.ptr<T>(),
                               targets.ptr<T>(), dy.ptr<T>(), norm, g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
