// LR schedules; see schedule.h. HF conventions: warm-up lr = lr * (step / w) for step < w, so the
// very first update has lr 0 when w > 0; wsd decay follows step / total with decay over the last
// d steps: lr * max(0, (total - step) / d) floored at min_ratio.
#include "schedule.h"

#include <algorithm>
#include <cmath>

#include "src/config/config.h"
#include "src/core/error.h"
#include "src/model/flops.h"

namespace mor {

double LrSchedule::lr_at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * double(step) / double(warmup_steps);
  const double floor = lr * min_ratio;
  if (kind == "constant") return lr;
  if (kind == "cosine") {
    const double span = double(std::max<int64_t>(1, total_steps - warmup_steps));
    const double p = std::clamp(double(step - warmup_steps) / span, 0.0, 1.0);
    return floor + (lr - floor) * 0.5 * (1.0 + std::cos(M_PI * p));
  }
  // wsd
  const int64_t decay_start = total_steps - decay_steps;
  if (decay_steps <= 0 || step < decay_start) return lr;
  const double p = double(total_steps - step) / double(decay_steps);  // 1 -> 0
  return floor + (lr - floor) * std::clamp(p, 0.0, 1.0);
}

double global_tokens_per_step(const TrainConfig& t, int64_t dp) {
  return double(t.micro_batch * t.grad_accum * t.seq_len) * double(std::max<int64_t>(dp, 1));
}

LrSchedule make_schedule(const Config& c, int64_t total_steps, int64_t dp) {
  const TrainConfig& t = c.train;
  LrSchedule s;
  s.kind = t.schedule;
  s.lr = t.lr;
  s.total_steps = std::max<int64_t>(1, total_steps);
  double warmup_base = double(total_steps);
  if (t.warmup_budget_flops > 0)
    warmup_base = t.warmup_budget_flops / budget_flops_per_token(c.model, t.seq_len) / global_tokens_per_step(t, dp);
  s.warmup_steps = t.warmup_steps >= 0 ? t.warmup_steps : int64_t(std::llround(t.warmup_frac * warmup_base));
  s.decay_steps = int64_t(std::llround(t.decay_frac * double(total_steps)));
  s.min_ratio = t.min_lr_ratio;
  return s;
}

void check_schedule_fits(const LrSchedule& s, const LoadedConfig& lc) {
  const TrainConfig& t = lc.config.train;
  if (s.warmup_steps <= 0) return;
  const int64_t decay = s.kind == "wsd" ? s.decay_steps : 0;
  // lr_at(w) is the first step at train.lr; with a decay it may be the decay's first step.
  if (decay > 0 ? s.warmup_steps + decay <= s.total_steps : s.warmup_steps < s.total_steps) return;
  const std::string key = t.warmup_steps >= 0           ? "train.warmup_steps"
                          : t.warmup_budget_flops > 0 ? "train.warmup_budget_flops"
                                                      : "train.warmup_frac";
  const auto steps = [](int64_t n) { return std::to_string(n) + (n == 1 ? " step" : " steps"); };
  const char* hint = key == "train.warmup_steps"          ? "lower train.warmup_steps (-1: train.warmup_frac of the steps), or train longer."
                     : key == "train.warmup_budget_flops" ? "lower train.warmup_budget_flops, or train longer (train.budget_flops or train.steps)."
                                                          : "lower train.warmup_frac or train.decay_frac (rounded to whole steps they overlap), or train longer.";
  fail_input(lc.where(key), ": the warm-up of ", steps(s.warmup_steps), " (", key,
             ") does not fit the run's ", steps(s.total_steps),
             decay > 0 ? " together with the final decay of " + steps(decay) + " (train.decay_frac)" : std::string(),
             ", so the learning rate would never reach train.lr. Hint: ", hint);
}

}  // namespace mor
