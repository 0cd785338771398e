// The divergence guard: judges every optimizer step's loss and gradient norm before the update is
// applied, against exponential moving averages of the recent healthy steps.
//   non-finite loss or gradient norm  -> always fatal: the run stops before anything is saved
//   loss > loss_spike x EMA(loss)      -> a spike   (after `warmup` healthy steps of history)
//   gnorm > grad_spike x EMA(gnorm)    -> a spike
// What a spike does is train.guard.action: warn (apply the step, say so), skip (do not apply the
// update; the batch is consumed) or stop (end the run). Whatever the action, a checkpoint snapshot
// is published only when the step after it is healthy: its weights produced that step's loss.
// Spiking steps do not enter the averages, so a loss that stays exploded keeps being flagged.
#pragma once
#include <cstdint>
#include <string>

#include "src/config/config.h"

namespace mor {

enum class StepHealth { Healthy, Spike, NonFinite };

struct Judgement {
  StepHealth health = StepHealth::Healthy;
  double loss_ratio = 0;  // loss / EMA(loss) (0 while there is no history)
  double grad_ratio = 0;  // gnorm / EMA(gnorm)
  std::string what;       // "loss 25.3 is 4.1x its recent mean 6.17" ("" when healthy)
};

struct GuardHistory {
  double loss_ema = 0, grad_ema = 0;
  int64_t steps = 0;  // healthy steps seen
};

class DivergenceGuard {
 public:
  explicit DivergenceGuard(const GuardConfig& cfg) : cfg_(cfg) {}
  Judgement judge(double loss, double grad_norm) const;
  // Folds a step into the averages (only healthy steps are folded).
  void record(double loss, double grad_norm, const Judgement& j);
  const GuardHistory& history() const { return h_; }
  void set_history(const GuardHistory& h) { h_ = h; }
  const GuardConfig& config() const { return cfg_; }

 private:
  GuardConfig cfg_;
  GuardHistory h_;
};

}  // namespace mor
