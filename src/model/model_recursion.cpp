// The routed recursion loop of the training and evaluation forward (MOR.md sections 3 and 4),
// the same for every router: per step r the router picks which of the candidates run it, only
// those rows are gathered and run through the shared block (attention among them, at their
// original positions), and the router's outcome updates the output state (scatter) and the next
// step's candidates. Expert-choice: x <- x + g f(x) on the selected rows, every selected row a
// candidate of the next step. Token-choice: rows leave after the step of their depth with
// H^1 + g f; the others continue with f.
#include "model.h"
#include "routing_util.h"

namespace mor {

ad::Var Model::routed_recursions(const ad::Var& h1, const ad::SeqLayout& full, int64_t T, const ForwardContext& ctx,
                                 ForwardResult& res, std::vector<AuxTerm>& aux) {
  const int64_t nr = plan_.num_recursions();
  RoutingStats& st = res.routing;
  st.total_tokens = full.rows();
  RouteRecord rec{st, aux, {}, {}};
  const char* what = spec_.expert() ? ": expert-choice selected rows" : ": token-choice active rows";

  ad::Var state = h1;                 // every row's output so far [n, d]
  RouteRows rows = router_->begin(h1, ctx, rec);
  const Device dev = h1->value.device();
  Tensor cand = ad::iota_rows(full.rows(), dev);  // global rows of the candidates (on the device)
  ad::SeqLayout cand_layout = full;
  ad::Var xc = h1;                    // the candidates' inputs (unset: their rows of `state`)
  std::vector<LayerKV> first_kv(size_t(plan_.base_depth()));
  for (int64_t r = 0; r < nr; ++r) {
    if (cand.numel() == 0) {
      st.tokens_per_step.push_back(0);
      st.pending_scores.push_back({});
      continue;
    }
    if (!xc) xc = ad::gather_rows(state, cand);
    const StepChoice c = router_->select(r, xc, rows, cand_layout, T, ctx, rec);
    const Tensor sel = ad::take_i32(cand, c.run);  // global rows
    if (tp_) tp_->check_identical(sel, routing_context(ctx, r) + what);
    st.tokens_per_step.push_back(sel.numel());
    if (spec_.expert()) st.selected.push_back(sel);
    st.pending_scores.push_back({c.score, c.score_column});
    if (sel.numel() == 0) {
      cand = sel;
      continue;
    }
    const bool all = sel.numel() == cand.numel();
    const ad::SeqLayout sel_layout = all ? cand_layout : subset_layout(sel, c.counts, full);
    const ad::Var xs = all ? xc : ad::gather_rows(xc, c.run);
    const RouteRows run_rows = all ? rows : rows.take(c.run);
    const ad::Var f = run_step(r, xs, sel_layout, first_kv);
    const ad::Var gate = c.gate ? ad::gather_rows(c.gate, c.run) : nullptr;  // recorded after the block, as before
    const StepOutcome o = router_->combine(r, xs, f, run_rows, gate, c.counts);
    if (o.out_rows.defined() && o.out_rows.numel() > 0) {
      const Tensor out_global = ad::take_i32(sel, o.out_rows);
      state = o.add ? ad::scatter_add_rows(state, out_global, o.out_update) : ad::scatter_rows(state, out_global, o.out_update);
    }
    if (!o.stays.defined() || o.stays.numel() == 0) {
      cand = Tensor::empty({0}, DType::I32);
      continue;
    }
    const bool all_stay = o.stays.numel() == sel.numel();
    cand = all_stay ? sel : ad::take_i32(sel, o.stays);
    cand_layout = all_stay ? sel_layout : subset_layout(cand, o.stays_counts, full);
    rows = all_stay ? run_rows : run_rows.take(o.stays);
    xc = o.next;
  }
  st.depth_histogram.assign(size_t(nr), 0);
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t next = r + 1 < nr ? st.tokens_per_step[size_t(r + 1)] : 0;
    st.depth_histogram[size_t(r)] = st.tokens_per_step[size_t(r)] - next;
  }
  router_->finish(full, T, rec);
  if (spec_.expert()) st.positions = full.positions, st.seq_len = T;  // the dead ratio, resolved when read
  return state;
}

}  // namespace mor
