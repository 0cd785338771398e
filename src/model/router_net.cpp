// Router networks; see router_net.h.
#include "router_net.h"

#include "src/autodiff/flop_counter.h"

namespace mor {

RouterParams declare_router(ParamTable& table, const std::string& prefix, int64_t d, int64_t out,
                            RouterArch arch, double std, const std::string& group) {
  RouterParams r;
  auto add = [&](const std::string& name, Shape s) {
    ParamSpec spec{name, std::move(s), ParamInit::Normal, std, true, -1, -1};
    spec.group = group;
    return table.add(spec);
  };
  if (arch == RouterArch::Linear) {
    r.w0 = add(prefix + ".weight", {out, d});
  } else {  // mlp, wide_mlp (identical upstream)
    r.w0 = add(prefix + ".0.weight", {2 * d, d});
    r.w1 = add(prefix + ".2.weight", {out, 2 * d});
  }
  return r;
}

ad::Var router_logits(const ParamTable& table, const RouterParams& r, const ad::Var& x) {
  ad::FlopLabel label("router");
  ad::Var h = ad::linear(x, table.var(r.w0));
  if (r.w1 < 0) return h;
  return ad::linear(ad::gelu(h), table.var(r.w1));
}

}  // namespace mor
