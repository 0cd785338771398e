// Op registry storage; see op_registry.h.
#include "op_registry.h"

#include <algorithm>

namespace mor::ad {
namespace {
std::vector<OpInfo>& ops() {
  static std::vector<OpInfo>* v = new std::vector<OpInfo>();
  return *v;
}
}  // namespace

bool register_op(const char* name, bool differentiable) {
  ops().push_back({name, differentiable});
  return true;
}

std::vector<OpInfo> registered_ops() {
  auto v = ops();
  std::sort(v.begin(), v.end(), [](const OpInfo& a, const OpInfo& b) { return a.name < b.name; });
  return v;
}

}  // namespace mor::ad
