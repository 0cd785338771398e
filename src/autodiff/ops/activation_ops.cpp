// Activation ops: swiglu, sigmoid, tanh, softmax, logsumexp.
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
  const Device dev = op_device("swiglu", {&X});
  MOR_CHECK(X.ndim() >= 1 && X.dim(-1) % 2 == 0, "swiglu: last dim must be even (gate | up)");
  const int64_t f = X.dim(-1) / 2, n = X.numel() / (2 * f);
  Shape s = X.shape();
  s.back() = f;
  Tensor Y = Tensor::empty(s, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("swiglu", dev, T, swiglu_forward, n, f, X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&gate_up});
  record(out, [gate_up, n, f, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("swiglu");
    GradTarget g = grad_target(gate_up);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("swiglu", dev, T, swiglu_backward, n, f, gate_up->value.ptr<T>(), dy.ptr<T>(), g.buf.ptr<T>(),
                                                   g.accumulate));
  });
  return out;
}

Var sigmoid(const Var& x) {
  MOR_PROFILE_FORWARD("sigmoid");
  const Tensor& X = x->value;
  const Device dev = op_device("sigmoid", {&X});
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("sigmoid", dev, T, sigmoid_forward, X.numel(), X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("sigmoid");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("sigmoid", dev, T, sigmoid_backward, Y.numel(), Y.ptr<T>(), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

Var tanh(const Var& x) {
  MOR_PROFILE_FORWARD("tanh");
  const Tensor& X = x->value;
  const Device dev = op_device("tanh", {&X});
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("tanh", dev, T, tanh_forward, X.numel(), X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("tanh");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("tanh", dev, T, tanh_backward, Y.numel(), Y.ptr<T>(), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

Var gelu(const Var& x) {
  MOR_PROFILE_FORWARD("gelu");
  const Tensor& X = x->value;
  const Device dev = op_device("gelu", {&X});
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("gelu", dev, T, gelu_forward, X.numel(), X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("gelu");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("gelu", dev, T, gelu_backward, dy.numel(), x->value.ptr<T>(), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

Var softmax(const Var& x) {
  MOR_PROFILE_FORWARD("softmax");
  const Tensor& X = x->value;
  const Device dev = op_device("softmax", {&X});
  const int64_t c = X.dim(-1), n = X.numel() / c;
  Tensor Y = Tensor::empty(X.shape(), X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("softmax", dev, T, softmax_forward, n, c, X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, n, c, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("softmax");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("softmax", dev, T, softmax_backward, n, c, Y.ptr<T>(), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

Var logsumexp(const Var& x) {
  MOR_PROFILE_FORWARD("logsumexp");
  const Tensor& X = x->value;
  const Device dev = op_device("logsumexp", {&X});
  const int64_t c = X.dim(-1), n = X.numel() / c;
  Shape s = X.shape();
  s.pop_back();
  if (s.empty()) s = {1};
  Tensor Y = Tensor::empty(s, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("logsumexp", dev, T, logsumexp_forward, n, c, X.ptr<T>(), Y.ptr<T>()));
  Var out = make_output(Y, {&x});
  record(out, [x, Y, n, c, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("logsumexp");
    GradTarget g = grad_target(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("logsumexp", dev, T, logsumexp_backward, n, c, x->value.ptr<T>(), Y.ptr<T>(), dy.ptr<T>(),
                                                      g.buf.ptr<T>(), g.accumulate));
  });
  return out;
}

}  // namespace mor::ad
