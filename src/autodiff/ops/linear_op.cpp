// linear: y = x @ w^T through BLAS (a few rows, f32, no bf16 GEMMs: the small-M kernel, which does
// not pack w); backward dx = dy @ w, dw += dy^T @ x.
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv.h"
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
  require_cpu("linear", X);
  MOR_CHECK(W.ndim() == 2 && X.ndim() >= 1, "linear: w must be [out, in]");
  const int64_t in = W.dim(1), out_f = W.dim(0);
  require_shape("linear", "x", X.dim(-1) == in && X.dtype() == W.dtype(), X.shape(),
                "[..., " + std::to_string(in) + "]");
  const int64_t n = X.numel() / in;
  Shape ys = X.shape();
  ys.back() = out_f;
  Tensor Y = Tensor::empty(ys, X.dtype());
  if (X.dtype() == DType::F32 && n <= kernels::kGemvMaxRows && kernels::gemm_precision() == kernels::GemmPrecision::F32)
    kernels::gemv_rows(n, out_f, in, 1.0f, X.data<float>(), in, W.data<float>(), in, 0.0f, Y.data<float>(), out_f);
  else
    MOR_DISPATCH_FLOAT(X.dtype(), T,
                       kernels::gemm<T>(false, true, n, out_f, in, T(1), X.data<T>(), in, W.data<T>(), in, T(0),
                                        Y.data<T>(), out_f));
  const double gemm_flops = 2.0 * double(n) * double(in) * double(out_f);
  flops_add(gemm_flops);
  Var out = make_output(Y, {&x, &w});
  record(out, [x, w, n, in, out_f, gemm_flops](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("linear");
    flops_add(gemm_flops * (int(x->requires_grad) + int(w->requires_grad)));
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        kernels::gemm<T>(false, false, n, in, out_f, T(1), dy.data<T>(), out_f, w->value.data<T>(), in,
                         g.accumulate ? T(1) : T(0), g.buf.data<T>(), in);
      }
      if (w->requires_grad) {
        GradTarget g = grad_target(w);
        kernels::gemm<T>(true, false, out_f, in, n, T(1), dy.data<T>(), out_f, x->value.data<T>(), in,
                         g.accumulate ? T(1) : T(0), g.buf.data<T>(), in);
      }
    });
  });
  return out;
}

}  // namespace mor::ad
