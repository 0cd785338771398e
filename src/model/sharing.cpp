// Sharing plan; see sharing.h.
#include "sharing.h"

#include "src/core/error.h"

namespace mor {

SharingPlan::SharingPlan(const std::string& strategy, int64_t n_layers, int64_t num_recursions)
    : strategy_(strategy), L_(n_layers), Nr_(num_recursions) {
  middle_ = strategy.rfind("middle", 0) == 0;
  const int64_t body = L_ - (middle_ ? 2 : 0);
  MOR_CHECK(Nr_ >= 1 && body >= Nr_ && body % Nr_ == 0, "sharing ", strategy, ": ", L_,
            " layers do not split into ", Nr_, " recursions");
  B_ = body / Nr_;
  map_.resize(size_t(L_));
  if (strategy == "none") {
    MOR_CHECK(Nr_ == 1, "sharing none needs num_recursions 1");
    for (int64_t l = 0; l < L_; ++l) map_[size_t(l)] = l;
    U_ = L_;
  } else if (strategy == "cycle") {
    for (int64_t l = 0; l < L_; ++l) map_[size_t(l)] = l % B_;
    U_ = B_;
  } else if (strategy == "sequence") {
    for (int64_t l = 0; l < L_; ++l) map_[size_t(l)] = l / Nr_;
    U_ = B_;
  } else if (strategy == "middle_cycle" || strategy == "middle_sequence") {
    map_[0] = 0;
    map_[size_t(L_ - 1)] = B_ + 1;
    for (int64_t l = 1; l < L_ - 1; ++l)
      map_[size_t(l)] = strategy == "middle_cycle" ? 1 + (l - 1) % B_ : 1 + (l - 1) / Nr_;
    U_ = B_ + 2;
  } else {
    fail_internal("unknown sharing strategy ", strategy);
  }
}

std::vector<int64_t> SharingPlan::step_layers(int64_t r) const {
  std::vector<int64_t> out;
  for (int64_t j = 0; j < B_; ++j) out.push_back(first_step_layer() + r * B_ + j);
  return out;
}

}  // namespace mor
