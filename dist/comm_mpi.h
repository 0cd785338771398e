// MpiCommunicator: the Communicator backend for CPU memory, over one MPI communicator.
// Every collective runs under the collective watchdog (watchdog.h); MPI errors are returned
// (MPI_ERRORS_RETURN) and turned into mor::Error (Internal) with MPI_Error_string's text.
// Counts above 2^31-1 elements: all_reduce and broadcast run in pieces; reduce_scatter and
// all_gather refuse them (split the buffer into buckets).
#pragma once
#include <mpi.h>

#include "communicator.h"

namespace mor::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates `comm` (the caller keeps ownership of it; MPI_ERRORS_RETURN is set on it too, so
  // that the duplication itself reports errors) and names the group. Collective over `comm`.
  MpiCommunicator(MPI_Comm comm, const std::string& name);
  ~MpiCommunicator() override;

  Device device() const override { return Device::cpu(); }
  const char* backend() const override { return "mpi"; }
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;
  MPI_Comm handle() const { return comm_; }

 protected:
  void do_all_reduce(void* buf, int64_t count, DType t, ReduceOp op) override;
  void do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) override;
  void do_all_gather(const void* in, void* out, int64_t chunk, DType t) override;
  void do_broadcast(void* buf, int64_t count, DType t, int root) override;
  void do_barrier() override;
  bool can_reduce(DType t) const override { return t != DType::BF16; }  // MPI has no bf16 type

 private:
  struct Adopt {};  // takes ownership of an already-created MPI_Comm
  MpiCommunicator(Adopt, MPI_Comm owned, const std::string& name);
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Throws mor::Error (Internal) naming the MPI call, the group and MPI's message unless
// rc == MPI_SUCCESS (the message is built only on failure).
void mpi_check(int rc, const char* call, const std::string& group);

}  // namespace mor::dist
