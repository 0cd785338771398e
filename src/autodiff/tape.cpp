// Tape, grad scopes and gradient buffer helpers; see tape.h and var.h.
#include "tape.h"

namespace mor::ad {
namespace {
thread_local Tape* g_active = nullptr;
}

Tape* active_tape() { return g_active; }

GradScope::GradScope(Tape& tape) : previous_(g_active) { g_active = &tape; }
GradScope::~GradScope() { g_active = previous_; }
NoGradScope::NoGradScope() : previous_(g_active) { g_active = nullptr; }
NoGradScope::~NoGradScope() { g_active = previous_; }

Var make_output(Tensor value, std::initializer_list<const Var*> inputs) {
  bool rg = false;
  if (g_active)
    for (const Var* v : inputs)
      if (*v && (*v)->requires_grad) rg = true;
  return make_var(std::move(value), rg);
}

void Tape::backward(const Var& loss, double seed) {
  MOR_CHECK(loss->value.numel() == 1, "backward() needs a scalar loss, got ", shape_str(loss->value.shape()));
  backward(loss, Tensor::full(loss->value.shape(), seed, loss->value.dtype(), loss->value.device()));
}

void Tape::backward(const Var& out, const Tensor& grad_out) {
  MOR_CHECK(grad_out.shape() == out->value.shape(), "backward: seed shape ", shape_str(grad_out.shape()),
            " != output shape ", shape_str(out->value.shape()));
  if (!out->requires_grad) {
    nodes_.clear();
    return;
  }
  out->grad = grad_out.clone();
  for (size_t i = nodes_.size(); i-- > 0;) {
    nodes_[i]();
    nodes_[i] = nullptr;
  }
  nodes_.clear();
}

GradTarget grad_target(const Var& v) {
  if (v->grad.defined()) return {v->grad, true};
  v->grad = Tensor::empty(v->value.shape(), v->value.dtype(), v->value.device());
  return {v->grad, false};
}

GradTarget grad_target_zeroed(const Var& v) {
  if (!v->grad.defined()) {
    v->grad = Tensor::zeros(v->value.shape(), v->value.dtype(), v->value.device());
  }
  return {v->grad, true};
}

}  // namespace mor::ad
