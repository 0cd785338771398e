// `mor sweep plan`; see sweep_plan.h.
#include "sweep_plan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "child_process.h"
#include "data/json_io.h"
#include "src/config/config.h"
#include "src/core/cpu_count.h"
#include "src/core/error.h"
#include "src/core/path_lock.h"
#include "src/model/flops.h"
#include "src/train/format.h"
#include "src/train/metrics.h"
#include "src/train/schedule.h"
#include "src/train/trainer.h"

namespace mor::sweep {
namespace fs = std::filesystem;
using json = nlohmann::json;

// plan.json's point records: every field but the config text (which lives in points/ID/config.yaml).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SweepPoint, id, budget_label, size, variant, variant_kind, budget, seed, steps,
                                                warmup_steps, tokens, tokens_per_step, micro_batch, ckpt_every,
                                                flops_per_token, unique_params, non_embedding_params, num_recursions,
                                                tp, step_seconds)

namespace {

// "2e11", "1.5e12": a budget as it appears in point ids.
std::string budget_label(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", b);
  std::string s = buf;
  if (auto p = s.find("e+"); p != std::string::npos) s.erase(p + 1, 1);
  return s;
}

std::string shortest(double d) {
  std::ostringstream os;
  os.precision(17);
  os << d;
  return os.str();
}

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Re-raises a config error of one point so that it starts with the sweep file position of the
// override that caused it (or of the point's size entry) and names the point.
[[noreturn]] void rethrow_for_point(const Error& e, const SweepPoint& p, const SizeSpec& size, const VariantSpec& var,
                                    const std::vector<Override>& overrides, const std::string& source) {
  const std::string msg = e.what();
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const std::string prefix = "--set " + it->assignment;
    if (msg.rfind(prefix, 0) == 0)
      throw Error(e.kind(), it->where + ": '" + it->assignment + "'" + msg.substr(prefix.size()) + " (sweep point " + p.id + ")");
  }
  throw Error(e.kind(), size.where + ": sweep point " + p.id + " (size '" + size.name + "', variant '" + var.name + "' at " +
                            var.where + "): " + msg + " [sweep file " + source + "]");
}

// Keys the sweep itself sets for every point (after the user's overrides, which it would silently
// replace): refused in `set:` (sweep, size or variant) and in `sweep plan --set`.
void refuse_sweep_controlled(const Override& o, const SweepSpec& spec) {
  const std::string key = o.assignment.substr(0, o.assignment.find('='));
  // A whole section as a map (`train={seed: 5}`) merges key by key: check the keys it names.
  if (key == "train" || key == "name") {
    const std::string value = o.assignment.substr(std::min(o.assignment.size(), key.size() + 1));
    for (const char* k : {"steps", "budget_flops", "seed", "ckpt_every", "warmup_budget_flops"}) {
      const std::regex named(std::string("(^|[{,\\s])") + k + "\\s*:");
      if (key == "train" && std::regex_search(value, named))
        refuse_sweep_controlled({std::string("train.") + k + "=(in " + o.assignment + ")", o.where}, spec);
    }
  }
  const char* how = key == "train.budget_flops" || key == "train.steps" ? "its budgets list (a point's steps follow from its budget)"
                    : key == "train.seed"                               ? "its seeds list"
                    : key == "train.ckpt_every"                         ? "checkpoint_every"
                    : key == "name"                                     ? "the sweep's name and the point id"
                    : key == "train.warmup_budget_flops" && spec.warmup_from_smallest
                        ? "warmup_budget: smallest (set warmup_budget: none to use the base's warm-up)"
                        : nullptr;
  if (how)
    fail_input(o.where, ": '", o.assignment, "': the sweep sets ", key, " of every point from ", how,
               ", so this value would be replaced. Hint: remove it; use the sweep key instead.");
}

}  // namespace

std::string point_dir(const std::string& dir, const SweepPoint& p) { return (fs::path(dir) / "points" / p.id).string(); }

SweepPlan resolve_plan(const SweepSpec& spec) {
  SweepPlan plan;
  plan.name = spec.name;
  plan.sweep_file = spec.source;
  double smallest = spec.budgets.front().flops;
  for (const auto& b : spec.budgets) smallest = std::min(smallest, b.flops);
  std::map<std::string, std::string> labels;  // label -> where (two budgets must not share an id)
  std::map<std::string, data::Manifest> manifests;
  uint64_t h = 1469598103934665603ull;
  for (const auto& b : spec.budgets) {
    const std::string label = budget_label(b.flops);
    if (auto [it, fresh] = labels.emplace(label, b.where); !fresh)
      fail_input(b.where, ": budget ", shortest(b.flops), " has the same 3-digit label ", label, " as the budget at ", it->second,
                 ". Hint: make budgets differ in their first three digits.");
    for (size_t si = 0; si < spec.seeds.size(); ++si)
      for (const auto& size : spec.sizes)
        for (const auto& var : spec.variants) {
          SweepPoint p;
          p.budget = b.flops;
          p.budget_label = label;
          p.size = size.name;
          p.variant = var.name;
          p.variant_kind = var.kind;
          p.seed = spec.seeds[si];
          p.id = label + "-" + size.name + "-" + var.name + "-s" + std::to_string(p.seed);
          std::vector<Override> ovs = spec.set;
          ovs.insert(ovs.end(), size.set.begin(), size.set.end());
          ovs.insert(ovs.end(), var.set.begin(), var.set.end());
          for (const Override& o : ovs) refuse_sweep_controlled(o, spec);
          ovs.push_back({"train.budget_flops=" + shortest(b.flops), b.where});
          ovs.push_back({"train.steps=0", b.where});
          ovs.push_back({"train.seed=" + std::to_string(p.seed), spec.seed_where[si]});
          if (spec.warmup_from_smallest) ovs.push_back({"train.warmup_budget_flops=" + shortest(smallest), spec.source});
          ovs.push_back({"name=" + spec.name + "-" + p.id, spec.source});
          std::vector<std::string> assignments;
          for (const auto& o : ovs) assignments.push_back(o.assignment);
          const std::string base = size.config.empty() ? spec.base : size.config;
          LoadedConfig lc;
          try {
            lc = load_config(base, assignments);
          } catch (const Error& e) {
            rethrow_for_point(e, p, size, var, ovs, spec.source);
          }
          Config& c = lc.config;
          const TrainConfig& t = c.train;
          p.flops_per_token = budget_flops_per_token(c.model, t.seq_len);
          p.tokens_per_step = t.micro_batch * t.grad_accum * t.seq_len;
          p.micro_batch = t.micro_batch;
          p.tp = c.dist.tp;
          const double steps_exact = b.flops / p.flops_per_token / double(p.tokens_per_step);
          if (steps_exact < 1)
            fail_input(b.where, ": budget ", shortest(b.flops), " buys ", steps_exact, " steps of sweep point ", p.id,
                       ": one step of ", p.tokens_per_step, " tokens costs ", p.flops_per_token * double(p.tokens_per_step),
                       " FLOPs (MOR.md 6). Hint: raise the budget above that, or use a smaller size/batch.");
          LrSchedule schedule;
          try {
            p.steps = resolve_total_steps(lc);
            schedule = make_schedule(c, p.steps);
            check_schedule_fits(schedule, lc);
          } catch (const Error& e) {
            rethrow_for_point(e, p, size, var, ovs, spec.source);
          }
          p.warmup_steps = schedule.warmup_steps;
          p.tokens = p.steps * p.tokens_per_step;
          p.unique_params = unique_params(c.model, true);
          p.non_embedding_params = unique_params(c.model, false);
          p.num_recursions = c.model.recursion.num_recursions;
          p.ckpt_every = spec.checkpoint_every > 0 ? spec.checkpoint_every : std::max<int64_t>(1, (p.steps + 9) / 10);
          c.train.ckpt_every = p.ckpt_every;
          c.data.path = fs::absolute(c.data.path).lexically_normal().string();
          // The train split must hold the point's tokens max_epochs times over.
          auto mit = manifests.find(c.data.path);
          if (mit == manifests.end()) {
            const std::string mpath = (fs::path(c.data.path) / "manifest.json").string();
            if (!fs::exists(mpath))
              fail_input(size.where, ": sweep point ", p.id, ": data.path ", c.data.path,
                         " holds no dataset (no manifest.json). Hint: prepare it first (bash launch/prepare_default_corpus.sh), "
                         "or fix data.path in ", base, " or the sweep's set.");
            mit = manifests.emplace(c.data.path, data::read_manifest(mpath)).first;
          }
          const double epochs = double(p.tokens) / double(std::max<uint64_t>(mit->second.train.tokens, 1));
          if (epochs > spec.max_epochs)
            fail_input(spec.max_epochs_where.empty() ? b.where : spec.max_epochs_where, ": sweep point ", p.id, " trains ",
                       p.tokens, " tokens, ", epochs, " passes over the ", mit->second.train.tokens, "-token train split of ",
                       c.data.path, " (max_epochs ", spec.max_epochs, "). Hint: lower the budget, use a larger size, or raise max_epochs.");
          p.config_yaml = dump_config(c);
          h = fnv1a(p.id + "\n" + p.config_yaml, h);
          plan.points.push_back(std::move(p));
        }
  }
  char fp[32];
  std::snprintf(fp, sizeof fp, "%016llx", (unsigned long long)h);
  plan.fingerprint = fp;
  return plan;
}

namespace {

void write_plan_json(const std::string& dir, const SweepPlan& plan) {
  json j = {{"format", "mor-sweep-plan"}, {"version", 1}, {"name", plan.name}, {"sweep_file", plan.sweep_file},
            {"fingerprint", plan.fingerprint}, {"jobs", plan.jobs}, {"threads", plan.threads}, {"points", json::array()}};
  for (const auto& p : plan.points) j["points"].push_back(p);
  write_file_atomically((fs::path(dir) / "plan.json").string(), j.dump(1) + "\n");
}

// Times each distinct (size, variant) shape with `mor bench train` as a child process; the step time
// applies to every budget and seed of that shape.
void benchmark_shapes(const std::string& dir, SweepPlan& plan, int64_t steps) {
  fs::create_directories(fs::path(dir) / "bench");
  std::map<std::string, double> seconds;
  const std::string mor = self_executable();
  for (auto& p : plan.points) {
    const std::string shape = p.size + "-" + p.variant;
    if (!seconds.count(shape)) {
      const std::string log = (fs::path(dir) / "bench" / (shape + ".json")).string();
      fs::remove(log);
      ChildSpec cs{{mor, "bench", "train", "--config", point_dir(dir, p) + "/config.yaml", "--steps", std::to_string(steps),
                    "--threads", std::to_string(plan.threads), "--json"},
                   {{"OMP_NUM_THREADS", std::to_string(plan.threads)}},
                   log};
      const int rc = wait_child(spawn_child(cs));
      double s = 0;
      std::ifstream f(log);
      for (std::string line; std::getline(f, line);)
        if (!line.empty() && line[0] == '{') s = json::parse(line, nullptr, false).value("step_s_median", 0.0);
      if (rc != 0 || s <= 0)
        fail_internal("the benchmark of ", shape, " failed (exit ", rc, "); see ", log, ". Hint: `mor sweep plan --bench-steps 0` skips it.");
      std::printf("bench %-28s %.3f s/step (%lld thread%s)\n", shape.c_str(), s, (long long)plan.threads,
                  plan.threads == 1 ? "" : "s");
      std::fflush(stdout);
      seconds[shape] = s;
    }
    p.step_seconds = seconds[shape];
  }
}

}  // namespace

SweepPlan read_plan(const std::string& dir) {
  const fs::path path = fs::path(dir) / "plan.json";
  if (!fs::exists(path)) fail_input(dir, ": holds no sweep plan (plan.json). Hint: run `mor sweep plan SWEEP.yaml --out ", dir, "` first.");
  const char* replan = " Hint: re-plan the sweep (`mor sweep plan SWEEP.yaml --out DIR`) into a new directory; finished "
                       "points' run directories (points/ID) can be copied over.";
  json j = json::parse(read_text(path), nullptr, false);
  if (j.is_discarded()) fail_input(path.string(), ": not valid JSON (truncated or edited?).", replan);
  const auto is = [&j](const char* key, const json& want) { return j.contains(key) && j[key] == want; };
  if (!j.is_object() || !is("format", "mor-sweep-plan") || !is("version", 1))
    fail_input(path.string(), ": not a sweep plan this version reads (format mor-sweep-plan, version 1).", replan);
  SweepPlan plan;
  try {
    plan.name = j.value("name", "");
    plan.sweep_file = j.value("sweep_file", "");
    plan.fingerprint = j.value("fingerprint", "");
    plan.jobs = j.value("jobs", int64_t(1));
    plan.threads = j.value("threads", int64_t(1));
    if (!j.contains("points") || !j["points"].is_array() || j["points"].empty())
      fail_input(path.string(), ": holds no points (a plan has at least one).", replan);
    for (const auto& q : j["points"]) plan.points.push_back(q.get<SweepPoint>());  // missing fields keep their defaults
  } catch (const json::exception& e) {
    fail_input(path.string(), ": a value has the wrong type (", e.what(), ").", replan);
  }
  return plan;
}

std::string plan_table(const SweepPlan& plan) {
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "%-34s %-12s %-8s %9s %9s %10s %9s %6s %9s\n", "point", "variant", "size", "params",
                "non-emb", "FLOPs/tok", "tokens", "steps", "est.");
  os << line;
  double total = 0;
  int64_t steps = 0;
  for (const auto& p : plan.points) {
    std::snprintf(line, sizeof line, "%-34s %-12s %-8s %9s %9s %10s %9s %6lld %9s\n", p.id.c_str(), p.variant.c_str(),
                  p.size.c_str(), format_si(double(p.unique_params), 2).c_str(), format_si(double(p.non_embedding_params), 2).c_str(),
                  format_si(p.flops_per_token, 2).c_str(), format_si(double(p.tokens), 2).c_str(), (long long)p.steps,
                  p.step_seconds > 0 ? format_duration(p.est_seconds()).c_str() : "-");
    os << line;
    total += p.est_seconds();
    steps += p.steps;
  }
  os << plan.points.size() << " points, " << steps << " steps";
  if (total > 0)
    os << ", estimated " << format_duration(total) << " of training at " << plan.threads << " thread(s) per point; with --jobs "
       << plan.jobs << ": about " << format_duration(total / double(plan.jobs)) << " (training steps only, from `mor bench train`)";
  os << "\n";
  return os.str();
}

int run_sweep_plan(const PlanOptions& o) {
  SweepSpec spec = load_sweep(o.sweep_file);
  for (const auto& a : o.set) spec.set.push_back({a, "--set " + a});
  SweepPlan plan = resolve_plan(spec);
  plan.jobs = o.jobs;
  plan.threads = std::max<int64_t>(1, available_cpus() / o.jobs);
  const fs::path dir = o.out;
  if (fs::exists(dir / "plan.json")) {
    const SweepPlan old = read_plan(o.out);
    if (old.fingerprint != plan.fingerprint)
      fail_input(o.out, ": holds a different sweep plan (", old.points.size(), " points from ", old.sweep_file,
                 ", fingerprint ", old.fingerprint, "; this one: ", plan.points.size(), " points, ", plan.fingerprint,
                 "). Hint: plan into another --out, or delete ", o.out, " if its runs are not needed.");
    std::printf("%s: plan unchanged (%zu points); nothing rewritten\n%s", o.out.c_str(), old.points.size(), plan_table(old).c_str());
    return 0;
  }
  if (fs::exists(dir) && (!fs::is_directory(dir) || !fs::is_empty(dir)))
    fail_input(o.out, ": exists and is not an empty directory, nor a sweep plan. Hint: pick a new --out.");
  fs::create_directories(dir);
  PathLock lock = PathLock::acquire((dir / ".sweep.lock").string(), "sweep directory " + o.out);
  try {
    fs::copy_file(o.sweep_file, dir / "sweep.yaml", fs::copy_options::overwrite_existing);
    for (const auto& p : plan.points) {
      fs::create_directories(point_dir(o.out, p));
      write_file_atomically(point_dir(o.out, p) + "/config.yaml", p.config_yaml);
    }
    if (o.bench_steps > 0) benchmark_shapes(o.out, plan, o.bench_steps);
    write_plan_json(o.out, plan);
  } catch (...) {
    lock.release();
    std::error_code ec;
    fs::remove_all(dir, ec);  // a half-written plan would block the next `mor sweep plan`
    throw;
  }
  std::printf("%s", plan_table(plan).c_str());
  std::printf("plan written to %s (run it: mor sweep run %s --jobs %lld)\n", o.out.c_str(), o.out.c_str(), (long long)o.jobs);
  return 0;
}

}  // namespace mor::sweep
