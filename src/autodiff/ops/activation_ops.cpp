// Activation ops: swiglu, sigmoid, tanh, softmax, logsumexp.
#include "kernels/cpu/activation.h"
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(swiglu)
MOR_REGISTER_OP(sigmoid)
MOR_REGISTER_OP(tanh)
MOR_REGISTER_OP(gelu)
MOR_REGISTER_OP(softmax)
MOR_REGISTER_OP(logsumexp)

namespace mor::ad {

Var swiglu(const Var& gate_up) {
  MOR_PROFILE_FORWARD("swiglu");
  const Tensor& X = gate_up->value;
  require_cpu("swiglu", X);
  MOR_CHECK(X.ndim() >= 1 && X.dim(-1) % 2 == 0, "swiglu: last dim must be even (gate | up)");
  const int64_t f = X.dim(-1) / 2, n = X.numel() / (2 * f);
  Shape s = X.shape();
  s.back() = f;
  Tensor Y = Tensor::empty(s, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::swiglu_forward<T>(n, f, X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&gate_up});
  record(out, [gate_up, n, f](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("swiglu");
    GradTarget g = grad_target(gate_up);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::swiglu_backward<T>(n, f, gate_up->value.data<T>(), dy.data<T>(), g.buf.data<T>(),
                                                   g.accumulate));
  });
  return out;
}

Var sigmoid(const Var& x) {
  MOR_PROFILE_FORWARD("sigmoid");
  const Tensor& X = x->value;
  require_cpu("sigmoid", X);
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::sigmoid_forward<T>(X.numel(), X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("sigmoid");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::sigmoid_backward<T>(Y.numel(), Y.data<T>(), dy.data<T>(), g.buf.data<T>(), g.accumulate));
  });
  return out;
}

Var tanh(const Var& x) {
  MOR_PROFILE_FORWARD("tanh");
  const Tensor& X = x->value;
  require_cpu("tanh", X);
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::tanh_forward<T>(X.numel(), X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("tanh");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::tanh_backward<T>(Y.numel(), Y.data<T>(), dy.data<T>(), g.buf.data<T>(), g.accumulate));
  });
  return out;
}

Var gelu(const Var& x) {
  MOR_PROFILE_FORWARD("gelu");
  const Tensor& X = x->value;
  require_cpu("gelu", X);
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::gelu_forward<T>(X.numel(), X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("gelu");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::gelu_backward<T>(dy.numel(), x->value.data<T>(), dy.data<T>(), g.buf.data<T>(), g.accumulate));
  });
  return out;
}

Var softmax(const Var& x) {
  MOR_PROFILE_FORWARD("softmax");
  const Tensor& X = x->value;
  require_cpu("softmax", X);
  const int64_t c = X.dim(-1), n = X.numel() / c;
  Tensor Y = Tensor::empty(X.shape(), X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::softmax_forward<T>(n, c, X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, n, c](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("softmax");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::softmax_backward<T>(n, c, Y.data<T>(), dy.data<T>(), g.buf.data<T>(), g.accumulate));
  });
  return out;
}

Var logsumexp(const Var& x) {
  MOR_PROFILE_FORWARD("logsumexp");
  const Tensor& X = x->value;
  require_cpu("logsumexp", X);
  const int64_t c = X.dim(-1), n = X.numel() / c;
  Shape s = X.shape();
  s.pop_back();
  if (s.empty()) s = {1};
  Tensor Y = Tensor::empty(s, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::logsumexp_forward<T>(n, c, X.data<T>(), Y.data<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, n, c](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("logsumexp");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::logsumexp_backward<T>(n, c, x->value.data<T>(), Y.data<T>(), dy.data<T>(),
                                                      g.buf.data<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
