// The divergence guard; see divergence_guard.h.
#include "divergence_guard.h"

#include <cmath>
#include <cstdio>

namespace mor {
namespace {
constexpr double kEmaWeight = 0.05;  // ~20 steps of memory
std::string describe(const char* what, double v, double ratio, double mean) {
  char b[160];
  std::snprintf(b, sizeof b, "%s %.4g is %.1fx its recent mean %.4g", what, v, ratio, mean);
  return b;
}
}  // namespace

Judgement DivergenceGuard::judge(double loss, double grad_norm) const {
  Judgement j;
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    j.health = StepHealth::NonFinite;
    char b[160];
    std::snprintf(b, sizeof b, "loss %g, gradient norm %g: not finite", loss, grad_norm);
    j.what = b;
    return j;
  }
  if (h_.steps == 0) return j;
  j.loss_ratio = h_.loss_ema > 0 ? loss / h_.loss_ema : 0;
  j.grad_ratio = h_.grad_ema > 0 ? grad_norm / h_.grad_ema : 0;
  if (h_.steps < cfg_.warmup) return j;
  if (cfg_.loss_spike > 0 && j.loss_ratio > cfg_.loss_spike) {
    j.health = StepHealth::Spike;
    j.what = describe("loss", loss, j.loss_ratio, h_.loss_ema);
  } else if (cfg_.grad_spike > 0 && j.grad_ratio > cfg_.grad_spike) {
    j.health = StepHealth::Spike;
    j.what = describe("gradient norm", grad_norm, j.grad_ratio, h_.grad_ema);
  }
  return j;
}

void DivergenceGuard::record(double loss, double grad_norm, const Judgement& j) {
  if (j.health != StepHealth::Healthy) return;
  if (h_.steps == 0) {
    h_.loss_ema = loss;
    h_.grad_ema = grad_norm;
  } else {
    h_.loss_ema += kEmaWeight * (loss - h_.loss_ema);
    h_.grad_ema += kEmaWeight * (grad_norm - h_.grad_ema);
  }
  ++h_.steps;
}

}  // namespace mor
