// Tensor parallelism for the trainer; see tensor_parallel.h.
#include "tensor_parallel.h"

#include <string>

namespace mor {

TensorParallel::TensorParallel(dist::ProcessGrid& grid, bool check, dist::Communicator* device_comm)
    : size_(grid.tp_size()) {
  if (size_ > 1) group_ = std::make_unique<dist::CommTpGroup>(grid.tp(), check, device_comm);
}

double TensorParallel::combine_sum_squares(double sharded, double replicated) const {
  if (!group_) return sharded + replicated;
  // The replicated part enters the sum from TP rank 0 only, so the result is one all-reduce and
  // has the same bits on every TP rank (each rank's own replicated sum may round differently when
  // ZeRO cuts its arena elsewhere).
  Tensor s = Tensor::from_vector(std::vector<double>{sharded + (group_->shard_index() == 0 ? replicated : 0.0)}, {1});
  group_->all_reduce_sum(s);
  return s.item();
}

void TensorParallel::check_replicated_gradients(const ParamTable& p, int64_t step) {
  if (!group_) return;
  for (size_t i = 0; i < p.size(); ++i)
    if (p.spec(int(i)).trainable && !p.sharded(int(i)))
      group_->check_identical(p.var(int(i))->grad,
                              "training step " + std::to_string(step) + ": the gradient of replicated " + p.spec(int(i)).name);
}

Tensor TensorParallel::gather_full(const ParamTable& p, const Tensor& arena, int i) const {
  const Tensor local = arena.view(p.offset(i), {p.numel(i)});
  if (!group_ || !p.sharded(i)) return local.reshape(p.spec(i).shape).clone();
  Tensor all = Tensor::empty({p.numel(i) * size_}, arena.dtype());
  group_->all_gather(local, all);
  return p.from_shards(i, all);
}

}  // namespace mor
