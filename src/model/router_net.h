// Router networks (MOR.md 3.1 / 4.1): linear d -> out, or MLP d -> 2d -> GELU(erf) -> out.
// `wide_mlp` is the same as `mlp`, as in the upstream code. No biases. Parameters are declared
// in the model's table under `prefix` (export names: `<prefix>.weight` or `<prefix>.{0,2}.weight`).
#pragma once
#include <string>

#include "param_table.h"
#include "src/autodiff/ops.h"
#include "src/config/routing_spec.h"

namespace mor {

struct RouterParams {
  int w0 = -1;  // linear: the only weight [out, d]; mlp: first layer [2d, d]
  int w1 = -1;  // mlp: second layer [out, 2d]
};

RouterParams declare_router(ParamTable& table, const std::string& prefix, int64_t d, int64_t out, RouterArch arch,
                            double std, const std::string& group);

// x [n, d] -> logits [n, out]. FLOPs are counted under the "router" label.
ad::Var router_logits(const ParamTable& table, const RouterParams& r, const ad::Var& x);

}  // namespace mor
