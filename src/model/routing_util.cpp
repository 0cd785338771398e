// Row-subset helpers; see routing_util.h.
#include "routing_util.h"

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
  l.positions = take_i32(full.positions, rows);
  return l;
}

std::vector<int64_t> layout_counts(const ad::SeqLayout& l) {
  std::vector<int64_t> c(size_t(l.n_seq()));
  const int64_t* off = l.offsets.data<int64_t>();
  for (int64_t s = 0; s < l.n_seq(); ++s) c[size_t(s)] = off[s + 1] - off[s];
  return c;
}

Tensor take_i32(const Tensor& table, const Tensor& idx) {
  Tensor out = Tensor::empty({idx.numel()}, DType::I32);
  const int32_t* t = table.data<int32_t>();
  const int32_t* i = idx.data<int32_t>();
  int32_t* o = out.data<int32_t>();
  for (int64_t k = 0; k < idx.numel(); ++k) o[k] = t[i[k]];
  return out;
}

Tensor to_i32(const std::vector<int32_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

Tensor all_rows(int64_t n) {
  Tensor t = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) t.data<int32_t>()[i] = int32_t(i);
  return t;
}

std::vector<int64_t> counts_of(const Tensor& local, const ad::SeqLayout& layout) {
  std::vector<int64_t> c(size_t(layout.n_seq()), 0);
  const int64_t* off = layout.offsets.data<int64_t>();
  int64_t s = 0;
  for (int64_t i = 0; i < local.numel(); ++i) {
    const int64_t row = local.data<int32_t>()[i];
    while (row >= off[s + 1]) ++s;
    ++c[size_t(s)];
  }
  return c;
}

std::string routing_context(const ForwardContext& ctx, int64_t r) {
  return (ctx.training ? "training step " + std::to_string(ctx.step + 1) : std::string("evaluation")) + ", recursion " +
         std::to_string(r + 1);
}

}  // namespace mor
