// A sweep file (configs/sweeps/*.yaml): a base config and the axes of a scaling-law grid (FLOP
// budgets x model sizes x variants x seeds), read into a SweepSpec. Every entry keeps its YAML
// position so that a refused point names `sweep.yaml:line:col`. Errors (BadInput, exit 2) come
// from the config loader's own YAML helpers (src/config/yaml_tree.h), so messages look alike.
//
//   name: isoflop-small
//   base: ../isoflop/vanilla.yaml          # relative to the sweep file
//   set: [train.seq_len=128]               # --set overrides for every point
//   budgets: [2.0e11, 4.0e11]              # train.budget_flops of each point (MOR.md 6)
//   sizes:                                 # width/depth keys, or `config:` (replaces base), + set
//     - {name: d64, d_model: 64, n_heads: 2, d_ff: 176}
//   variants:                              # kind: vanilla | recursive | mor_expert | mor_token
//     - {name: mor-e3, kind: mor_expert, num_recursions: 3, kv_mode: recursion, set: [...]}
//   seeds: [1, 2]
//   checkpoint_every: 0                    # steps; 0: a tenth of each point's steps
//   max_epochs: 1.0                        # refuse points that need more passes over train/
//   warmup_budget: smallest                # smallest | none (train.warmup_budget_flops, MOR.md 7)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mor::sweep {

// "key=value" in --set syntax and where in the sweep file it was written.
struct Override {
  std::string assignment;
  std::string where;  // "sweep.yaml:12:5"
};

struct SizeSpec {
  std::string name, where;
  std::string config;  // "" = the sweep's base; else a config path (resolved against the sweep file)
  std::vector<Override> set;  // d_model etc. become model.* overrides, then the size's own `set`
};

struct VariantSpec {
  std::string name, where;
  std::string kind;  // vanilla | recursive | mor_expert | mor_token
  std::vector<Override> set;  // the kind's model.* overrides, then the variant's own `set`
};

struct BudgetSpec {
  double flops = 0;
  std::string where;
};

struct SweepSpec {
  std::string source;  // the sweep file path as given
  std::string name;
  std::string base;    // resolved config path
  std::vector<Override> set;
  std::vector<BudgetSpec> budgets;
  std::vector<SizeSpec> sizes;
  std::vector<VariantSpec> variants;
  std::vector<int64_t> seeds;
  std::vector<std::string> seed_where;
  int64_t checkpoint_every = 0;
  double max_epochs = 1.0;
  std::string max_epochs_where;
  bool warmup_from_smallest = true;
};

// Reads and checks a sweep file (unknown keys, wrong types, empty or duplicate axes). Throws BadInput.
SweepSpec load_sweep(const std::string& path);

}  // namespace mor::sweep
