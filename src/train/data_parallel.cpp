// Data parallelism: gradient reduction, ZeRO-1 shards, reductions of statistics; see data_parallel.h.
#include "data_parallel.h"

#include <algorithm>
#include <cstring>

#include "dist/comm_timer.h"
#include "src/autodiff/profiler.h"

namespace mor {
using dist::CommTimer;

DataParallel::DataParallel(dist::Communicator& dp, ParamTable& params, int zero_stage)
    : comm_(dp), params_(params), zero_(zero_stage), n_(params.total_numel()) {
  if (zero() && size() > 1) {
    chunk_ = (n_ + size() - 1) / size();
    lo_ = std::min(n_, int64_t(rank()) * chunk_);
    hi_ = std::min(n_, lo_ + chunk_);
    staging_ = Tensor::zeros({chunk_ * size()}, DType::F32);
  } else {
    lo_ = 0;
    hi_ = n_;
  }
}

void DataParallel::reduce_gradients() {
  if (size() == 1) return;
  MOR_PROFILE_FORWARD("dp.reduce_gradients");
  CommTimer timer(comm_s_);
  float* g = params_.grads().data<float>();
  if (!zero()) {
    comm_.all_reduce(g, n_, DType::F32, dist::ReduceOp::Sum);
    return;
  }
  // Reduce-scatter needs equal chunks: stage the arena padded with zeros, receive this rank's
  // reduced chunk into its place in the arena (the rest of the arena is stale and unused).
  float* st = staging_.data<float>();
  std::memcpy(st, g, size_t(n_) * sizeof(float));
  std::vector<float> mine(static_cast<size_t>(chunk_));
  comm_.reduce_scatter(st, mine.data(), chunk_, DType::F32, dist::ReduceOp::Sum);
  std::memcpy(g + lo_, mine.data(), size_t(hi_ - lo_) * sizeof(float));
}

void DataParallel::gather_parameters() {
  if (!zero() || size() == 1) return;
  MOR_PROFILE_FORWARD("dp.gather_parameters");
  CommTimer timer(comm_s_);
  float* p = params_.values().data<float>();
  std::vector<float> mine(size_t(chunk_), 0.0f);
  std::memcpy(mine.data(), p + lo_, size_t(hi_ - lo_) * sizeof(float));
  float* st = staging_.data<float>();
  comm_.all_gather(mine.data(), st, chunk_, DType::F32);
  std::memcpy(p, st, size_t(n_) * sizeof(float));
}

double DataParallel::global_sum_squares(double local_shard_sum) const {
  if (!zero() || size() == 1) return local_shard_sum;
  CommTimer timer(comm_s_);
  return comm_.all_reduce_value(local_shard_sum, dist::ReduceOp::Sum);
}

Tensor DataParallel::gather_shards(const Tensor& shard) const {
  if (!zero() || size() == 1) return shard;
  std::vector<float> mine(size_t(chunk_), 0.0f);
  std::memcpy(mine.data(), shard.data<float>(), size_t(hi_ - lo_) * sizeof(float));
  Tensor all = Tensor::empty({chunk_ * size()}, DType::F32);
  comm_.all_gather(mine.data(), all.data<float>(), chunk_, DType::F32);
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
