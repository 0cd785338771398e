// linear: y = x @ w^T through the device's GEMM (on the CPU: BLAS, or for a few rows the small-M
// kernel, which does not pack w); backward dx = dy @ w, dw += dy^T @ x.
#include "src/autodiff/dispatch.h"
#include "src/autodiff/flop_counter.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(linear)

namespace mor::ad {

Var linear(const Var& x, const Var& w) {
  MOR_PROFILE_FORWARD("linear");
  const Tensor& X = x->value;
  const Tensor& W = w->value;
  const Device dev = op_device("linear", {&X, &W});
  MOR_CHECK(W.ndim() == 2 && X.ndim() >= 1, "linear: w must be [out, in]");
  const int64_t in = W.dim(1), out_f = W.dim(0);
  require_shape("linear", "x", X.dim(-1) == in && X.dtype() == W.dtype(), X.shape(),
                "[..., " + std::to_string(in) + "]");
  const int64_t n = X.numel() / in;
  Shape ys = X.shape();
  ys.back() = out_f;
  Tensor Y = Tensor::empty(ys, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     MOR_RUN("linear", dev, T, gemm, false, true, n, out_f, in, T(1), X.ptr<T>(), in, W.ptr<T>(), in,
                             T(0), Y.ptr<T>(), out_f));
  const double gemm_flops = 2.0 * double(n) * double(in) * double(out_f);
  flops_add(gemm_flops);
  Var out = make_output(Y, {&x, &w});
  record(out, [x, w, n, in, out_f, gemm_flops, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("linear");
    flops_add(gemm_flops * (int(x->requires_grad) + int(w->requires_grad)));
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        MOR_RUN("linear", dev, T, gemm, false, false, n, in, out_f, T(1), dy.ptr<T>(), out_f, w->value.ptr<T>(), in,
                         g.accumulate ? T(1) : T(0), g.buf.ptr<T>(), in);
      }
      if (w->requires_grad) {
        GradTarget g = grad_target(w);
        MOR_RUN("linear", dev, T, gemm, true, false, out_f, in, n, T(1), dy.ptr<T>(), out_f, x->value.ptr<T>(), in,
                         g.accumulate ? T(1) : T(0), g.buf.ptr<T>(), in);
      }
    });
  });
  return out;
}

}  // namespace mor::ad
