// CommTpGroup: the model's tensor-parallel handle (src/autodiff/tp_group.h) over a
// dist::Communicator, so TP collectives take the same backend as everything else: MPI for host
// memory (the CPU, the test device), and, when a second communicator for the same group is given
// (NCCL, one GPU per rank), that one for tensors on its GPU -- with the GPU's queued work finished
// before and the collective's stream finished after, so the ops around it see the result. The
// shard index is the communicator's rank: this is the one place where a rank becomes a shard.
//
// check_identical (dist.check_tp_selection): every member hashes the tensor (FNV-1a over its
// bytes, plus its element count), the pairs are all-gathered (16 bytes per member), and any
// difference fails on every member with one message naming `what` and each member's count.
// The hash pairs and the trainer's gradient-norm scalar are host buffers: they always use `comm`.
#pragma once
#include "communicator.h"
#include "src/autodiff/tp_group.h"

namespace mor::dist {

class CommTpGroup final : public ad::TpGroup {
 public:
  // comm: the group over host memory; device_comm (optional): the same ranks over GPU memory.
  explicit CommTpGroup(Communicator& comm, bool check_selection = false, Communicator* device_comm = nullptr);
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
  // The communicator that serves tensor t, and a collective run on it with device ordering.
  Communicator& serving(const Tensor& t) const;
  template <typename F>
  void run(const Tensor& t, F&& collective);
  Communicator& comm_;
  Communicator* device_comm_ = nullptr;
  bool check_;
  double comm_s_ = 0;
};

// FNV-1a 64-bit hash of a tensor's bytes (CPU memory).
uint64_t tensor_hash(const Tensor& t);

}  // namespace mor::dist
