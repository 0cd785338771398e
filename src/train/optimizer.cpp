// AdamW; see optimizer.h.
#include "optimizer.h"

#include <algorithm>
#include <cmath>

#include "src/autodiff/dispatch.h"
#include "src/autodiff/profiler.h"

namespace mor {

AdamW::AdamW(ParamTable& params, const TrainConfig& cfg, int64_t shard_begin, int64_t shard_end)
    : params_(params), cfg_(cfg), lo_(shard_begin), hi_(shard_end < 0 ? params.total_numel() : shard_end) {
  MOR_CHECK(params.finalized(), "AdamW needs a finalized parameter table");
  MOR_CHECK(0 <= lo_ && lo_ <= hi_ && hi_ <= params.total_numel(), "bad optimizer shard [", lo_, ", ", hi_, ")");
  const Device dev = params.values().device();  // the moments live with the master weights
  m_ = Tensor::zeros({hi_ - lo_}, DType::F32, dev);
  v_ = Tensor::zeros({hi_ - lo_}, DType::F32, dev);
}

double AdamW::shard_grad_sum_squares(const std::string& group, Part part) const {
  return grad_sum_squares(group, part, lo_, hi_);
}

double AdamW::grad_norm(const std::string& group) const {
  MOR_PROFILE_FORWARD("optimizer.grad_norm");
  return std::sqrt(grad_sum_squares(group, Part::All, 0, params_.total_numel()));
}

double AdamW::grad_sum_squares(const std::string& group, Part part, int64_t lo, int64_t hi) const {
  double ss = 0;
  const Device dev = params_.grads().device();
  const float* g = params_.grads().ptr<float>();
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamSpec& s = params_.spec(int(i));
    if (!s.trainable || (!group.empty() && s.group != group)) continue;
    if (part != Part::All && params_.sharded(int(i)) != (part == Part::Split)) continue;
    const int64_t a = std::max(lo, params_.offset(int(i))), b = std::min(hi, params_.offset(int(i)) + params_.numel(int(i)));
    if (a < b) ss += MOR_RUN_TABLE("grad_norm", dev, sum_squares, b - a, g + a);
  }
  return ss;
}

double AdamW::step(double lr, double norm, double clip, const std::string& group) {
  MOR_PROFILE_FORWARD("optimizer.adamw");
  const int64_t t = ++t_[group];
  const double coef = (clip > 0 && norm > clip) ? clip / (norm + 1e-6) : 1.0;
  const Device dev = params_.values().device();
  float* p = params_.values().ptr<float>();
  const float* g = params_.grads().ptr<float>();
  float* m = m_.ptr<float>();
  float* v = v_.ptr<float>();
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamSpec& s = params_.spec(int(i));
    if (!s.trainable || (!group.empty() && s.group != group)) continue;
    auto it = lr_mult_.find(s.group);
    kernels::AdamWArgs a;
    a.lr = float(lr * (it == lr_mult_.end() ? 1.0 : it->second));
    a.beta1 = float(cfg_.beta1);
    a.beta2 = float(cfg_.beta2);
    a.eps = float(cfg_.eps);
    a.weight_decay = s.weight_decay ? float(cfg_.weight_decay) : 0.0f;
    a.bias_correction1 = float(1.0 - std::pow(cfg_.beta1, double(t)));
    a.bias_correction2 = float(1.0 - std::pow(cfg_.beta2, double(t)));
    a.grad_scale = float(coef);
    const int64_t a0 = std::max(lo_, params_.offset(int(i))), a1 = std::min(hi_, params_.offset(int(i)) + params_.numel(int(i)));
    if (a0 < a1) MOR_RUN_TABLE("adamw", dev, adamw_update, a1 - a0, p + a0, g + a0, m + (a0 - lo_), v + (a0 - lo_), a);
  }
  return coef;
}

}  // namespace mor
