// Arithmetic ops: add, mul, scale, scale_rows, sum.
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/reduce.h"
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
void same_shape(const char* op, const Tensor& a, const Tensor& b) {
  require_cpu(op, a);
  require_shape(op, "b", a.shape() == b.shape() && a.dtype() == b.dtype(), b.shape(), shape_str(a.shape()));
}
// g(v) (+)= c * dy
void pass_grad(const Var& v, const Tensor& dy, double c) {
  if (!v->requires_grad) return;
  GradTarget g = grad_target(v);
  MOR_DISPATCH_FLOAT(dy.dtype(), T, kernels::axpy<T>(dy.numel(), T(c), dy.data<T>(), g.buf.data<T>(), g.accumulate));
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
  same_shape("add", a->value, b->value);
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype());
  MOR_DISPATCH_FLOAT(Y.dtype(), T, kernels::add<T>(Y.numel(), a->value.data<T>(), b->value.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&a, &b});
  record(out, [a, b](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("add");
    pass_grad(a, dy, 1.0);
    pass_grad(b, dy, 1.0);
  });
  return out;
}

Var mul(const Var& a, const Var& b) {
  MOR_PROFILE_FORWARD("mul");
  same_shape("mul", a->value, b->value);
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype());
  MOR_DISPATCH_FLOAT(Y.dtype(), T,
                     kernels::mul<T>(Y.numel(), a->value.data<T>(), b->value.data<T>(), Y.data<T>(), false));
  Var out = make_output(Y, {&a, &b});
  record(out, [a, b](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("mul");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (a->requires_grad) {
        GradTarget g = grad_target(a);
        kernels::mul<T>(dy.numel(), dy.data<T>(), b->value.data<T>(), g.buf.data<T>(), g.accumulate);
      }
      if (b->requires_grad) {
        GradTarget g = grad_target(b);
        kernels::mul<T>(dy.numel(), dy.data<T>(), a->value.data<T>(), g.buf.data<T>(), g.accumulate);
      }
    });
  });
  return out;
}

Var scale(const Var& a, double c) {
  MOR_PROFILE_FORWARD("scale");
  require_cpu("scale", a->value);
  Tensor Y = Tensor::empty(a->value.shape(), a->value.dtype());
  MOR_DISPATCH_FLOAT(Y.dtype(), T, kernels::axpy<T>(Y.numel(), T(c), a->value.data<T>(), Y.data<T>(), false));
  Var out = make_output(Y, {&a});
  record(out, [a, c](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scale");
    pass_grad(a, dy, c);
  });
  return out;
}

Var scale_rows(const Var& x, const Var& s) {
  MOR_PROFILE_FORWARD("scale_rows");
  const Tensor& X = x->value;
  require_cpu("scale_rows", X);
  const int64_t n = X.dim(0), d = n ? X.numel() / n : 0;
  require_shape("scale_rows", "s", s->value.numel() == n && s->value.dtype() == X.dtype(), s->value.shape(),
                "[" + std::to_string(n) + "]");
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T,
                     kernels::scale_rows<T>(n, d, X.data<T>(), s->value.data<T>(), Y.data<T>(), false));
  Var out = make_output(Y, {&x, &s});
  record(out, [x, s, n, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scale_rows");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (x->requires_grad) {
        GradTarget g = grad_target(x);
        kernels::scale_rows<T>(n, d, dy.data<T>(), s->value.data<T>(), g.buf.data<T>(), g.accumulate);
      }
      if (s->requires_grad) {
        GradTarget g = grad_target(s);
        kernels::row_dots<T>(n, d, dy.data<T>(), x->value.data<T>(), g.buf.data<T>(), g.accumulate);
      }
    });
  });
  return out;
}

Var sum(const Var& x) {
  MOR_PROFILE_FORWARD("sum");
  const Tensor& X = x->value;
  require_cpu("sum", X);
  Tensor Y = Tensor::empty({1}, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, {
    const T* p = X.data<T>();
    Y.data<T>()[0] = T(kernels::scalar_sum(X.numel(), [p](int64_t i) { return p[i]; }));
  });
  Var out = make_output(Y, {&x});
  record(out, [x](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("sum");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      const T c = dy.data<T>()[0];
      T* gp = g.buf.data<T>();
      const int64_t n = g.buf.numel();
      if (g.accumulate)
        for (int64_t i = 0; i < n; ++i) gp[i] += c;
      else
        for (int64_t i = 0; i < n; ++i) gp[i] = c;
    });
  });
  return out;
}

}  // namespace mor::ad
