// Arithmetic ops: add, mul, scale, scale_rows, sum.
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(reshape)
MOR_REGISTER_OP(add)
MOR_REGISTER_OP(mul)
MOR_REGISTER_OP(scale)
MOR_REGISTER_OP(scale_rows)
MOR_REGISTER_OP(sum)

namespace mor::ad {
namespace {
// The device of a and b, which must have one shape and dtype.
Device same_shape(const char* op, const Tensor& a, const Tensor& b) {
  require_shape(op, "b", a.shape() == b.shape() && a.dtype() == b.dtype(), b.shape(), shape_str(a.shape()));
  return op_device(op, {&a, &b});
}
// g(v) (+)= c * dy
void pass_grad(const Var& v, const Tensor& dy, double c) {
  if (!v->requires_grad) return;
  GradTarget g = grad_target(v);
  const Device dev = dy.device();
  MOR_DISPATCH_FLOAT(dy.dtype(), T, MOR_RUN("axpy", dev, T, axpy, dy.numel(), T(c), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
}
}  // namespace

Var reshape(const Var& x, const Shape& shape) {
  MOR_PROFILE_FORWARD("reshape");
  Var out = make_output(x->value.reshape(shape), {&x});
  record(out, [x](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("reshape");
    if (!x->grad.defined()) {
      x->grad = dy.reshape(x->value.shape());  // alias: every consumer of `out` has already run
      return;
    }
    pass_grad(x, dy, 1.0);
  });
  return out;
}

Var add(const Var& a, const Var& b) {
  MOR_PROFILE_FORWARD("add");
  const Device dev = same_shape("add", a->value, b->value);
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype(), dev);
  MOR_DISPATCH_FLOAT(Y.dtype(), T, MOR_RUN("add", dev, T, add, Y.numel(), a->value.ptr<T>(), b->value.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&a, &b});
  record(out, [a, b, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("add");
    pass_grad(a, dy, 1.0);
    pass_grad(b, dy, 1.0);
  });
  return out;
}

Var mul(const Var& a, const Var& b) {
  MOR_PROFILE_FORWARD("mul");
  const Device dev = same_shape("mul", a->value, b->value);
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype(), dev);
  MOR_DISPATCH_FLOAT(Y.dtype(), T,
                     MOR_RUN("mul", dev, T, mul, Y.numel(), a->value.ptr<T>(), b->value.ptr<T>(), Y.ptr<T>(), false));
  Var out = make_output(Y, {&a, &b});
  record(out, [a, b, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("mul");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (a->requires_grad) {
        GradTarget g = grad_target(a);
        MOR_RUN("mul", dev, T, mul, dy.numel(), dy.ptr<T>(), b->value.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
      if (b->requires_grad) {
        GradTarget g = grad_target(b);
        MOR_RUN("mul", dev, T, mul, dy.numel(), dy.ptr<T>(), a->value.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
    });
  });
  return out;
}

Var scale(const Var& a, double c) {
  MOR_PROFILE_FORWARD("scale");
  const Device dev = op_device("scale", {&a->value});
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype(), dev);
  MOR_DISPATCH_FLOAT(Y.dtype(), T, MOR_RUN("scale", dev, T, axpy, Y.numel(), T(c), a->value.ptr<T>(), Y.ptr<T>(), false));
  Var out = make_output(Y, {&a});
  record(out, [a, c, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scale");
    pass_grad(a, dy, c);
  });
  return out;
}

Var scale_rows(const Var& x, const Var& s) {
  MOR_PROFILE_FORWARD("scale_rows");
  const Tensor& X = x->value;
  const Device dev = op_device("scale_rows", {&X, &s->value});
  const int64_t n = X.dim(0), d = n ? X.numel() / n : 0;
  require_shape("scale_rows", "s", s->value.numel() == n && s->value.dtype() == X.dtype(), s->value.shape(),
                "[" + std::to_string(n) + "]");
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     MOR_RUN("scale_rows", dev, T, scale_rows, n, d, X.ptr<T>(), s->value.ptr<T>(), Y.ptr<T>(), false));
  Var out = make_output(Y, {&x, &s});
  record(out, [x, s, n, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scale_rows");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        MOR_RUN("scale_rows", dev, T, scale_rows, n, d, dy.ptr<T>(), s->value.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
      if (s->requires_grad) {
        GradTarget g = grad_target(s);
        MOR_RUN("scale_rows", dev, T, row_dots, n, d, dy.ptr<T>(), x->value.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
    });
  });
  return out;
}

Var sum(const Var& x) {
  MOR_PROFILE_FORWARD("sum");
  const Tensor& X = x->value;
  const Device dev = op_device("sum", {&X});
  Tensor Y = Tensor::empty({1}, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("sum", dev, T, sum_all, X.numel(), X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("sum");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("sum", dev, T, fill_scalar, g.buf.numel(), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
