// rope: rotary embedding at explicit per-token positions (rotate-half form).
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(rope)

namespace mor::ad {

Var rope(const Var& x, const Tensor& pos, int64_t n_rot, double theta) {
  MOR_PROFILE_FORWARD("rope");
  const Tensor& X = x->value;
  const Device dev = op_device("rope", {&X, &pos});
  MOR_CHECK(X.ndim() == 3, "rope: x must be [n, H, D], got ", shape_str(X.shape()));
  const int64_t n = X.dim(0), H = X.dim(1), D = X.dim(2);
  MOR_CHECK(D % 2 == 0 && D <= 1024, "rope: head dim must be even and <= 1024, got ", D);
  MOR_CHECK(n_rot >= 0 && n_rot <= H, "rope: n_rot ", n_rot, " outside [0, ", H, "]");
  MOR_CHECK(pos.dtype() == DType::I32 && pos.numel() == n, "rope: positions must be i32 [", n, "]");
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     MOR_RUN("rope", dev, T, rope_apply, n, H, n_rot, D, X.ptr<T>(), pos.ptr<int32_t>(), theta, false,
                             Y.ptr<T>(), false));
  Var out = make_output(Y, {&x});
  record(out, [x, pos, n, H, n_rot, D, theta, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("rope");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("rope", dev, T, rope_apply, n, H, n_rot, D, dy.ptr<T>(), pos.ptr<int32_t>(), theta, true,
                               g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
