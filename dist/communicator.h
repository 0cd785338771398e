// Communicator: the collective operations every parallel piece of MoR-Train uses, independent
// of the transport. Backends: MpiCommunicator (CPU memory, comm_mpi.h), LocalCommunicator (a
// world of one process without MPI, comm_local.h) and NcclCommunicator (CUDA memory,
// comm_nccl.h, only in CUDA + NCCL builds).
//
// Every operation is collective over the group: all members call it in the same order with the
// same count, dtype, op and root. Counts are in elements. Buffers must live on device().
//
//   all_reduce(buf, n)              in place: buf[i] = op over ranks of buf[i]          (n)
//   reduce_scatter(in, out, chunk)  in: (size * chunk), out: (chunk); rank r receives
//                                   op over ranks of in[r*chunk, (r+1)*chunk)
//   all_gather(in, out, chunk)      in: (chunk), out: (size * chunk); out[r*chunk...] = rank r's in
//   broadcast(buf, n, root)         in place: every rank's buf = root's buf              (n)
//   barrier()
//
// Count 0 is allowed everywhere. `in` and `out` must not overlap. Avg is Sum divided by size()
// and needs a floating dtype (f32, f64, or bf16 on NCCL); Max works on every reducible dtype.
// MPI and local operations are complete when the call returns; NCCL operations are ordered on
// the communicator's stream (call synchronize() before reading results on the host).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "src/core/device.h"
#include "src/core/dtype.h"
#include "src/core/tensor.h"

namespace mor::dist {

enum class ReduceOp { Sum, Avg, Max };
const char* reduce_op_name(ReduceOp op);

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Group name used in messages: "world", "dp", "tp", ...
  const std::string& name() const { return name_; }
  // Where buffers must live (CPU for MPI and local, cuda:N for NCCL).
  virtual Device device() const = 0;
  // "mpi", "local" or "nccl".
  virtual const char* backend() const = 0;

  // Raw-pointer forms (pointers on device(); counts in elements of `t`).
  void all_reduce(void* buf, int64_t count, DType t, ReduceOp op = ReduceOp::Sum);
  void reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op = ReduceOp::Sum);
  void all_gather(const void* in, void* out, int64_t chunk, DType t);
  void broadcast(void* buf, int64_t count, DType t, int root);
  void barrier();

  // Tensor forms: check device, dtype and element counts, then call the raw forms.
  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
  void reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op = ReduceOp::Sum);  // in: size*chunk, out: chunk
  void all_gather(const Tensor& in, Tensor& out);                                    // in: chunk, out: size*chunk
  void broadcast(Tensor& t, int root);

  // Convenience for statistics: all-reduces one value and returns it.
  double all_reduce_value(double v, ReduceOp op = ReduceOp::Sum);
  int64_t all_reduce_value(int64_t v, ReduceOp op = ReduceOp::Sum);

  // Sub-group of the members that pass the same `color`, ordered by `key` (then by rank).
  // Collective over this group. The NCCL backend does not split (build NCCL groups over the
  // MPI groups of a ProcessGrid instead).
  virtual std::unique_ptr<Communicator> split(int color, int key, const std::string& name) = 0;

  // Waits until every operation issued so far has completed (no-op for blocking backends).
  virtual void synchronize() {}

 protected:
  Communicator(int rank, int size, std::string name) : rank_(rank), size_(size), name_(std::move(name)) {}

  // Backend operations; arguments have been validated by the public forms above.
  virtual void do_all_reduce(void* buf, int64_t count, DType t, ReduceOp op) = 0;
  virtual void do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) = 0;
  virtual void do_all_gather(const void* in, void* out, int64_t chunk, DType t) = 0;
  virtual void do_broadcast(void* buf, int64_t count, DType t, int root) = 0;
  virtual void do_barrier() = 0;
  // Whether the backend can reduce this dtype (all backends can move any dtype).
  virtual bool can_reduce(DType t) const = 0;

 private:
  void check_reduce(const char* what, DType t, ReduceOp op) const;
  void check_tensor(const char* what, const Tensor& t, int64_t expect_numel, const char* role) const;

  int rank_;
  int size_;
  std::string name_;
};

// Divides `count` elements of a floating dtype by `n` in place (CPU memory): the Avg step of
// backends that only sum.
void scale_divide(void* buf, int64_t count, DType t, int n);

// "1.2 MB", "4 KB", "12 B": message sizes in logs and watchdog messages.
std::string bytes_str(double bytes);

}  // namespace mor::dist
