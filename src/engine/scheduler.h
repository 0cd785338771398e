// The engine's request queue and admission rule. Requests wait in FIFO order; the one at the
// front starts when a sequence slot is free (fewer than max_sequences running) and its expected
// KV pages fit in the pool pages not yet reserved by the running ones. Expected pages: for each
// layer cache, the share of the request's tokens expected to reach that layer (1 for the
// unshared layers and unrouted models, the capacity c_r for recursion r of a routed model with
// recursion-wise caching: MOR.md 5.3) times its prompt + max_new_tokens, in pages. A request whose
// expectation exceeds the whole pool can never start and is refused when submitted. Actual use can
// exceed the expectation (a causal router may send more tokens deep); the engine then preempts.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "kv_cache.h"
#include "src/model/model.h"

namespace mor {

// Expected KV rows per token and pages per request for one model.
class KvEstimate {
 public:
  KvEstimate(const Model& model, const CacheMap& map, int64_t page_tokens);
  // Expected cache rows (all layers) per token.
  double rows_per_token() const;
  // Expected pages for a sequence of `tokens` tokens.
  int64_t pages(int64_t tokens) const;

 private:
  std::vector<double> share_;  // per cache-owning layer: expected share of tokens reaching it
  int64_t page_tokens_;
};

class Scheduler {
 public:
  Scheduler(int64_t max_sequences, int64_t pool_pages) : max_seqs_(max_sequences), pool_pages_(pool_pages) {}
  // Queues request `id` expecting `pages` pages (at the back; front: a preempted one restarts first).
  void push(int64_t id, int64_t pages, bool front = false);
  bool empty() const { return queue_.empty(); }
  size_t waiting() const { return queue_.size(); }
  // The front request when it may start now (it is then running and its pages reserved).
  std::optional<int64_t> admit();
  // A running request ended or was preempted: its reservation returns.
  void release(int64_t id);
  int64_t running() const { return int64_t(reserved_.size()); }
  int64_t reserved_pages() const { return reserved_total_; }

 private:
  int64_t max_seqs_, pool_pages_;
  std::deque<std::pair<int64_t, int64_t>> queue_;  // (id, expected pages)
  std::map<int64_t, int64_t> reserved_;            // running id -> expected pages
  int64_t reserved_total_ = 0;
};

}  // namespace mor
