// Loss ops: cross_entropy on logits, classifier_cross_entropy fused with the lm_head GEMM,
// bce_with_logits. Each returns a scalar [1].
#include <algorithm>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "src/autodiff/dispatch.h"
#include "src/autodiff/flop_counter.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(cross_entropy)
MOR_REGISTER_OP(classifier_cross_entropy)
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
  const Tensor& H = h->value;
  const Tensor& W = w->value;
  require_cpu("classifier_cross_entropy", H);
  const int64_t d = W.dim(1), V = W.dim(0);
  require_shape("classifier_cross_entropy", "h", H.dim(-1) == d && H.dtype() == W.dtype(), H.shape(),
                "[n, " + std::to_string(d) + "]");
  const int64_t n = H.numel() / d;
  check_targets("classifier_cross_entropy", targets, n, V);
  const double norm = resolve_normalizer(targets, normalizer);
  const bool grad_h = active_tape() && h->requires_grad;
  const bool grad_w = active_tape() && w->requires_grad;
  // Rows per chunk: bounds the logits buffer at 128M elements (512 MB in f32). Large chunks keep
  // the weight-gradient GEMM efficient (its inner dimension is the chunk's row count).
  const int64_t chunk =
      chunk_rows > 0 ? chunk_rows
                     : std::clamp<int64_t>((int64_t(1) << 27) / std::max<int64_t>(V, 1), 16, std::max<int64_t>(n, 1));
  Tensor logits = Tensor::empty({std::min(chunk, n), V}, H.dtype());
  Tensor row_loss = Tensor::empty({n}, H.dtype());
  Tensor dh = grad_h ? Tensor::empty(H.shape(), H.dtype()) : Tensor();
  Tensor dw = grad_w ? Tensor::empty(W.shape(), W.dtype()) : Tensor();
  Tensor Y = Tensor::empty({1}, H.dtype());
  {  // executed GEMMs: the logits, and (computed here, in the forward pass) dh and dW
    FlopLabel label("lm_head");
    flops_add(2.0 * double(n) * double(V) * double(d) * (1 + int(grad_h) + int(grad_w)));
  }
  MOR_DISPATCH_FLOAT(H.dtype(), T, {
    const T* hp = H.data<T>();
    const T* wp = W.data<T>();
    const int32_t* tp = targets.data<int32_t>();
    T* zp = logits.data<T>();
    double total = 0;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t m = std::min(chunk, n - r0);
      kernels::gemm<T>(false, true, m, V, d, T(1), hp + r0 * d, d, wp, d, T(0), zp, V);
      total += kernels::softmax_xent_rows<T>(m, V, zp, tp + r0, (grad_h || grad_w) ? T(1.0 / norm) : T(0),
                                             row_loss.data<T>() + r0);
      if (grad_h) kernels::gemm<T>(false, false, m, d, V, T(1), zp, V, wp, d, T(0), dh.data<T>() + r0 * d, d);
      if (grad_w) kernels::gemm<T>(true, false, V, d, m, T(1), zp, V, hp + r0 * d, d, r0 == 0 ? T(0) : T(1),
                                   dw.data<T>(), d);
    }
    Y.data<T>()[0] = T(total / norm);
  });
  Var out = make_output(Y, {&h, &w});
  record(out, [h, w, dh, dw](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("classifier_cross_entropy");
    const double g = dy.item();
    if (dh.defined()) add_scaled(h, dh, g);
    if (dw.defined()) add_scaled(w, dw, g);
  });
  return out;
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
