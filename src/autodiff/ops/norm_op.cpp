// rmsnorm over the last dim; saves 1/rms per row for the backward.
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(rmsnorm)

namespace mor::ad {

Var rmsnorm(const Var& x, const Var& w, double eps) {
  MOR_PROFILE_FORWARD("rmsnorm");
  const Tensor& X = x->value;
  const Tensor& W = w->value;
  const Device dev = op_device("rmsnorm", {&X, &W});
  const int64_t d = W.numel();
  require_shape("rmsnorm", "x", X.dim(-1) == d && X.dtype() == W.dtype(), X.shape(),
                "[..., " + std::to_string(d) + "]");
  const int64_t n = X.numel() / d;
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  Tensor rstd = Tensor::empty({n}, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     MOR_RUN("rmsnorm", dev, T, rmsnorm_forward, n, d, X.ptr<T>(), W.ptr<T>(), T(eps), Y.ptr<T>(),
                             rstd.ptr<T>()));
  Var out = make_output(Y, {&x, &w});
  record(out, [x, w, rstd, n, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("rmsnorm");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      T* dx = nullptr;
      T* dw = nullptr;
      bool ax = false, aw = false;
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        dx = g.buf.ptr<T>();
        ax = g.accumulate;
      }
      if (w->requires_grad) {
        GradTarget g = grad_target(w);
        dw = g.buf.ptr<T>();
        aw = g.accumulate;
      }
      MOR_RUN("rmsnorm", dev, T, rmsnorm_backward, n, d, x->value.ptr<T>(), w->value.ptr<T>(), rstd.ptr<T>(),
              dy.ptr<T>(), dx, ax, dw, aw);
    });
  });
  return out;
}

}  // namespace mor::ad
