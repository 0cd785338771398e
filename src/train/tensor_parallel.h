// Tensor parallelism for the trainer: what crosses the TP group outside the model's forward and
// backward. The model splits itself over the group handle (src/model/model.h); the trainer uses
// this to
//   - hand the model its group (none when dist.tp = 1, so a TP-1 run is the plain model),
//   - combine gradient norms: split parameters' squares summed over TP ranks, replicated ones
//     counted once (they are identical on every TP rank by construction: no all-reduce),
//   - verify that under dist.check_tp_selection (hash comparison of every replicated gradient),
//   - gather full tensors for checkpoints (collective) and slice full tensors on resume.
#pragma once
#include <memory>
#include <vector>

#include "dist/process_grid.h"
#include "dist/tp_comm.h"
#include "src/model/param_table.h"

namespace mor {

class TensorParallel {
 public:
  // device_comm: the TP group over GPU memory (NCCL) when the model lives on a GPU, else nullptr.
  TensorParallel(dist::ProcessGrid& grid, bool check, dist::Communicator* device_comm = nullptr);

  int size() const { return size_; }
  // The model's group handle; nullptr when dist.tp = 1.
  ad::TpGroup* group() { return group_.get(); }
  // Sum of squares over the whole model from this rank's parts (collective over TP when size > 1).
  double combine_sum_squares(double sharded, double replicated) const;
  // dist.check_tp_selection: every replicated trainable parameter's gradient has the same bits on
  // every TP rank (after backward, before the DP reduction). One clear error otherwise.
  void check_replicated_gradients(const ParamTable& p, int64_t step);
  // `arena` is laid out like this rank's parameter arena (values, or AdamW moments gathered over
  // DP); returns parameter i's full global tensor. Collective over TP (every rank gets it).
  Tensor gather_full(const ParamTable& p, const Tensor& arena, int i) const;
  // TP collective seconds since the last call.
  double take_comm_seconds() { return group_ ? group_->take_comm_seconds() : 0.0; }

 private:
  int size_ = 1;
  std::unique_ptr<dist::CommTpGroup> group_;
};

}  // namespace mor
