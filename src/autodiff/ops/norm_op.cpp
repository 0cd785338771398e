// rmsnorm over the last dim; saves 1/rms per row for the backward.
#include "kernels/cpu/norm.h"
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
  require_cpu("rmsnorm", X);
  const int64_t d = W.numel();
  require_shape("rmsnorm", "x", X.dim(-1) == d && X.dtype() == W.dtype(), X.shape(),
                "[..., " + std::to_string(d) + "]");
  const int64_t n = X.numel() / d;
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  Tensor rstd = Tensor::empty({n}, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     kernels::rmsnorm_forward<T>(n, d, X.data<T>(), W.data<T>(), T(eps), Y.data<T>(), rstd.data<T>()));
  Var out = make_output(Y, {&x, &w});
  record(out, [x, w, rstd, n, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("rmsnorm");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      T* dx = nullptr;
      T* dw = nullptr;
      bool ax = false, aw = false;
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        dx = g.buf.data<T>();
        ax = g.accumulate;
      }
      if (w->requires_grad) {
        GradTarget g = grad_target(w);
        dw = g.buf.data<T>();
        aw = g.accumulate;
      }
      kernels::rmsnorm_backward<T>(n, d, x->value.data<T>(), w->value.data<T>(), rstd.data<T>(), dy.data<T>(), dx,
                                   ax, dw, aw);
    });
  });
  return out;
}

}  // namespace mor::ad
