// Tensor-parallel conjugate ops (Megatron's f and g), forward and backward side by side:
//
//   copy_to_tp_region      forward  y = x                 backward  dx = sum over the group of dy
//   reduce_from_tp_region  forward  y = sum over group x   backward  dx = dy
//
// A column-parallel linear is copy_to -> linear(w shard); a row-parallel one is linear(w shard)
// -> reduce_from. The collectives go through the TpGroup handle (tp_group.h): the ops never see
// ranks or transports.
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"
#include "src/autodiff/tp_group.h"

MOR_REGISTER_OP(copy_to_tp_region)
MOR_REGISTER_OP(reduce_from_tp_region)

namespace mor::ad {
namespace {
// g(v) (+)= src
void add_into_grad(const Var& v, const Tensor& src) {
  if (!v->requires_grad) return;
  GradTarget g = grad_target(v);
  const Device dev = src.device();
  MOR_DISPATCH_FLOAT(src.dtype(), T,
                     MOR_RUN("tp_region", dev, T, axpy, src.numel(), T(1), src.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
}
}  // namespace

Var copy_to_tp_region(const Var& x, TpGroup& g) {
  MOR_PROFILE_FORWARD("copy_to_tp_region");
  Var out = make_output(x->value, {&x});  // same storage: nobody writes a forward value in place
  TpGroup* group = &g;
  record(out, [x, group](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("copy_to_tp_region");
    Tensor sum = dy.clone();
    group->all_reduce_sum(sum);
    add_into_grad(x, sum);
  });
  return out;
}

Var reduce_from_tp_region(const Var& x, TpGroup& g) {
  MOR_PROFILE_FORWARD("reduce_from_tp_region");
  Tensor y = x->value.clone();
  g.all_reduce_sum(y);
  Var out = make_output(y, {&x});
  record(out, [x](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("reduce_from_tp_region");
    add_into_grad(x, dy);
  });
  return out;
}

}  // namespace mor::ad
