// Subcommand implementations; see commands.h.
#include "commands.h"

#include <cstdio>

#include "src/model/flops.h"
#include "src/train/format.h"
#include "src/train/metrics.h"
#include "src/train/schedule.h"

namespace mor::cli {

int run_train(const TrainArgs& a) {
  LoadedConfig cfg = load_config(a.config, a.set);
  Trainer trainer(cfg, a.opts);
  return trainer.run();
}

int run_flops(const FlopsArgs& a) {
  LoadedConfig lc = load_config(a.config, a.set);
  const Config& c = lc.config;
  const TrainConfig& t = c.train;
  const double fpt = budget_flops_per_token(c.model, t.seq_len);
  const int64_t tokens_per_step = t.micro_batch * t.grad_accum * t.seq_len;
  const int64_t steps = resolve_total_steps(c);
  const LrSchedule sched = make_schedule(c, steps);
  const double tokens = t.budget_flops > 0 ? t.budget_flops / fpt : double(steps * tokens_per_step);
  MetricRecord r;
  r.strings["config"] = a.config;
  r.numbers["flops_per_token"] = fpt;
  r.numbers["train_flops_per_token"] = train_flops_per_token(c.model, t.seq_len);
  r.numbers["budget_flops"] = t.budget_flops;
  r.numbers["tokens"] = tokens;
  r.numbers["steps_exact"] = tokens / double(tokens_per_step);
  r.integers["steps"] = steps;
  r.integers["tokens_per_step"] = tokens_per_step;
  r.integers["warmup_steps"] = sched.warmup_steps;
  r.integers["decay_steps"] = sched.decay_steps;
  r.integers["unique_params"] = unique_params(c.model, true);
  r.integers["unique_params_non_embedding"] = unique_params(c.model, false);
  r.lists["capacities"] = step_capacities(c.model);
  if (a.json) {
    std::printf("%s\n", r.to_json().c_str());
    return 0;
  }
  std::printf("%s (%s)\n", c.name.c_str(), a.config.c_str());
  std::printf("  forward FLOPs/token (MOR.md 6): %.4e  (%s)\n", fpt, format_si(fpt, 2).c_str());
  std::printf("  training FLOPs/token (6N+12LTd): %s\n", format_si(r.numbers["train_flops_per_token"], 2).c_str());
  std::printf("  unique params: %s (non-embedding %s)\n", format_si(double(r.integers["unique_params"]), 2).c_str(),
              format_si(double(r.integers["unique_params_non_embedding"]), 2).c_str());
  if (t.budget_flops > 0)
    std::printf("  budget %.3e FLOPs -> %.4e tokens = %.2f steps of %lld tokens -> %lld steps\n", t.budget_flops, tokens,
                r.numbers["steps_exact"], (long long)tokens_per_step, (long long)steps);
  else
    std::printf("  %lld steps of %lld tokens = %.4e tokens = %.3e FLOPs\n", (long long)steps, (long long)tokens_per_step,
                tokens, tokens * fpt);
  std::printf("  schedule %s: warm-up %lld, decay %lld\n", t.schedule.c_str(), (long long)sched.warmup_steps,
              (long long)sched.decay_steps);
  return 0;
}

int run_config_keys() {
  std::printf("%s", describe_config_keys().c_str());
  return 0;
}

}  // namespace mor::cli
