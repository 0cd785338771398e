// Routing defaults resolved in one place; see routing_resolved.h.
#include "routing_resolved.h"

#include "sharing.h"

namespace mor {

ResolvedRouting resolve_routing(const ModelConfig& m) {
  const MoRConfig& c = m.mor;
  const int64_t nr = m.recursion.num_recursions;
  ResolvedRouting r;
  r.type = c.type;
  r.base_depth = SharingPlan(m.recursion.sharing, m.n_layers, nr).base_depth();
  r.capacity.assign(size_t(nr), 1.0);
  if (c.type == "none") return r;
  if (c.type == "expert" && !c.capacity.empty()) r.capacity = c.capacity;
  else
    for (int64_t s = 0; s < nr; ++s) r.capacity[size_t(s)] = double(nr - s) / double(nr);
  if (c.type == "expert") {
    r.router_func = c.router_func.empty() ? "sigmoid" : c.router_func;
    const double configured = c.alpha < 0 ? 0.1 : c.alpha;
    r.alpha = r.router_func == "none" && !c.rand_router ? 1.0 : configured;
    r.threshold = r.router_func == "sigmoid" ? 0.5 : 0.0;
  } else {
    r.router_func = c.router_func.empty() ? "softmax" : c.router_func;
    r.alpha = c.alpha >= 0 ? c.alpha : (r.router_func == "softmax" ? 1.0 : 0.1);
    r.threshold = 0.0;
  }
  return r;
}

}  // namespace mor
