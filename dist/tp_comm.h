// CommTpGroup: the model's tensor-parallel handle (src/autodiff/tp_group.h) over a
// dist::Communicator, so TP collectives take the same backend as everything else (MPI for CPU
// tensors now, NCCL for device tensors when the CUDA path lands). The shard index is the
// communicator's rank: this is the one place where a rank becomes a shard.
//
// check_identical (dist.check_tp_selection): every member hashes the tensor (FNV-1a over its
// bytes, plus its element count), the pairs are all-gathered (16 bytes per member), and any
// difference fails on every member with one message naming `what` and each member's count.
// The hash pairs and the trainer's gradient-norm scalar are host buffers: over an NCCL
// communicator (device buffers only) they would need an MPI group beside it (not built yet:
// training on CUDA is not wired up).
#pragma once
#include "communicator.h"
#include "src/autodiff/tp_group.h"

namespace mor::dist {

class CommTpGroup final : public ad::TpGroup {
 public:
  explicit CommTpGroup(Communicator& comm, bool check_selection = false) : comm_(comm), check_(check_selection) {}
  int size() const override { return comm_.size(); }
  int shard_index() const override { return comm_.rank(); }
  void all_reduce_sum(Tensor& t) override;
  void all_reduce_max(Tensor& t) override;
  void all_gather(const Tensor& in, Tensor& out) override;
  void check_identical(const Tensor& t, const std::string& what) override;

  Communicator& comm() const { return comm_; }
  void set_check(bool on) { check_ = on; }
  // Seconds spent in this group's collectives since the last call (the step's TP communication).
  double take_comm_seconds();

 private:
  Communicator& comm_;
  bool check_;
  double comm_s_ = 0;
};

// FNV-1a 64-bit hash of a tensor's bytes (CPU memory).
uint64_t tensor_hash(const Tensor& t);

}  // namespace mor::dist
