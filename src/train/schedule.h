// Learning-rate schedules (MOR.md section 7):
//   wsd      linear warm-up from 0 over w steps, plateau at lr, linear decay over the last
//            decay_frac x total steps to min_lr_ratio x lr (HF warmup_stable_decay, trapezoid)
//   cosine   linear warm-up, then cosine from lr to min_lr_ratio x lr at the last step
//   constant linear warm-up, then lr
#pragma once
#include <cstdint>
#include <string>

namespace mor {

struct LrSchedule {
  std::string kind = "wsd";
  double lr = 3e-3;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;  // wsd
  double min_ratio = 0.0;

  // Learning rate for optimizer step `step` (0-based: the first update uses lr_at(0)).
  double lr_at(int64_t step) const;
};

struct Config;
struct TrainConfig;
// Tokens one optimizer step consumes over all `dp` data-parallel ranks (train.micro_batch is per
// rank): micro_batch x grad_accum x seq_len x dp. Budgets in FLOPs convert to steps through it.
double global_tokens_per_step(const TrainConfig& t, int64_t dp);

// Builds the schedule for `total_steps` from the config: warm-up = train.warmup_steps, or
// warmup_frac x (total steps, or the steps train.warmup_budget_flops would take on `dp` ranks);
// decay = decay_frac x total steps.
LrSchedule make_schedule(const Config& c, int64_t total_steps, int64_t dp = 1);

struct LoadedConfig;
// Refuses (BadInput, naming where the key that set it was set) a warm-up that does not fit the run:
// as long as the run, or, under wsd, running into the final decay; the learning rate would never
// reach train.lr. Fractions summing to <= 1 can still overlap once rounded to whole steps.
void check_schedule_fits(const LrSchedule& s, const LoadedConfig& lc);

}  // namespace mor
