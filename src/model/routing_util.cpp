// Row-subset helpers and the routing statistics' resolution; see routing_util.h, forward_context.h.
#include "routing_util.h"

#include <set>

#include "forward_context.h"

namespace mor {

ad::SeqLayout subset_layout(const Tensor& rows, const std::vector<int64_t>& counts, const ad::SeqLayout& full) {
  ad::SeqLayout l;
  const int64_t S = int64_t(counts.size());
  l.offsets = Tensor::empty({S + 1}, DType::I64);
  int64_t* off = l.offsets.data<int64_t>();
  off[0] = 0;
  for (int64_t s = 0; s < S; ++s) off[s + 1] = off[s] + counts[size_t(s)];
  MOR_CHECK(off[S] == rows.numel(), "subset_layout: counts sum to ", off[S], " but there are ", rows.numel(), " rows");
  l.positions = ad::take_i32(full.positions, rows);
  return l;
}

std::vector<int64_t> layout_counts(const ad::SeqLayout& l) {
  std::vector<int64_t> c(size_t(l.n_seq()));
  const int64_t* off = l.offsets.data<int64_t>();
  for (int64_t s = 0; s < l.n_seq(); ++s) c[size_t(s)] = off[s + 1] - off[s];
  return c;
}

std::string routing_context(const ForwardContext& ctx, int64_t r) {
  return (ctx.training ? "training step " + std::to_string(ctx.step + 1) : std::string("evaluation")) + ", recursion " +
         std::to_string(r + 1);
}

void RoutingStats::resolve() {
  if (pending_scores.empty()) return;
  mean_score.clear();
  for (const StepScores& p : pending_scores) {
    if (!p.scores.defined() || p.scores.numel() == 0) {
      mean_score.push_back(0.0);
      continue;
    }
    const std::vector<double> v = p.scores.host().to_dtype(DType::F64).to_vector<double>();
    const int64_t cols = p.column < 0 ? 1 : p.scores.dim(1), m = int64_t(v.size()) / cols;
    double sum = 0;
    for (int64_t t = 0; t < m; ++t) sum += v[size_t(t * cols + std::max<int64_t>(p.column, 0))];
    mean_score.push_back(sum / double(m));
  }
  pending_scores.clear();
  if (positions.defined() && seq_len > 0) {
    // Dead ratio: positions that no sequence selected at the last step.
    std::set<int32_t> alive;
    if (!selected.empty()) {
      const std::vector<int32_t> pos = positions.to_vector<int32_t>();
      for (int32_t row : selected.back().to_vector<int32_t>()) alive.insert(pos[size_t(row)]);
    }
    dead_ratio = 1.0 - double(alive.size()) / double(seq_len);
  }
  positions = Tensor();
}

}  // namespace mor
