// The inference engine; see engine.h.
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include "src/core/error.h"

namespace mor {

struct Engine::Seq {
  int64_t id = 0;
  std::vector<int32_t> tokens;  // prompt, then the generated tokens
  int64_t fed = 0;              // tokens that have entered the model (positions 0 .. fed-1)
  int64_t generated = 0;
  std::vector<SeqCache> caches;  // per effective layer (the owning ones are used)
  Sampler sampler;
  int64_t order = -1;           // admission order (-1: waiting); preemption takes the youngest
  Seq(int64_t i, const Request& r, int64_t layers) : id(i), tokens(r.prompt), caches(size_t(layers)), sampler(r.sampling) {}
};

// Rows of one sequence moving through the model together.
struct Engine::Group {
  Seq* seq = nullptr;
  std::vector<int32_t> ids;     // entry: the tokens to embed
  Tensor pos;                   // i32 [k] positions
  Tensor out;                   // [k, d] each row's output state
  std::vector<int32_t> active;  // rows still recursing (indices into the k rows)
  Tensor in;                    // [|active|, d] their input to step `depth`
  RouteRows route;              // their routing state (token-choice)
  int64_t depth = 0;            // the next recursion step
  bool last = false;            // its last row's logits give the next token
  int64_t k() const { return pos.numel(); }
};

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Rows of several [n_i, d] tensors one after another (on their device).
Tensor concat_rows(const std::vector<Tensor>& parts) {
  int64_t n = 0;
  for (const Tensor& t : parts) n += t.dim(0);
  const Tensor& f = parts.front();
  Tensor out = Tensor::empty({n, f.dim(1)}, f.dtype(), f.device());
  int64_t at = 0;
  for (const Tensor& t : parts) {
    out.view(at, t.shape()).copy_from(t);
    at += t.numel();
  }
  return out;
}

Tensor rows_of(const Tensor& t, const std::vector<int32_t>& idx) {
  return ad::gather_rows(ad::make_var(t), ad::i32_on(idx, t.device()))->value;
}

Tensor slice_rows(const Tensor& t, int64_t a, int64_t b) {
  std::vector<int32_t> idx;
  for (int64_t i = a; i < b; ++i) idx.push_back(int32_t(i));
  return rows_of(t, idx);
}

// One sequence per entry of `positions` (host offsets; positions uploaded to `device`).
ad::SeqLayout layout_of(const std::vector<std::vector<int32_t>>& positions, Device device) {
  ad::SeqLayout l;
  const int64_t S = int64_t(positions.size());
  l.offsets = Tensor::empty({S + 1}, DType::I64);
  std::vector<int32_t> all;
  int64_t* off = l.offsets.data<int64_t>();
  off[0] = 0;
  for (int64_t s = 0; s < S; ++s) {
    all.insert(all.end(), positions[size_t(s)].begin(), positions[size_t(s)].end());
    off[s + 1] = int64_t(all.size());
  }
  l.positions = ad::i32_on(all, device);
  return l;
}

std::vector<int32_t> positions_of(const Tensor& pos, const std::vector<int32_t>& rows) {
  std::vector<int32_t> p;
  for (int32_t r : rows) p.push_back(pos.data<int32_t>()[r]);
  return p;
}

std::vector<int32_t> iota_rows(int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t(i);
  return v;
}

}  // namespace

Engine::Engine(const Model& model, const EngineOptions& options)
    : model_(model),
      opt_(options),
      map_(model.plan(), model.routing().share_kv()),
      pool_([&] {
        if (model.tp_group())  // the engine's layers are unsharded: generation runs in one process
          fail_input("the inference engine needs a whole model. Hint: load the checkpoint without tensor parallelism "
                     "(mor generate runs in one process).");
        MOR_CHECK(options.max_batch >= 1 && options.page_tokens >= 1, "engine: max_batch and page_tokens must be >= 1");
        const LayerShape& s = model.layer_shape();
        const int64_t row = 2 * s.n_kv_heads * s.head_dim * int64_t(dtype_size(model.params().values().dtype())) + 4;
        const int64_t pages = options.kv_budget_bytes / (row * options.page_tokens);
        if (pages < 1)
          fail_input("KV budget ", options.kv_budget_bytes, " bytes is less than one page (", options.page_tokens,
                     " tokens x ", row, " bytes). Hint: raise the KV budget.");
        return KvPool(pages, options.page_tokens, s.n_kv_heads, s.head_dim, model.params().values().dtype(),
                      model.device());
      }()),
      estimate_(model, map_, options.page_tokens),
      sched_(options.max_batch, pool_.pages()) {
  if (opt_.nonblock_min <= 0) opt_.nonblock_min = std::max<int64_t>(1, opt_.max_batch / 2);
  stats_.tokens_per_step.assign(size_t(model.plan().num_recursions()), 0);
}

Engine::~Engine() = default;

int64_t Engine::submit(Request r) {
  const int64_t id = int64_t(requests_.size());
  completions_.emplace_back();
  seqs_.emplace_back();
  if (r.prompt.empty()) r.prompt.push_back(r.stop_token >= 0 ? r.stop_token : 0);
  for (int32_t t : r.prompt)
    if (t < 0 || t >= model_.config().vocab_size)
      fail_input("request ", id, ": token id ", t, " is outside the vocabulary [0, ", model_.config().vocab_size, ").");
  MOR_CHECK(r.max_new_tokens >= 1, "request ", id, ": max_new_tokens must be >= 1");
  requests_.push_back(std::move(r));
  const Request& q = requests_.back();
  const int64_t need = estimate_.pages(int64_t(q.prompt.size()) + q.max_new_tokens);
  if (need > pool_.pages()) {
    Completion& c = completions_.back();
    c.done = true;
    c.error = "request " + std::to_string(id) + " cannot fit: " + std::to_string(q.prompt.size()) + " prompt + " +
              std::to_string(q.max_new_tokens) + " new tokens need an expected " +
              std::to_string(need * pool_.page_tokens() * pool_.row_bytes()) + " bytes of KV cache, the budget holds " +
              std::to_string(pool_.bytes()) + ". Hint: raise the KV budget or lower max_new_tokens.";
    ++stats_.refused;
    return id;
  }
  seqs_.back() = std::make_unique<Seq>(id, q, model_.plan().effective_layers());
  sched_.push(id, need);
  stats_.prompt_tokens += int64_t(q.prompt.size());
  return id;
}

int64_t Engine::rows(const std::list<std::unique_ptr<Group>>& l) const {
  int64_t n = 0;
  for (const auto& g : l) n += g->k();
  return n;
}

void Engine::new_entry(Seq* s) {
  auto g = std::make_unique<Group>();
  g->seq = s;
  const int64_t k = std::min<int64_t>(opt_.max_batch, int64_t(s->tokens.size()) - s->fed);
  std::vector<int32_t> pos;
  for (int64_t i = 0; i < k; ++i) {
    g->ids.push_back(s->tokens[size_t(s->fed + i)]);
    pos.push_back(int32_t(s->fed + i));
  }
  s->fed += k;
  g->pos = Tensor::from_vector(pos, {k});
  g->last = s->fed == int64_t(s->tokens.size());
  entry_.push_back(std::move(g));
}

void Engine::admit() {
  while (auto id = sched_.admit()) {
    Seq* s = seqs_[size_t(*id)].get();
    s->order = admitted_++;
    new_entry(s);
  }
}

void Engine::run() {
  ad::NoGradScope no_grad;
  for (;;) {
    admit();
    if (entry_.empty() && block_.empty() && exit_.empty()) {
      if (sched_.empty()) return;
      fail_internal("engine: requests wait but none can start");
    }
    const int64_t ready = rows(entry_) + rows(exit_);
    if (!block_.empty() && ready < opt_.nonblock_min) block_phase();
    else nonblock_phase();
  }
}

// Pages for every (cache, rows) in `needs`, taken from the pool when they all fit.
bool Engine::reserve(const std::vector<std::pair<Seq*, std::vector<std::pair<int64_t, int64_t>>>>& needs) {
  int64_t want = 0;
  for (const auto& [s, list] : needs)
    for (const auto& [l, add] : list) {
      const SeqCache& c = s->caches[size_t(l)];
      want += pages_for(c.len + add, pool_.page_tokens()) - int64_t(c.pages.size());
    }
  if (want > pool_.free_pages()) return false;
  for (const auto& [s, list] : needs)
    for (const auto& [l, add] : list) {
      SeqCache& c = s->caches[size_t(l)];
      while (int64_t(c.pages.size()) < pages_for(c.len + add, pool_.page_tokens())) c.pages.push_back(pool_.take());
      stats_.cache_rows += add;
    }
  return true;
}

bool Engine::make_room(Seq* keep) {
  Seq* victim = nullptr;
  for (const auto& s : seqs_)
    if (s && s.get() != keep && s->order >= 0 && (!victim || s->order > victim->order)) victim = s.get();
  if (!victim) return false;
  preempt(victim);
  return true;
}

namespace {
template <typename G>
void drop_groups_of(std::list<std::unique_ptr<G>>& l, const void* seq) {
  l.remove_if([&](const std::unique_ptr<G>& g) { return static_cast<const void*>(g->seq) == seq; });
}
}  // namespace

void Engine::preempt(Seq* s) {
  drop_groups_of(entry_, s);
  drop_groups_of(block_, s);
  drop_groups_of(exit_, s);
  for (SeqCache& c : s->caches) {
    for (int64_t p : c.pages) pool_.give(p);
    c = SeqCache{};
  }
  s->fed = 0;
  s->order = -1;
  sched_.release(s->id);
  const Request& q = requests_[size_t(s->id)];
  const int64_t remaining = q.max_new_tokens - s->generated;
  sched_.push(s->id, estimate_.pages(int64_t(s->tokens.size()) + remaining), /*front=*/true);
  ++completions_[size_t(s->id)].preemptions;
  ++stats_.preemptions;
}

void Engine::finish(Seq* s, const std::string& error) {
  drop_groups_of(entry_, s);
  drop_groups_of(block_, s);
  drop_groups_of(exit_, s);
  for (SeqCache& c : s->caches)
    for (int64_t p : c.pages) pool_.give(p);
  sched_.release(s->id);
  Completion& c = completions_[size_t(s->id)];
  c.done = true;
  c.error = error;
  if (!error.empty()) ++stats_.refused;
  seqs_[size_t(s->id)].reset();
}

void Engine::nonblock_phase() {
  const auto t0 = Clock::now();
  const Device dev = model_.device();  // where the rows and index tensors live
  const SharingPlan& plan = model_.plan();
  const LayerShape& shape = model_.layer_shape();
  const int64_t L = plan.effective_layers();
  ++stats_.nonblock_batches;

  // Takes groups from the front of `from` (at most max_batch rows, at least one group) whose
  // appends to cache layer `layer` (-1: none) fit in the pool; preempts or refuses when even the
  // first does not.
  auto take = [&](std::list<std::unique_ptr<Group>>& from, int64_t layer) {
    std::vector<std::unique_ptr<Group>> batch;
    int64_t n = 0;
    while (!from.empty()) {
      Group& g = *from.front();
      if (!batch.empty() && n + g.k() > opt_.max_batch) break;
      if (layer >= 0 && !reserve({{g.seq, {{layer, g.k()}}}})) {
        if (!batch.empty()) break;
        if (make_room(g.seq)) continue;
        finish(g.seq, "request " + std::to_string(g.seq->id) + " needs more KV cache than the whole budget (" +
                          std::to_string(pool_.bytes()) + " bytes) after " + std::to_string(g.seq->fed) +
                          " tokens. Hint: raise the KV budget or lower max_new_tokens.");
        continue;
      }
      n += g.k();
      batch.push_back(std::move(from.front()));
      from.pop_front();
    }
    return batch;
  };

  // Exits: last unshared layer, final norm, LM head, sampling.
  std::vector<std::unique_ptr<Group>> exits = take(exit_, plan.has_middle() ? L - 1 : -1);
  if (!exits.empty()) {
    std::vector<Tensor> outs;
    std::vector<std::vector<int32_t>> pos;
    std::vector<SeqCache*> caches;
    for (const auto& g : exits) {
      outs.push_back(g->out);
      pos.push_back(positions_of(g->pos, iota_rows(g->k())));
      caches.push_back(&g->seq->caches[size_t(L - 1)]);
    }
    ad::Var x = ad::make_var(concat_rows(outs));
    if (plan.has_middle()) {
      PagedKv kv(pool_, caches, false);
      x = layer_forward(x, layout_of(pos, dev), model_.layer_weights(L - 1), shape, &kv);
    }
    std::vector<int32_t> last_rows;
    int64_t at = 0;
    for (const auto& g : exits) {
      at += g->k();
      if (g->last) last_rows.push_back(int32_t(at - 1));
    }
    Tensor logits;  // on the host: the samplers read them
    if (!last_rows.empty())
      logits = model_.logits(model_.final_norm(ad::make_var(rows_of(x->value, last_rows)))->value).host();
    const int64_t V = model_.config().vocab_size;
    int64_t li = 0;
    for (const auto& g : exits) {
      Seq* s = g->seq;
      if (!g->last) {  // a prompt chunk: the next chunk follows
        new_entry(s);
        continue;
      }
      const int32_t t = logits.dtype() == DType::F64 ? s->sampler.next(logits.data<double>() + li * V, V)
                                                     : s->sampler.next(logits.data<float>() + li * V, V);
      ++li;
      const Request& q = requests_[size_t(s->id)];
      s->tokens.push_back(t);
      ++s->generated;
      ++stats_.generated_tokens;
      completions_[size_t(s->id)].tokens.push_back(t);
      if (q.on_token) q.on_token(t);
      if (t == q.stop_token || s->generated >= q.max_new_tokens) finish(s, "");
      else new_entry(s);
    }
  }

  // Entries: embedding, first unshared layer; the router's depth choice (token-choice).
  std::vector<std::unique_ptr<Group>> entries = take(entry_, plan.has_middle() ? 0 : -1);
  if (!entries.empty()) {
    std::vector<int32_t> ids;
    std::vector<std::vector<int32_t>> pos;
    std::vector<SeqCache*> caches;
    for (const auto& g : entries) {
      ids.insert(ids.end(), g->ids.begin(), g->ids.end());
      pos.push_back(positions_of(g->pos, iota_rows(g->k())));
      caches.push_back(&g->seq->caches[0]);
    }
    stats_.fed_tokens += int64_t(ids.size());
    ad::Var x = model_.embed(ad::i32_on(ids, dev));
    if (plan.has_middle()) {
      PagedKv kv(pool_, caches, false);
      x = layer_forward(x, layout_of(pos, dev), model_.layer_weights(0), shape, &kv);
    }
    RouteRows route;
    if (Router* router = model_.router()) {
      RoutingStats st;
      std::vector<AuxTerm> aux;
      RouteRecord rec{st, aux, {}, {}};
      ForwardContext ctx;
      ctx.training = false;
      route = router->begin(x, ctx, rec);
    }
    int64_t at = 0;
    for (auto& g : entries) {
      g->out = slice_rows(x->value, at, at + g->k());
      g->in = g->out;
      g->active = iota_rows(g->k());
      if (route.depth.defined()) {
        std::vector<int32_t> mine;
        for (int64_t i = at; i < at + g->k(); ++i) mine.push_back(int32_t(i));
        g->route = route.take(ad::i32_on(mine, dev));
      }
      g->depth = 0;
      at += g->k();
      block_.push_back(std::move(g));
    }
  }
  stats_.nonblock_seconds += seconds_since(t0);
}

void Engine::block_phase() {
  const auto t0 = Clock::now();
  const Device dev = model_.device();  // where the rows and index tensors live
  const SharingPlan& plan = model_.plan();
  const LayerShape& shape = model_.layer_shape();
  const int64_t nr = plan.num_recursions();
  Router* router = model_.router();
  ForwardContext ctx;
  ctx.training = false;
  ctx.selection = Selection::Threshold;  // causal per-token rule (MOR.md 3.7)

  // Groups in arrival order, up to max_batch recursing rows.
  std::vector<std::unique_ptr<Group>> batch;
  int64_t n = 0;
  while (!block_.empty()) {
    const int64_t a = int64_t(block_.front()->active.size());
    if (!batch.empty() && n + a > opt_.max_batch) break;
    n += a;
    batch.push_back(std::move(block_.front()));
    block_.pop_front();
  }

  // Per depth: which rows run this step (the router, over all of that depth's candidates).
  struct Run {
    Group* g;
    std::vector<int32_t> local;  // indices into g->active that run
    Tensor x;                    // [|local|, d] their inputs
    RouteRows route;             // their routing state
    ad::Var gate;                // their gates (expert)
  };
  std::map<int64_t, std::vector<Run>> by_depth;
  for (auto& g : batch) by_depth[g->depth].push_back(Run{g.get(), {}, {}, {}, {}});
  for (auto& [r, runs] : by_depth) {
    if (!router) {
      for (Run& u : runs) u.local = iota_rows(int64_t(u.g->active.size())), u.x = u.g->in, u.route = u.g->route;
      continue;
    }
    std::vector<Tensor> xs;
    std::vector<std::vector<int32_t>> pos;
    std::vector<const RouteRows*> routes;
    for (Run& u : runs) {
      xs.push_back(u.g->in);
      pos.push_back(positions_of(u.g->pos, u.g->active));
      routes.push_back(&u.g->route);
    }
    const ad::SeqLayout cl = layout_of(pos, dev);
    const RouteRows route = RouteRows::concat(routes);
    RoutingStats st;
    std::vector<AuxTerm> aux;
    RouteRecord rec{st, aux, {}, {}};
    const StepChoice c = router->select(r, ad::make_var(concat_rows(xs)), route, cl, 1, ctx, rec);
    const int64_t* off = cl.offsets.data<int64_t>();
    const std::vector<int32_t> run_all = c.run.to_vector<int32_t>();  // the scheduler's host copy
    size_t ri = 0;
    for (size_t s = 0; s < runs.size(); ++s) {
      std::vector<int32_t> rows_c;  // candidate rows (of the depth's concatenation) of this group
      while (ri < run_all.size() && run_all[ri] < off[s + 1]) {
        runs[s].local.push_back(int32_t(run_all[ri] - off[s]));
        rows_c.push_back(run_all[ri]);
        ++ri;
      }
      const Tensor idx = ad::i32_on(rows_c, dev);
      runs[s].x = rows_of(runs[s].g->in, runs[s].local);
      if (route.depth.defined()) runs[s].route = route.take(idx);
      if (c.gate) runs[s].gate = ad::gather_rows(c.gate, idx);
    }
  }

  // KV pages for the appends of the rows that run; groups that do not fit wait (in order).
  std::vector<Run*> order;  // the runs that go ahead, in batch order
  {
    std::map<Group*, Run*> run_of;
    for (auto& [r, runs] : by_depth)
      for (Run& u : runs) run_of[u.g] = &u;
    for (size_t i = 0; i < batch.size(); ++i) {
      Run* u = run_of[batch[i].get()];
      std::vector<std::pair<int64_t, int64_t>> need;
      if (!u->local.empty())
        for (int64_t l : plan.step_layers(batch[i]->depth))
          if (map_.owns(l)) need.emplace_back(l, int64_t(u->local.size()));
      if (reserve({{u->g->seq, need}})) {
        order.push_back(u);
        continue;
      }
      // Later groups wait; the first one gets room by preempting another sequence, or is refused.
      for (size_t j = batch.size(); j-- > i;) block_.push_front(std::move(batch[j]));
      batch.resize(i);
      if (order.empty()) {
        Seq* s = block_.front()->seq;
        if (!make_room(s))
          finish(s, "request " + std::to_string(s->id) + " needs more KV cache than the whole budget (" +
                        std::to_string(pool_.bytes()) + " bytes) after " + std::to_string(s->fed) +
                        " tokens. Hint: raise the KV budget or lower max_new_tokens.");
        stats_.block_seconds += seconds_since(t0);
        return;
      }
      break;
    }
  }

  // The shared layers: rows whose depths use the same weights and KV mode for every layer of the
  // step run together; each row attends to its own depth's cache.
  auto signature = [&](int64_t r) {
    std::vector<const void*> sig;
    for (int64_t l : plan.step_layers(r)) {
      const LayerWeights& w = model_.layer_weights(l);
      sig.push_back(w.wqkv.get());
      sig.push_back(w.input_norm.get());
      sig.push_back(w.post_attn_norm.get());
      sig.push_back(map_.owns(l) ? nullptr : &map_);
    }
    return sig;
  };
  std::map<std::vector<const void*>, std::vector<Run*>> parts;
  for (Run* u : order)
    if (!u->local.empty()) parts[signature(u->g->depth)].push_back(u);
  std::map<Run*, Tensor> f_of;
  for (auto& [sig, runs] : parts) {
    std::vector<Tensor> xs;
    std::vector<std::vector<int32_t>> pos;
    for (Run* u : runs) {
      xs.push_back(u->x);
      std::vector<int32_t> rows;
      for (int32_t i : u->local) rows.push_back(u->g->active[size_t(i)]);
      pos.push_back(positions_of(u->g->pos, rows));
    }
    const ad::SeqLayout layout = layout_of(pos, dev);
    ad::Var x = ad::make_var(concat_rows(xs));
    for (int64_t j = 0; j < plan.base_depth(); ++j) {
      std::vector<SeqCache*> caches;
      bool reuse = false;
      for (Run* u : runs) {
        const int64_t l = plan.step_layers(u->g->depth)[size_t(j)];
        caches.push_back(&u->g->seq->caches[size_t(map_.source(l))]);
        reuse = !map_.owns(l);
      }
      PagedKv kv(pool_, caches, reuse);
      x = layer_forward(x, layout, model_.layer_weights(plan.step_layers(runs.front()->g->depth)[size_t(j)]), shape, &kv);
    }
    int64_t at = 0;
    for (Run* u : runs) {
      const int64_t k = int64_t(u->local.size());
      f_of[u] = slice_rows(x->value, at, at + k);
      at += k;
    }
  }

  // The router's combine per depth, then each group moves on.
  for (Run* u : order) {
    Group& g = *u->g;
    const int64_t r = g.depth;
    std::vector<int32_t> next_active;
    Tensor next_in;
    RouteRows next_route;
    if (!u->local.empty()) {
      stats_.tokens_per_step[size_t(r)] += int64_t(u->local.size());
      stats_.block_rows += int64_t(u->local.size());
      const ad::Var x = ad::make_var(u->x), f = ad::make_var(f_of[u]);
      std::vector<int32_t> group_rows;  // the run rows as rows of the group
      for (int32_t i : u->local) group_rows.push_back(g.active[size_t(i)]);
      StepOutcome o;
      if (router) {
        o = router->combine(r, x, f, u->route, u->gate, {int64_t(u->local.size())});  // one sequence
      } else {  // unrouted: every row takes f and continues
        o.out_rows = ad::iota_rows(int64_t(group_rows.size()), dev);
        o.out_update = f;
        o.add = false;
        o.stays = o.out_rows;
        o.next = f;
      }
      if (o.out_rows.defined() && o.out_rows.numel() > 0) {
        std::vector<int32_t> rows;
        for (int32_t i : o.out_rows.to_vector<int32_t>()) rows.push_back(group_rows[size_t(i)]);
        const Tensor idx = ad::i32_on(rows, dev);
        const ad::Var base = ad::make_var(g.out);
        g.out = (o.add ? ad::scatter_add_rows(base, idx, o.out_update) : ad::scatter_rows(base, idx, o.out_update))->value;
      }
      if (o.stays.defined() && o.stays.numel() > 0 && r + 1 < nr) {
        for (int32_t i : o.stays.to_vector<int32_t>()) next_active.push_back(group_rows[size_t(i)]);
        next_in = o.next ? o.next->value : rows_of(g.out, next_active);
        if (u->route.depth.defined()) next_route = u->route.take(o.stays);
      }
    }
    g.active = next_active;
    g.in = next_in;
    g.route = next_route;
    g.depth = r + 1;
  }
  stats_.running_sum += sched_.running();
  stats_.peak_running = std::max(stats_.peak_running, sched_.running());
  ++stats_.block_batches;
  std::map<int64_t, int> depths;
  for (Run* u : order)
    if (!u->local.empty()) ++depths[u->g->depth];
  if (depths.size() > 1) ++stats_.mixed_depth_batches;
  for (auto& g : batch) (g->active.empty() ? exit_ : block_).push_back(std::move(g));
  stats_.block_seconds += seconds_since(t0);
}

}  // namespace mor
