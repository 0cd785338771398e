// LocalCommunicator: the communicator of a world of one process, without MPI. Every collective
// over one rank is a copy or nothing (all_reduce: unchanged, Avg divides by 1; reduce_scatter and
// all_gather: out = in). Lets single-process runs take the same code path as multi-rank ones.
#pragma once
#include "communicator.h"

namespace mor::dist {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(std::string name = "world") : Communicator(0, 1, std::move(name)) {}
  Device device() const override { return Device::cpu(); }
  const char* backend() const override { return "local"; }
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;

 protected:
  void do_all_reduce(void*, int64_t, DType, ReduceOp) override {}
  void do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp) override;
  void do_all_gather(const void* in, void* out, int64_t chunk, DType t) override;
  void do_broadcast(void*, int64_t, DType, int) override {}
  void do_barrier() override {}
  // Same dtypes as the MPI backend, so a 1-rank run fails where a multi-rank run would.
  bool can_reduce(DType t) const override { return t != DType::BF16; }
};

}  // namespace mor::dist
