// topk_per_sequence: per-sequence top-k row selection (no gradient).
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP_NO_GRAD(topk_per_sequence)

namespace mor::ad {

Tensor topk_per_sequence(const Tensor& scores, const SeqLayout& layout, const std::vector<int64_t>& k) {
  MOR_PROFILE_FORWARD("topk_per_sequence");
  const Device dev = op_device("topk_per_sequence", {&scores, &layout.positions});
  const int64_t S = layout.n_seq();
  MOR_CHECK(scores.numel() == layout.rows(), "topk_per_sequence: ", scores.numel(), " scores for ",
            layout.rows(), " rows");
  MOR_CHECK(int64_t(k.size()) == S, "topk_per_sequence: need one k per sequence");
  const int64_t* off = layout.offsets.data<int64_t>();
  int64_t total = 0;
  for (int64_t s = 0; s < S; ++s) {
    MOR_CHECK(k[size_t(s)] >= 0 && k[size_t(s)] <= off[s + 1] - off[s], "topk_per_sequence: k=", k[size_t(s)],
              " for a sequence of ", off[s + 1] - off[s]);
    total += k[size_t(s)];
  }
  Tensor out = Tensor::empty({total}, DType::I32, dev);
  const Tensor kk = dev.is_cpu() ? Tensor::from_vector(k, {S}) : Tensor::from_vector(k, {S}).to(dev);  // an upload, no sync
  MOR_DISPATCH_FLOAT(scores.dtype(), T,
                     MOR_RUN("topk_per_sequence", dev, T, topk_per_sequence, S, layout.offsets_on(dev).ptr<int64_t>(),
                             scores.ptr<T>(), kk.ptr<int64_t>(), out.ptr<int32_t>()));
  return out;
}

}  // namespace mor::ad
