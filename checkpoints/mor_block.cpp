// The exported `mor` block: writing it from a config and reading it back; see mor_block.h.
#include "mor_block.h"

#include <set>
#include <sstream>

#include "src/core/error.h"
#include "src/config/routing_spec.h"

namespace mor::ckpt {
namespace {

using json = nlohmann::json;

// Keys a block may hold (the MoR-Train block plus the upstream Hydra spellings).
const std::set<std::string> kTop = {"enable", "type", "num_recursion", "sharing", "ln_share", "base_depth",
                                    "initialization", "router_type", "temp", "rand_router", "capacity", "z_loss",
                                    "z_coeff", "kv_mode", "kv_sharing", "expert", "token"};
const std::set<std::string> kExpert = {"router_func", "alpha",          "sampling",           "coeff",
                                       "gating",      "cap_warmup_step", "aux_router_lr_mult", "eval_selection",
                                       "include_first"};
const std::set<std::string> kToken = {"router_func", "alpha", "balancing", "coeff", "u", "bal_warmup_step",
                                      "gating", "gate_every_step"};
const std::set<std::string> kKv = {"enable", "base_depth", "num_recursion", "sharing", "update_cache"};

void check_keys(const json& j, const std::set<std::string>& allowed, const std::string& path, const std::string& where) {
  if (!j.is_object()) fail_input(where, ": \"", path, "\" must be an object.");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      fail_input(where, ": unknown key \"", path, ".", it.key(), "\". Hint: a mor block holds only ", list, ".");
    }
}

template <class T>
void get(const json& j, const char* key, T& out, const std::string& path, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = j[key].get<T>();
  } catch (const std::exception&) {
    fail_input(where, ": \"", path, ".", key, "\" has the wrong type (", j[key].dump(), ").");
  }
}

std::vector<double> parse_capacity(const json& c, const std::string& where) {
  std::vector<double> out;
  if (c.is_null()) return out;
  if (c.is_array()) {
    for (const auto& v : c) {
      if (!v.is_number()) fail_input(where, ": \"mor.capacity\" must hold numbers (", c.dump(), ").");
      out.push_back(v.get<double>());
    }
    return out;
  }
  if (!c.is_string()) fail_input(where, ": \"mor.capacity\" must be a list or an upstream \"1.0,0.5\" string.");
  std::stringstream ss(c.get<std::string>());
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size() && item.find_first_not_of(" ", used) != std::string::npos) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail_input(where, ": \"mor.capacity\" \"", c.get<std::string>(), "\" is not a comma-separated list of numbers.");
    }
  }
  return out;
}

// Upstream writes None for the raw-logit router; ours is "none". The paper's KV names: cache / share.
std::string router_func_of(const json& j, const std::string& fallback) {
  if (!j.contains("router_func")) return fallback;
  return j["router_func"].is_null() ? "none" : j["router_func"].get<std::string>();
}

}  // namespace

nlohmann::json mor_block_known_keys(const nlohmann::json& block) {
  const auto keep = [](const json& j, const std::set<std::string>& allowed) {
    json out = json::object();
    if (!j.is_object()) return j;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (allowed.count(it.key())) out[it.key()] = it.value();
    return out;
  };
  json out = keep(block, kTop);
  if (!out.is_object()) return out;
  if (out.contains("expert")) out["expert"] = keep(out["expert"], kExpert);
  if (out.contains("token")) out["token"] = keep(out["token"], kToken);
  if (out.contains("kv_sharing")) out["kv_sharing"] = keep(out["kv_sharing"], kKv);
  return out;
}

nlohmann::ordered_json mor_block(const Config& cfg) {
  const ModelConfig& m = cfg.model;
  const RoutingSpec rr = resolve_routing(m);
  const bool share = rr.share_kv();
  const int64_t accum = cfg.train.grad_accum;
  nlohmann::ordered_json b;
  b["enable"] = rr.routed();
  b["type"] = name_of(rr.type);
  b["num_recursion"] = m.recursion.num_recursions;
  b["sharing"] = m.recursion.sharing;
  b["ln_share"] = m.recursion.ln_share;
  b["base_depth"] = rr.base_depth;
  if (rr.routed()) {
    b["router_type"] = name_of(rr.router_arch);
    b["temp"] = rr.temp;
    b["rand_router"] = rr.rand_router;
    if (rr.expert()) b["capacity"] = rr.capacity;
    b["z_loss"] = rr.z_coeff > 0;
    b["z_coeff"] = rr.z_coeff;
  }
  b["kv_mode"] = share ? "share" : "cache";
  b["kv_sharing"] = {{"enable", share},
                     {"base_depth", rr.base_depth},
                     {"num_recursion", m.recursion.num_recursions},
                     {"sharing", m.recursion.sharing},
                     {"update_cache", false}};
  if (rr.expert()) {
    b["expert"] = {{"router_func", name_of(rr.router_func)}, {"alpha", rr.alpha},
                   {"sampling", name_of(rr.sampling)},        {"coeff", rr.aux_coeff},
                   {"gating", name_of(rr.gating)},            {"cap_warmup_step", rr.cap_warmup_steps * accum},
                   {"aux_router_lr_mult", rr.aux_router_lr_mult}, {"eval_selection", name_of(rr.eval_selection)}};
  } else if (rr.token()) {
    b["token"] = {{"router_func", name_of(rr.router_func)}, {"alpha", rr.alpha},
                  {"balancing", name_of(rr.balancing)},     {"coeff", rr.bal_coeff},
                  {"u", rr.bias_update_rate},              {"bal_warmup_step", rr.bal_warmup_steps * accum},
                  {"gating", name_of(rr.gating)},           {"gate_every_step", rr.gate_every_step}};
  }
  return b;
}

int64_t apply_mor_block(const json& b, const json& top_kv, ModelConfig& m, const std::string& where) {
  check_keys(b, kTop, "mor", where);
  MoRConfig& c = m.mor;
  bool enable = true;
  get(b, "enable", enable, "mor", where);
  get(b, "type", c.type, "mor", where);
  if (!enable) c.type = "none";
  if (c.type != "none" && c.type != "expert" && c.type != "token")
    fail_input(where, ": \"mor.type\" is \"", c.type, "\". Hint: expert, token, or none (Recursive).");
  get(b, "num_recursion", m.recursion.num_recursions, "mor", where);
  get(b, "sharing", m.recursion.sharing, "mor", where);
  get(b, "ln_share", m.recursion.ln_share, "mor", where);
  if (b.contains("initialization") && b["initialization"] != "random")
    fail_input(where, ": \"mor.initialization\" ", b["initialization"].dump(), " is not supported. Hint: random.");
  get(b, "router_type", c.router_type, "mor", where);
  get(b, "temp", c.temp, "mor", where);
  get(b, "rand_router", c.rand_router, "mor", where);
  if (b.contains("capacity") && c.type == "expert") c.capacity = parse_capacity(b["capacity"], where);
  bool z_loss = b.contains("z_coeff");
  get(b, "z_loss", z_loss, "mor", where);
  double z = 0;
  get(b, "z_coeff", z, "mor", where);
  c.z_coeff = z_loss ? z : 0.0;

  // KV mode: kv_mode (cache | share, or ours: recursion), kv_sharing.enable (here or top level).
  std::string kv = "cache";
  get(b, "kv_mode", kv, "mor", where);
  if (kv != "cache" && kv != "share" && kv != "recursion")
    fail_input(where, ": \"mor.kv_mode\" is \"", kv, "\". Hint: cache (recursion-wise caching) or share (recursive KV sharing).");
  bool share = kv == "share";
  for (const json* k : {&top_kv, b.contains("kv_sharing") ? &b["kv_sharing"] : nullptr}) {
    if (!k || k->is_null()) continue;
    check_keys(*k, kKv, "kv_sharing", where);
    bool en = false, update = false;
    get(*k, "enable", en, "kv_sharing", where);
    get(*k, "update_cache", update, "kv_sharing", where);
    if (update) fail_input(where, ": \"kv_sharing.update_cache\" true (the hybrid KV variant) is not supported.");
    if (b.contains("kv_mode") && en != share)
      fail_input(where, ": \"mor.kv_mode\" \"", kv, "\" contradicts kv_sharing.enable ", en ? "true" : "false", ".");
    share = share || en;
  }
  m.kv_mode = share ? "share" : "recursion";

  if (b.contains("expert")) {
    const json& e = b["expert"];
    check_keys(e, kExpert, "mor.expert", where);
    if (e.contains("include_first") && e["include_first"] != true)
      fail_input(where, ": \"mor.expert.include_first\" false is not supported.");
    if (c.type == "expert") {
      c.router_func = router_func_of(e, "sigmoid");
      get(e, "alpha", c.alpha, "mor.expert", where);
      get(e, "sampling", c.sampling, "mor.expert", where);
      get(e, "coeff", c.aux_coeff, "mor.expert", where);
      get(e, "gating", c.gating, "mor.expert", where);
      get(e, "cap_warmup_step", c.cap_warmup_steps, "mor.expert", where);  // forward calls = steps at grad_accum 1
      get(e, "aux_router_lr_mult", c.aux_router_lr_mult, "mor.expert", where);
      get(e, "eval_selection", c.eval_selection, "mor.expert", where);
    }
  }
  if (b.contains("token")) {
    const json& t = b["token"];
    check_keys(t, kToken, "mor.token", where);
    if (c.type == "token") {
      c.router_func = router_func_of(t, "softmax");
      get(t, "alpha", c.alpha, "mor.token", where);
      get(t, "balancing", c.balancing, "mor.token", where);
      get(t, "coeff", c.bal_coeff, "mor.token", where);
      get(t, "u", c.bias_update_rate, "mor.token", where);
      get(t, "bal_warmup_step", c.bal_warmup_steps, "mor.token", where);
      get(t, "gating", c.gating, "mor.token", where);
      get(t, "gate_every_step", c.gate_every_step, "mor.token", where);
    }
  }
  if (c.type == "expert" && !b.contains("expert"))
    fail_input(where, ": \"mor.type\" expert without a \"mor.expert\" block. Hint: export with `mor export`, or add the block.");
  if (c.type == "token" && !b.contains("token"))
    fail_input(where, ": \"mor.type\" token without a \"mor.token\" block.");
  int64_t base_depth = -1;
  get(b, "base_depth", base_depth, "mor", where);
  return base_depth;
}

}  // namespace mor::ckpt
