// Sweep file reader; see sweep_spec.h.
#include "sweep_spec.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "src/config/yaml_tree.h"
#include "src/core/error.h"

namespace mor::sweep {
namespace fs = std::filesystem;
namespace {

struct Reader {
  std::string source;

  std::string at(const YAML::Node& n) const { return mark_str(source, n.Mark()); }

  // Refuses keys of `n` outside `allowed`, naming the key's position and the allowed keys.
  void only_keys(const YAML::Node& n, const std::string& what, std::initializer_list<const char*> allowed) const {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar();
      bool ok = false;
      std::string list;
      for (const char* a : allowed) {
        ok = ok || key == a;
        list += std::string(list.empty() ? "" : ", ") + a;
      }
      if (!ok) fail_input(at(it->first), ": unknown key '", key, "' in ", what, ". Hint: the keys are: ", list, ".");
    }
  }
  std::string text(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail_input(at(n), ": '", key, "' must be a string.");
    return n.Scalar();
  }
  double number(const YAML::Node& n, const std::string& key) const {
    double v = 0;
    try {
      if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
      v = n.as<double>();
    } catch (const YAML::BadConversion&) {
      fail_input(at(n), ": '", key, "' must be a number (got ", n.IsScalar() ? "'" + n.Scalar() + "'" : "a list or map", ").");
    }
    if (!std::isfinite(v)) fail_input(at(n), ": '", key, "' must be a finite number.");
    return v;
  }
  int64_t integer(const YAML::Node& n, const std::string& key) const {
    const double v = number(n, key);
    if (v != std::trunc(v) || std::fabs(v) >= 0x1p62) fail_input(at(n), ": '", key, "' must be an integer (got ", n.Scalar(), ").");
    return int64_t(v);
  }
  YAML::Node list(const YAML::Node& n, const std::string& key) const {
    if (!n.IsSequence() || n.size() == 0)
      fail_input(at(n), ": '", key, "' must be a non-empty list. Hint: e.g. ", key, ": [...]");
    return n;
  }
  // `set:` entries: "key=value" strings in --set syntax.
  std::vector<Override> overrides(const YAML::Node& n) const {
    std::vector<Override> out;
    if (!n.IsSequence()) fail_input(at(n), ": 'set' must be a list of key=value strings. Hint: set: [train.lr=1e-3]");
    for (const auto& e : n) {
      const std::string s = e.IsScalar() ? e.Scalar() : "";
      if (s.find('=') == std::string::npos || s.front() == '=')
        fail_input(at(e), ": 'set' entries are key=value strings (as for --set). Hint: write e.g. 'train.lr=1e-3'.");
      out.push_back({s, at(e)});
    }
    return out;
  }
  // Names must be unique and usable in a directory name.
  void check_name(const std::string& name, const YAML::Node& n, std::set<std::string>& seen, const std::string& axis) const {
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                            std::string::npos)
      fail_input(at(n), ": ", axis, " name '", name, "' must be letters, digits, '-', '_' or '.' (it names run directories).");
    if (!seen.insert(name).second) fail_input(at(n), ": ", axis, " name '", name, "' appears twice. Hint: names must be unique.");
  }
  std::string path_from(const std::string& p) const {
    if (fs::path(p).is_absolute()) return p;
    return (fs::path(source).parent_path() / p).lexically_normal().string();
  }
};

SizeSpec read_size(const Reader& r, const YAML::Node& n, std::set<std::string>& names) {
  if (!n.IsMap()) fail_input(r.at(n), ": each size must be a map. Hint: - {name: d64, d_model: 64, n_heads: 2, d_ff: 176}");
  r.only_keys(n, "a size", {"name", "config", "d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "set"});
  SizeSpec s;
  s.where = r.at(n);
  if (!n["name"]) fail_input(s.where, ": a size needs a name. Hint: add name: d64");
  s.name = r.text(n["name"], "name");
  r.check_name(s.name, n["name"], names, "size");
  if (n["config"]) s.config = r.path_from(r.text(n["config"], "config"));
  for (const char* key : {"d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff"})
    if (n[key]) s.set.push_back({std::string("model.") + key + "=" + std::to_string(r.integer(n[key], key)), r.at(n[key])});
  if (n["set"]) for (auto& o : r.overrides(n["set"])) s.set.push_back(o);
  return s;
}

VariantSpec read_variant(const Reader& r, const YAML::Node& n, std::set<std::string>& names) {
  if (!n.IsMap()) fail_input(r.at(n), ": each variant must be a map. Hint: - {name: mor-e3, kind: mor_expert, num_recursions: 3}");
  r.only_keys(n, "a variant", {"name", "kind", "num_recursions", "sharing", "kv_mode", "set"});
  VariantSpec v;
  v.where = r.at(n);
  if (!n["name"]) fail_input(v.where, ": a variant needs a name. Hint: add name: vanilla");
  v.name = r.text(n["name"], "name");
  r.check_name(v.name, n["name"], names, "variant");
  if (!n["kind"]) fail_input(v.where, ": variant '", v.name, "' needs a kind: vanilla, recursive, mor_expert or mor_token.");
  v.kind = r.text(n["kind"], "kind");
  const std::string kw = r.at(n["kind"]);
  const bool routed = v.kind == "mor_expert" || v.kind == "mor_token";
  if (v.kind != "vanilla" && v.kind != "recursive" && !routed)
    fail_input(kw, ": variant kind '", v.kind, "' is not one of: vanilla, recursive, mor_expert, mor_token.");
  if (v.kind == "vanilla") {
    for (const char* key : {"num_recursions", "sharing"})
      if (n[key]) fail_input(r.at(n[key]), ": a vanilla variant has no '", key, "'. Hint: use kind: recursive.");
    v.set = {{"model.recursion.sharing=none", kw}, {"model.recursion.num_recursions=1", kw}, {"model.mor.type=none", kw}};
  } else {
    if (!n["num_recursions"]) fail_input(v.where, ": variant '", v.name, "' (", v.kind, ") needs num_recursions.");
    const int64_t nr = r.integer(n["num_recursions"], "num_recursions");
    const std::string sharing = n["sharing"] ? r.text(n["sharing"], "sharing") : "middle_cycle";
    const std::string sw = n["sharing"] ? r.at(n["sharing"]) : kw;
    v.set = {{"model.recursion.sharing=" + sharing, sw},
             {"model.recursion.num_recursions=" + std::to_string(nr), r.at(n["num_recursions"])},
             {std::string("model.mor.type=") + (v.kind == "recursive" ? "none" : v.kind == "mor_expert" ? "expert" : "token"), kw}};
  }
  // A capacity schedule the base sets for its expert routing means nothing to the other kinds.
  if (v.kind != "mor_expert") v.set.push_back({"model.mor.capacity=[]", kw});
  if (n["kv_mode"]) v.set.push_back({"model.kv_mode=" + r.text(n["kv_mode"], "kv_mode"), r.at(n["kv_mode"])});
  if (n["set"]) for (auto& o : r.overrides(n["set"])) v.set.push_back(o);
  return v;
}

}  // namespace

SweepSpec load_sweep(const std::string& path) {
  if (fs::is_directory(path)) fail_input(path, ": is a directory, not a sweep file. Hint: pass e.g. configs/sweeps/isoflop-small.yaml.");
  std::ifstream f(path);
  if (!f) fail_input(path, ": cannot open the sweep file. Hint: check the path (configs/sweeps/ holds examples).");
  std::stringstream ss;
  ss << f.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(ss.str());
  } catch (const YAML::Exception& e) {
    fail_input(mark_str(path, e.mark), ": YAML syntax error: ", e.msg, ". Hint: check indentation (spaces, not tabs).");
  }
  check_duplicate_keys(root, path);
  Reader r{path};
  if (!root.IsMap()) fail_input(path, ": a sweep file is a YAML map (name, base, budgets, sizes, variants, seeds, ...).");
  r.only_keys(root, "the sweep file",
              {"name", "base", "set", "budgets", "sizes", "variants", "seeds", "checkpoint_every", "max_epochs", "warmup_budget"});
  SweepSpec s;
  s.source = path;
  s.name = root["name"] ? r.text(root["name"], "name") : fs::path(path).stem().string();
  for (const char* key : {"base", "budgets", "sizes", "variants", "seeds"})
    if (!root[key]) fail_input(path, ": the sweep file needs '", key, "'. Hint: see configs/sweeps/isoflop-small.yaml.");
  s.base = r.path_from(r.text(root["base"], "base"));
  if (root["set"]) s.set = r.overrides(root["set"]);
  for (const auto& b : r.list(root["budgets"], "budgets")) {
    const double v = r.number(b, "budgets");
    if (!(v > 0)) fail_input(r.at(b), ": a budget must be > 0 FLOPs (got ", b.Scalar(), ").");
    for (const auto& prev : s.budgets)
      if (prev.flops == v) fail_input(r.at(b), ": budget ", b.Scalar(), " appears twice (first at ", prev.where, ").");
    s.budgets.push_back({v, r.at(b)});
  }
  std::set<std::string> size_names, variant_names;
  for (const auto& n : r.list(root["sizes"], "sizes")) s.sizes.push_back(read_size(r, n, size_names));
  for (const auto& n : r.list(root["variants"], "variants")) s.variants.push_back(read_variant(r, n, variant_names));
  for (const auto& n : r.list(root["seeds"], "seeds")) {
    const int64_t seed = r.integer(n, "seeds");
    for (size_t i = 0; i < s.seeds.size(); ++i)
      if (s.seeds[i] == seed) fail_input(r.at(n), ": seed ", seed, " appears twice (first at ", s.seed_where[i], ").");
    s.seeds.push_back(seed);
    s.seed_where.push_back(r.at(n));
  }
  if (root["checkpoint_every"]) {
    s.checkpoint_every = r.integer(root["checkpoint_every"], "checkpoint_every");
    if (s.checkpoint_every < 0) fail_input(r.at(root["checkpoint_every"]), ": checkpoint_every must be >= 0 (0: a tenth of the steps).");
  }
  if (root["max_epochs"]) {
    s.max_epochs = r.number(root["max_epochs"], "max_epochs");
    s.max_epochs_where = r.at(root["max_epochs"]);
    if (!(s.max_epochs > 0)) fail_input(s.max_epochs_where, ": max_epochs must be > 0.");
  }
  if (root["warmup_budget"]) {
    const std::string w = r.text(root["warmup_budget"], "warmup_budget");
    if (w != "smallest" && w != "none")
      fail_input(r.at(root["warmup_budget"]), ": warmup_budget is 'smallest' (warm-up from the smallest budget's steps, "
                                               "MOR.md 7) or 'none' (the base config's warm-up).");
    s.warmup_from_smallest = w == "smallest";
  }
  return s;
}

}  // namespace mor::sweep
