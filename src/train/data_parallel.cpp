// Data parallelism: gradient reduction, ZeRO-1 shards, reductions of statistics; see data_parallel.h.
#include "data_parallel.h"

#include <algorithm>

#include "dist/comm_timer.h"
#include "src/autodiff/profiler.h"

namespace mor {
using dist::CommTimer;

DataParallel::DataParallel(dist::Communicator& dp, ParamTable& params, int zero_stage, dist::Communicator* arena)
    : comm_(dp), arena_(arena ? *arena : dp), params_(params), zero_(zero_stage), n_(params.total_numel()) {
  MOR_CHECK(arena_.size() == comm_.size() && arena_.rank() == comm_.rank(), "DataParallel: the arena communicator is not the dp group");
  if (zero() && size() > 1) {
    chunk_ = (n_ + size() - 1) / size();
    lo_ = std::min(n_, int64_t(rank()) * chunk_);
    hi_ = std::min(n_, lo_ + chunk_);
    staging_ = Tensor::zeros({chunk_ * size()}, DType::F32, params.values().device());
  } else {
    lo_ = 0;
    hi_ = n_;
  }
}

template <typename F>
void DataParallel::on_arena(F&& collective) const {
  device_synchronize(params_.values().device());  // the backward pass / update queued on the compute stream
  collective(arena_);
  arena_.synchronize();  // NCCL works on its own stream
}

void DataParallel::reduce_gradients() {
  if (size() == 1) return;
  MOR_PROFILE_FORWARD("dp.reduce_gradients");
  CommTimer timer(comm_s_);
  // The communicator gets the arenas' own pointers (host memory for MPI; device buffers for NCCL).
  Tensor& grads = params_.grads();
  if (!zero()) {
    on_arena([&](dist::Communicator& c) { c.all_reduce(grads.ptr<float>(), n_, DType::F32, dist::ReduceOp::Sum); });
    return;
  }
  // Reduce-scatter needs equal chunks: stage the arena padded with zeros, receive this rank's
  // reduced chunk into its place in the arena (the rest of the arena is stale and unused).
  staging_.view(0, {n_}).copy_from(grads);
  Tensor mine = Tensor::empty({chunk_}, DType::F32, grads.device());
  on_arena([&](dist::Communicator& c) {
    c.reduce_scatter(staging_.ptr<float>(), mine.ptr<float>(), chunk_, DType::F32, dist::ReduceOp::Sum);
  });
  grads.view(lo_, {hi_ - lo_}).copy_from(mine.view(0, {hi_ - lo_}));
}

void DataParallel::gather_parameters() {
  if (!zero() || size() == 1) return;
  MOR_PROFILE_FORWARD("dp.gather_parameters");
  CommTimer timer(comm_s_);
  Tensor& values = params_.values();
  Tensor mine = Tensor::zeros({chunk_}, DType::F32, values.device());
  mine.view(0, {hi_ - lo_}).copy_from(values.view(lo_, {hi_ - lo_}));
  on_arena([&](dist::Communicator& c) { c.all_gather(mine.ptr<float>(), staging_.ptr<float>(), chunk_, DType::F32); });
  values.copy_from(staging_.view(0, {n_}));
}

double DataParallel::global_sum_squares(double local_shard_sum) const {
  if (!zero() || size() == 1) return local_shard_sum;
  CommTimer timer(comm_s_);
  return comm_.all_reduce_value(local_shard_sum, dist::ReduceOp::Sum);
}

Tensor DataParallel::gather_shards(const Tensor& shard) const {
  if (!zero() || size() == 1) return shard;
  Tensor mine = Tensor::zeros({chunk_}, DType::F32, shard.device());
  mine.view(0, {hi_ - lo_}).copy_from(shard.view(0, {hi_ - lo_}));
  Tensor all = Tensor::empty({chunk_ * size()}, DType::F32, shard.device());
  on_arena([&](dist::Communicator& c) { c.all_gather(mine.ptr<float>(), all.ptr<float>(), chunk_, DType::F32); });
  return all.view(0, {n_}).clone();
}

void DataParallel::sum(std::vector<double>& v) const {
  if (size() == 1 || v.empty()) return;
  CommTimer timer(comm_s_);
  comm_.all_reduce(v.data(), int64_t(v.size()), DType::F64, dist::ReduceOp::Sum);
}

void DataParallel::sum(std::vector<int64_t>& v) const {
  if (size() == 1 || v.empty()) return;
  CommTimer timer(comm_s_);
  comm_.all_reduce(v.data(), int64_t(v.size()), DType::I64, dist::ReduceOp::Sum);
}

double DataParallel::mean(double v) const {
  if (size() == 1) return v;
  CommTimer timer(comm_s_);
  return comm_.all_reduce_value(v, dist::ReduceOp::Avg);
}

double DataParallel::take_comm_seconds() {
  const double s = comm_s_;
  comm_s_ = 0;
  return s;
}

}  // namespace mor
