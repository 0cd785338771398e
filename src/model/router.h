// The router interface (MOR.md sections 3 and 4): who decides which rows run each recursion step,
// and how a step's output is combined. One object per model, used alike by the training and
// evaluation forward (model_recursion.cpp, over a whole packed batch) and by the inference engine
// (src/engine, over whichever rows are at a given depth). A router
//   - declares its parameters in the model's table (constructor);
//   - begin():   sees the recursion input H^1 of a set of rows (token-choice scores them and fixes
//                each row's depth here; its balancing and z losses are recorded);
//   - select():  scores step r's candidates and picks the rows that run it (expert-choice: top-k per
//                sequence, or the causal threshold rule; token-choice: every remaining row), giving
//                each candidate its gate; records per-step auxiliary losses;
//   - combine(): turns the block output f of the rows that ran into their update of the output
//                state and the next step's input, and says which rows leave;
//   - finish():  pushes the auxiliary terms (fixed order) and the type-specific statistics.
// Adding a routing variant means one new subclass and one line in Router::create.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "forward_context.h"
#include "param_table.h"
#include "router_net.h"
#include "src/autodiff/ops.h"
#include "src/config/routing_spec.h"

namespace mor {

// Routing state of a set of rows, carried with the rows from step to step.
struct RouteRows {
  Tensor depth;  // token: i32 [n] the last step index (0-based) each row runs
  ad::Var gate;  // token: [n] g_t = p[t, depth_t] (differentiable)
  Tensor probs;  // token: [n, N_r] router probabilities (statistics)
  // The rows `local` (i32 indices into this set) in that order.
  RouteRows take(const Tensor& local) const;
  // Rows of several sets after one another (the inference engine's batches).
  static RouteRows concat(const std::vector<const RouteRows*>& parts);
};

// One step's decision over its m candidates.
struct StepChoice {
  Tensor run;                   // i32 local indices of the candidates that run the step, ascending
  std::vector<int64_t> counts;  // run rows per sequence of the candidates' layout
  ad::Var gate;                 // expert: [m] gate of every candidate; token: unset
  // The candidates' router scores for the statistics (RoutingStats::resolve averages them):
  // [m], or [m, N_r] whose column score_column is the step's.
  Tensor score;
  int64_t score_column = -1;
};

// How the rows that ran step r continue. Rows are local indices into the run rows.
struct StepOutcome {
  Tensor out_rows;     // rows whose output state changes now
  ad::Var out_update;  // [|out_rows|, d]: added to their output state (add) or replacing it
  bool add = true;
  Tensor stays;        // rows that are candidates of step r+1
  ad::Var next;        // [|stays|, d] their input to step r+1; unset: their output state
  // Rows of `stays` per sequence of the run rows (empty: every run row stays).
  std::vector<int64_t> stays_counts;
};

// Per-forward accumulators a router writes into.
struct RouteRecord {
  RoutingStats& stats;
  std::vector<AuxTerm>& aux;
  std::map<std::string, ad::Var> sums;   // per-step losses summed over the steps
  std::map<std::string, ad::Var> saved;  // what a router keeps from begin() for finish()
  void accumulate(const std::string& name, const ad::Var& v);
};

class Router {
 public:
  virtual ~Router() = default;
  // The router of `spec` (nullptr for unrouted models), its parameters declared in `table`.
  static std::unique_ptr<Router> create(const RoutingSpec& spec, ParamTable& table, int64_t d_model, double init_std);

  virtual RouteRows begin(const ad::Var& h1, const ForwardContext& ctx, RouteRecord& rec) = 0;
  // x [m, d]: step r's candidates laid out by `layout`; T: the sequence length capacities refer to.
  virtual StepChoice select(int64_t r, const ad::Var& x, const RouteRows& rows, const ad::SeqLayout& layout, int64_t T,
                            const ForwardContext& ctx, RouteRecord& rec) = 0;
  // x [k, d]: the inputs of the rows that ran, f [k, d]: the block's output on them, rows: their
  // state, gate [k]: their gates from select() (expert; unset for token-choice), run_counts: the
  // run rows per sequence (they are grouped by sequence).
  virtual StepOutcome combine(int64_t r, const ad::Var& x, const ad::Var& f, const RouteRows& rows,
                              const ad::Var& gate, const std::vector<int64_t>& run_counts) const = 0;
  // full: the whole batch's layout; T its sequence length.
  virtual void finish(const ad::SeqLayout& full, int64_t T, RouteRecord& rec) const = 0;

  // Token-choice loss-free balancing (no-ops otherwise): per-depth token counts of the training
  // forwards since the last call, and the bias update b_j += u * sign(mean - ratio_j) (MOR.md 4.4).
  virtual std::vector<double> take_depth_counts() { return {}; }
  virtual void update_bias(const std::vector<double>& counts) { (void)counts; }
  virtual std::vector<double> bias_values() const { return {}; }

  const RoutingSpec& spec() const { return spec_; }
  // The expert step the selection mode resolves to for `ctx`.
  Selection selection(const ForwardContext& ctx) const {
    return ctx.selection ? *ctx.selection : (ctx.training ? Selection::TopK : spec_.eval_selection);
  }

 protected:
  Router(const RoutingSpec& spec, ParamTable& table) : spec_(spec), table_(table) {}
  // x / temp (the router input).
  ad::Var router_input(const ad::Var& x) const { return spec_.temp != 1.0 ? ad::scale(x, 1.0 / spec_.temp) : x; }
  RoutingSpec spec_;
  ParamTable& table_;
};

}  // namespace mor
