// Registry of autodiff ops. Every op registers its name where it is defined; the gradient-check
// suite fails when a differentiable op has no finite-difference test.
#pragma once
#include <string>
#include <vector>

namespace mor::ad {

struct OpInfo {
  std::string name;
  bool differentiable = true;  // false: no backward (e.g. top-k selection)
};

bool register_op(const char* name, bool differentiable = true);
std::vector<OpInfo> registered_ops();

}  // namespace mor::ad

#define MOR_REGISTER_OP(name) \
  namespace {                 \
  const bool mor_op_registered_##name = ::mor::ad::register_op(#name, true); \
  }
#define MOR_REGISTER_OP_NO_GRAD(name) \
  namespace {                         \
  const bool mor_op_registered_##name = ::mor::ad::register_op(#name, false); \
  }
