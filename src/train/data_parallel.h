// Data parallelism for the trainer: what crosses ranks once per optimizer step. The model knows
// nothing of it; the trainer calls these between backward and the update.
//   plain DP (dist.zero: 0)  gradients: one all-reduce (sum) of the whole gradient arena
//   ZeRO-1   (dist.zero: 1)  gradients: reduce-scatter into this rank's shard of the arena; AdamW
//                            keeps moments for that shard only; after the update the parameter
//                            shards are all-gathered, so every rank again holds all weights
// Shards are contiguous ranges of the flat arena: rank r owns [r*c, min(n, (r+1)*c)), c = ceil(n/dp).
// With one rank every call is a no-op (the local communicator), so a single process runs the same code.
// The arenas' collectives may go over a second communicator for device buffers (NCCL, one GPU per
// rank); the host statistics (sum, mean) always use `dp`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "src/model/param_table.h"

namespace mor {

class DataParallel {
 public:
  // arena: the communicator for the parameter/gradient arenas when they live on a GPU (nullptr: dp).
  DataParallel(dist::Communicator& dp, ParamTable& params, int zero_stage, dist::Communicator* arena = nullptr);

  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  bool zero() const { return zero_ > 0; }
  dist::Communicator& comm() { return comm_; }
  // This rank's optimizer shard of the arena (the whole arena without ZeRO).
  int64_t shard_begin() const { return lo_; }
  int64_t shard_end() const { return hi_; }

  // After backward (the gradients of this rank's micro-batches are in the arena): sums them over
  // ranks (plain: whole arena; ZeRO: this rank's shard only).
  void reduce_gradients();
  // ZeRO: after the update of this rank's shard, gathers every rank's shard of the parameters.
  void gather_parameters();
  // Squared-norm sum of the reduced gradients -> the global value (plain: the local value is
  // already global; ZeRO: summed over the shards).
  double global_sum_squares(double local_shard_sum) const;
  // Gathers a per-shard tensor (ZeRO moments, shard length) into a whole-arena copy on every rank.
  Tensor gather_shards(const Tensor& shard) const;

  // Reductions of logged statistics, in place.
  void sum(std::vector<double>& v) const;
  void sum(std::vector<int64_t>& v) const;
  double mean(double v) const;
  // Seconds spent in this object's collectives since the last call (the step's communication).
  double take_comm_seconds();

 private:
  // Runs an arena collective: the device's queued work first, the collective, then its completion.
  template <typename F>
  void on_arena(F&& collective) const;
  dist::Communicator& comm_;
  dist::Communicator& arena_;
  ParamTable& params_;
  int zero_;
  int64_t n_ = 0, chunk_ = 0, lo_ = 0, hi_ = 0;
  Tensor staging_;  // ZeRO: the arena padded to size * chunk
  mutable double comm_s_ = 0;
};

}  // namespace mor
