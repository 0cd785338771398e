// `mor sweep plan`: resolves a sweep file into one run directory per grid point
// (DIR/points/ID/config.yaml, the fully resolved config), checks every point (a budget below one
// step, a point needing more than max_epochs passes over the train split, any config error, all
// named `sweep.yaml:line:col`), estimates wall time from a short `mor bench train` of each
// shape, prints the table and writes DIR/plan.json. A DIR holding a different plan is refused.
//
// DIR layout:  plan.json  sweep.yaml (copy)  points/ID/{config.yaml, train.log, metrics.jsonl,
//              summary.json (when finished), exit_code (last run's exit status)}  bench/*.json
// Point ids: BUDGET-SIZE-VARIANT-sSEED, e.g. 2e11-d64-mor-e3-s1; points are ordered by budget,
// seed, size, variant (a sweep run finishes whole budgets first).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sweep_spec.h"

namespace mor::sweep {

struct SweepPoint {
  std::string id, budget_label, size, variant, variant_kind;
  double budget = 0;
  int64_t seed = 0;
  std::string config_yaml;  // resolved config text (dump_config)
  int64_t steps = 0, warmup_steps = -1, tokens = 0, tokens_per_step = 0, micro_batch = 0, ckpt_every = 0;
  double flops_per_token = 0;
  int64_t unique_params = 0, non_embedding_params = 0;
  int64_t num_recursions = 1;
  int64_t tp = 1;           // dist.tp: ranks per tensor-parallel group (a run on R ranks has R / tp data-parallel ones)
  double step_seconds = 0;  // measured by the plan's benchmark (0: not measured)
  double est_seconds() const { return step_seconds * double(steps); }
};

struct SweepPlan {
  std::string name, sweep_file;
  std::string fingerprint;  // of every point's id and resolved config
  int64_t jobs = 1, threads = 1;  // the layout the estimates were measured for
  std::vector<SweepPoint> points;
};

// Resolves the grid (throws BadInput naming the sweep file position of a bad point).
SweepPlan resolve_plan(const SweepSpec& spec);

struct PlanOptions {
  std::string sweep_file, out;
  std::vector<std::string> set;  // --set overrides for every point (after the sweep file's `set`)
  int64_t jobs = 1;
  int64_t bench_steps = 2;  // timed steps per shape; 0: no benchmark (no time estimates)
};
int run_sweep_plan(const PlanOptions& o);

// DIR/plan.json as written by `mor sweep plan` (throws BadInput when DIR holds none).
SweepPlan read_plan(const std::string& dir);
std::string point_dir(const std::string& dir, const SweepPoint& p);
// The plan table (what `mor sweep plan` prints).
std::string plan_table(const SweepPlan& plan);

}  // namespace mor::sweep
