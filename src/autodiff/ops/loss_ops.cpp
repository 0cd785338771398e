// Loss ops: cross_entropy on logits, classifier_cross_entropy fused with the lm_head GEMM (whole
// vocabulary, or split across a tensor-parallel group), bce_with_logits. Each returns a scalar [1].
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
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

// The classifier losses' shared driver: per chunk of rows (bounding the logits buffer at 128M
// elements of the full vocabulary, 512 MB in f32; large chunks keep the weight-gradient GEMM
// efficient), z = h w^T [m, V_w], then rows(z, m, targets, grad_scale) returns the chunk's loss
// sum and, when grad_scale != 0, overwrites z with grad_scale * d(loss sum)/dz; the gradients of h
// and w follow by two GEMMs. The loss output's backward only scales those gradients.
template <typename RowsFn>
Var classifier_loss(const char* op, const Var& h, const Var& w, const Tensor& targets, int64_t vocab, double normalizer,
                    int64_t chunk_rows, RowsFn rows) {
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
  const int64_t chunk =
      chunk_rows > 0 ? chunk_rows : std::clamp<int64_t>((int64_t(1) << 27) / std::max<int64_t>(vocab, 1), 16, std::max<int64_t>(n, 1));
  Tensor logits = Tensor::empty({std::min(chunk, n), V}, H.dtype());
  Tensor dh = grad_h ? Tensor::empty(H.shape(), H.dtype()) : Tensor();
  Tensor dw = grad_w ? Tensor::empty(W.shape(), W.dtype()) : Tensor();
  Tensor Y = Tensor::empty({1}, H.dtype());
  {  // executed GEMMs: the logits, and (computed here, in the forward pass) dh and dW; V is this rank's shard
    FlopLabel label("lm_head");
    flops_add(2.0 * double(n) * double(V) * double(d) * (1 + int(grad_h) + int(grad_w)));
  }
  MOR_DISPATCH_FLOAT(H.dtype(), T, {
    const T* hp = H.data<T>();
    const T* wp = W.data<T>();
    T* zp = logits.data<T>();
    double total = 0;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t m = std::min(chunk, n - r0);
      kernels::gemm<T>(false, true, m, V, d, T(1), hp + r0 * d, d, wp, d, T(0), zp, V);
      total += rows(zp, m, targets.data<int32_t>() + r0, (grad_h || grad_w) ? 1.0 / norm : 0.0);
      if (grad_h) kernels::gemm<T>(false, false, m, d, V, T(1), zp, V, wp, d, T(0), dh.data<T>() + r0 * d, d);
      if (grad_w) kernels::gemm<T>(true, false, V, d, m, T(1), zp, V, hp + r0 * d, d, r0 == 0 ? T(0) : T(1), dw.data<T>(), d);
    }
    Y.data<T>()[0] = T(total / norm);
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
                             int64_t chunk_rows) {
  MOR_PROFILE_FORWARD("classifier_cross_entropy");
  const int64_t V = w->value.dim(0);
  Tensor row_loss;  // [m] of the chunk
  return classifier_loss("classifier_cross_entropy", h, w, targets, V, normalizer, chunk_rows,
                         [&](auto* z, int64_t m, const int32_t* t, double grad_scale) {
                           using T = std::remove_pointer_t<decltype(z)>;
                           if (!row_loss.defined() || row_loss.numel() < m) row_loss = Tensor::empty({m}, h->value.dtype());
                           return kernels::softmax_xent_rows<T>(m, V, z, t, T(grad_scale), row_loss.data<T>());
                         });
}

Var classifier_cross_entropy_vocab_parallel(const Var& h, const Var& w, const Tensor& targets, const VocabShard& shard,
                                            double normalizer, int64_t chunk_rows) {
  MOR_PROFILE_FORWARD("classifier_cross_entropy_vocab_parallel");
  MOR_CHECK(shard.group, "classifier_cross_entropy_vocab_parallel needs a group");
  const int64_t V = w->value.dim(0), first = shard.first_id;
  MOR_CHECK(first >= 0 && first + V <= shard.vocab, "vocabulary shard [", first, ", ", first + V, ") of ", shard.vocab);
  Tensor stats;  // [max (m) | sum_exp (m) | target logit (m)] of the chunk's rows
  // Chunked on the full vocabulary, so every member cuts the rows alike (the collectives run per chunk).
  return classifier_loss(
      "classifier_cross_entropy_vocab_parallel", h, w, targets, shard.vocab, normalizer, chunk_rows,
      [&](auto* z, int64_t m, const int32_t* t, double grad_scale) {
        using T = std::remove_pointer_t<decltype(z)>;
        if (!stats.defined() || stats.numel() < 3 * m) stats = Tensor::empty({3 * m}, h->value.dtype());
        Tensor mx = stats.view(0, {m}), se = stats.view(m, {2 * m});
        T* row_max = mx.data<T>();
        T* sum_exp = se.data<T>();
        T* target_logit = sum_exp + m;
        kernels::xent_shard_max<T>(m, V, z, row_max);
        shard.group->all_reduce_max(mx);
        kernels::xent_shard_exp<T>(m, V, z, row_max, t, first, grad_scale != 0, sum_exp, target_logit);
        shard.group->all_reduce_sum(se);  // sums of exponentials and the owners' target logits, one call
        double total = 0;
        for (int64_t i = 0; i < m; ++i)
          if (t[i] >= 0) total += double(row_max[i]) + std::log(double(sum_exp[i])) - double(target_logit[i]);
        if (grad_scale != 0) kernels::xent_shard_grad<T>(m, V, z, sum_exp, t, first, T(grad_scale));
        return total;
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
