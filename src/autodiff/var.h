// Var: a node of the define-by-run autodiff graph -- a value tensor, its gradient, and whether
// gradients flow to it. Parameters are Vars whose value and grad are views into the parameter
// arena, so every use of a shared weight accumulates into the one gradient buffer.
#pragma once
#include <memory>

#include "src/core/tensor.h"

namespace mor::ad {

struct VarImpl {
  Tensor value;
  Tensor grad;                 // undefined until the first gradient arrives (params: pre-bound)
  bool requires_grad = false;
  bool grad_bound = false;     // grad is a pre-zeroed external buffer (parameter arena): always add
};
using Var = std::shared_ptr<VarImpl>;

inline Var make_var(Tensor value, bool requires_grad = false) {
  auto v = std::make_shared<VarImpl>();
  v->value = std::move(value);
  v->requires_grad = requires_grad;
  return v;
}

// A parameter: value and grad are views into arenas owned elsewhere (the parameter table).
inline Var make_param_var(Tensor value, Tensor grad) {
  auto v = std::make_shared<VarImpl>();
  v->value = std::move(value);
  v->grad = std::move(grad);
  v->requires_grad = true;
  v->grad_bound = true;
  return v;
}

// Where a backward kernel writes a gradient contribution for v.
// accumulate=false: `buf` is freshly allocated and uninitialised; the kernel must overwrite it.
struct GradTarget {
  Tensor buf;
  bool accumulate = true;
};
// Allocates v's gradient on first use.
GradTarget grad_target(const Var& v);
// Same, but a fresh buffer is zero-filled (for kernels that only add or write part of it).
GradTarget grad_target_zeroed(const Var& v);

}  // namespace mor::ad
