// Request queue and admission; see scheduler.h.
#include "scheduler.h"

#include <cmath>

namespace mor {

KvEstimate::KvEstimate(const Model& model, const CacheMap& map, int64_t page_tokens) : page_tokens_(page_tokens) {
  const SharingPlan& plan = model.plan();
  const RoutingSpec& rs = model.routing();
  std::vector<double> share(size_t(plan.effective_layers()), 1.0);
  if (rs.routed())
    for (int64_t r = 0; r < plan.num_recursions(); ++r)
      for (int64_t l : plan.step_layers(r)) share[size_t(l)] = rs.capacity[size_t(r)];
  for (int64_t l = 0; l < plan.effective_layers(); ++l)
    if (map.owns(l)) share_.push_back(share[size_t(l)]);
}

double KvEstimate::rows_per_token() const {
  double s = 0;
  for (double x : share_) s += x;
  return s;
}

int64_t KvEstimate::pages(int64_t tokens) const {
  int64_t p = 0;
  for (double x : share_) p += pages_for(int64_t(std::ceil(x * double(tokens))), page_tokens_);
  return p;
}

void Scheduler::push(int64_t id, int64_t pages, bool front) {
  if (front) queue_.emplace_front(id, pages);
  else queue_.emplace_back(id, pages);
}

std::optional<int64_t> Scheduler::admit() {
  if (queue_.empty() || running() >= max_seqs_) return std::nullopt;
  const auto [id, pages] = queue_.front();
  // A lone request may always start (it was checked against the whole pool when submitted).
  if (running() > 0 && reserved_total_ + pages > pool_pages_) return std::nullopt;
  queue_.pop_front();
  reserved_[id] = pages;
  reserved_total_ += pages;
  return id;
}

void Scheduler::release(int64_t id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return;
  reserved_total_ -= it->second;
  reserved_.erase(it);
}

}  // namespace mor
