// The inference engine (MOR.md section 8): a request queue, a scheduler with a maximum batch and a
// KV memory budget, static paged KV caches (kv_cache.h), and the model's own layer code and router
// run over the rows in flight.
//
// Every sequence has one group of rows in flight at a time (one new token, or a chunk of at most
// max_batch prompt tokens), and a group moves through two phases:
//   non-block  exits: last unshared layer, final norm, LM head, sampling (then the next token's
//              group is made); entries: embedding, first unshared layer (token-choice routers
//              pick each row's depth here);
//   block      one recursion step (the B shared layers) for the group's rows still recursing.
// A block batch takes groups in arrival order, whatever their depth: rows at different
// recursion depths run the same shared layers in one call, each attending to its own cache
// (continuous depth-wise batching). Expert-choice rows continue by the causal threshold rule
// (MOR.md 3.7), token-choice rows by their depth; rows that stop wait for the non-block phase,
// which runs once `nonblock_min` rows are ready or nothing else can run. A finished sequence's
// slot is refilled from the queue at once. Vanilla and Recursive models take the same path with
// every row running every step: continuous sequence-wise batching.
//
// KV memory: caches take pages from the pool as they grow. Before a batch runs, the pages its
// appends need are reserved; when the pool is short, groups wait, and if even the oldest group
// cannot run, the youngest other sequence is preempted (its pages freed; it restarts later by
// re-reading its prompt and the tokens it has produced, which are not streamed again). A request
// that alone needs more than the pool is refused with a message, never a crash.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "kv_cache.h"
#include "sampling.h"
#include "scheduler.h"
#include "src/model/model.h"

namespace mor {

struct EngineOptions {
  int64_t max_batch = 32;         // rows per phase and sequences running at once
  int64_t kv_budget_bytes = 0;    // KV pool size (> 0; rounded down to whole pages)
  int64_t page_tokens = 16;       // rows per KV page
  int64_t nonblock_min = 0;       // ready rows that start the non-block phase (0: max_batch / 2)
};

struct Request {
  std::vector<int32_t> prompt;    // at least one token
  int64_t max_new_tokens = 64;
  SamplingParams sampling;
  int32_t stop_token = -1;        // generation stops after emitting it
  // Called with each new token as soon as it is sampled (streaming); the stop token is passed too.
  std::function<void(int32_t)> on_token;
};

struct Completion {
  std::vector<int32_t> tokens;    // generated tokens (the stop token included when emitted)
  bool done = false;
  std::string error;              // set when the request was refused (tokens: what came before)
  int64_t preemptions = 0;
};

struct EngineStats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  int64_t fed_tokens = 0;               // tokens that entered the model (a preempted one's again)
  int64_t peak_running = 0;             // most sequences running at once
  double block_seconds = 0, nonblock_seconds = 0;
  int64_t block_batches = 0, nonblock_batches = 0;
  int64_t block_rows = 0;               // rows over all block batches (occupancy numerator)
  int64_t mixed_depth_batches = 0;      // block batches whose rows were at more than one depth
  int64_t running_sum = 0;              // running sequences summed over block batches
  std::vector<int64_t> tokens_per_step; // rows that ran each recursion step
  int64_t cache_rows = 0;               // K/V rows appended over all layers
  int64_t preemptions = 0, refused = 0;
  double mean_block_occupancy(int64_t max_batch) const {
    return block_batches ? double(block_rows) / double(block_batches * max_batch) : 0.0;
  }
  double mean_running() const { return block_batches ? double(running_sum) / double(block_batches) : 0.0; }
};

class Engine {
 public:
  Engine(const Model& model, const EngineOptions& options);
  ~Engine();
  // Queues a request; returns its id. One that can never fit is refused at once (completion().error).
  int64_t submit(Request r);
  // Runs until every submitted request has completed.
  void run();
  const Completion& completion(int64_t id) const { return completions_[size_t(id)]; }
  const EngineStats& stats() const { return stats_; }
  const KvPool& pool() const { return pool_; }
  const KvEstimate& estimate() const { return estimate_; }
  const EngineOptions& options() const { return opt_; }

 private:
  struct Seq;
  struct Group;
  void admit();
  void block_phase();
  void nonblock_phase();
  bool reserve(const std::vector<std::pair<Seq*, std::vector<std::pair<int64_t, int64_t>>>>& needs);
  bool make_room(Seq* keep);
  void finish(Seq* s, const std::string& error);
  void preempt(Seq* s);
  void new_entry(Seq* s);
  int64_t rows(const std::list<std::unique_ptr<Group>>& l) const;

  const Model& model_;
  EngineOptions opt_;
  CacheMap map_;
  KvPool pool_;
  KvEstimate estimate_;
  Scheduler sched_;
  std::vector<Request> requests_;
  std::vector<Completion> completions_;
  std::vector<std::unique_ptr<Seq>> seqs_;    // by request id (null once finished)
  std::list<std::unique_ptr<Group>> entry_, block_, exit_;
  int64_t admitted_ = 0;
  EngineStats stats_;
};

}  // namespace mor
