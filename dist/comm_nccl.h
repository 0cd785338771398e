// NcclCommunicator: the Communicator backend for CUDA memory (one GPU per rank), over NCCL.
// Built only when the build has CUDA and NCCL (MOR_HAVE_NCCL); include it under that macro.
//
// Created collectively over a CPU `bootstrap` communicator (the world or a ProcessGrid axis):
// rank 0 makes the ncclUniqueId, bootstrap.broadcast sends it to the others, then every rank
// calls ncclCommInitRank on its device. Operations take device pointers and are enqueued on the
// communicator's own stream (stream()); they are complete after synchronize(). barrier() waits.
// Not covered by the MPI collective watchdog (NCCL has its own timeouts via NCCL_* variables).
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "communicator.h"

namespace mor::dist {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap` (a CPU communicator). `device`: this rank's CUDA device
  // (RankInfo::cuda_device). The group gets bootstrap's rank, size and `name`.
  NcclCommunicator(Communicator& bootstrap, int device, const std::string& name);
  ~NcclCommunicator() override;

  Device device() const override { return Device::cuda(device_); }
  const char* backend() const override { return "nccl"; }
  // ncclCommSplit (collective); NCCL >= 2.18.
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;
  void synchronize() override;
  cudaStream_t stream() const { return stream_; }

 protected:
  void do_all_reduce(void* buf, int64_t count, DType t, ReduceOp op) override;
  void do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) override;
  void do_all_gather(const void* in, void* out, int64_t chunk, DType t) override;
  void do_broadcast(void* buf, int64_t count, DType t, int root) override;
  void do_barrier() override;
  bool can_reduce(DType) const override { return true; }

 private:
  NcclCommunicator(ncclComm_t comm, int rank, int size, int device, const std::string& name);
  void make_stream();

  int device_ = -1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* scratch_ = nullptr;  // 4 bytes of device memory for barrier()
};

}  // namespace mor::dist
