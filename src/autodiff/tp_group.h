// TpGroup: the handle through which the model does tensor parallelism without knowing ranks or
// transports. The model receives one (or none: a single process) and passes it to the TP ops
// (tp_ops.h); the parameter table asks it once which shard of each split parameter to hold.
// dist/tp_comm.h adapts a dist::Communicator (MPI now, NCCL when CUDA lands); LocalTpGroup below
// is the group of one member (the size-1 case of the unit tests: every collective is a no-op).
//
// Every call is collective over the group's members (same order, same sizes on every member).
#pragma once
#include <string>

#include "src/core/tensor.h"

namespace mor::ad {

class TpGroup {
 public:
  virtual ~TpGroup() = default;
  virtual int size() const = 0;
  // Which shard of a split parameter this member holds (0..size-1). Read by the parameter table
  // only; model code never branches on it.
  virtual int shard_index() const = 0;
  // In place over the members (float tensors on this member's device).
  virtual void all_reduce_sum(Tensor& t) = 0;
  virtual void all_reduce_max(Tensor& t) = 0;
  // in: n elements, out: size * n elements, member i's `in` at [i*n, (i+1)*n).
  virtual void all_gather(const Tensor& in, Tensor& out) = 0;
  // Debug check that every member holds exactly the same integer tensor (e.g. the rows a replicated
  // router selected). `what` names it in the error ("step 12, recursion 2: selected rows"). A no-op
  // unless checks are enabled (dist.check_tp_selection); a mismatch is one clear error on every member.
  virtual void check_identical(const Tensor& t, const std::string& what) = 0;
};

// The group of one member: nothing to combine, nothing to check.
class LocalTpGroup final : public TpGroup {
 public:
  int size() const override { return 1; }
  int shard_index() const override { return 0; }
  void all_reduce_sum(Tensor&) override {}
  void all_reduce_max(Tensor&) override {}
  void all_gather(const Tensor& in, Tensor& out) override { out.copy_from(in.reshape(out.shape())); }
  void check_identical(const Tensor&, const std::string&) override {}
};

}  // namespace mor::ad
