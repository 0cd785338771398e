// MpiCommunicator; see comm_mpi.h.
#include "comm_mpi.h"

#include <algorithm>
#include <climits>

#include "src/core/error.h"
#include "watchdog.h"

namespace mor::dist {
namespace {

constexpr int64_t kMaxPiece = int64_t(1) << 30;  // elements per MPI call (MPI counts are int)

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT32_T;
    case DType::I64: return MPI_INT64_T;
    case DType::BF16: return MPI_UINT16_T;  // moved as raw 16-bit words, never reduced
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }  // Avg = Sum / size

int int_count(int64_t n, const char* what, const std::string& group) {
  if (n > INT_MAX)
    fail_internal(what, " over ", group, ": ", n, " elements per rank exceed MPI's int count (", INT_MAX,
                  "). Hint: split the buffer into buckets of at most 2^31-1 elements.");
  return int(n);
}

MPI_Comm dup_of(MPI_Comm comm, const std::string& name) {
  MPI_Comm dup = MPI_COMM_NULL;
  mpi_check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", name);
  mpi_check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup", name);
  return dup;
}

int rank_of(MPI_Comm c) {
  int r = 0;
  mpi_check(MPI_Comm_rank(c, &r), "MPI_Comm_rank", "");
  return r;
}

int size_of(MPI_Comm c) {
  int n = 0;
  mpi_check(MPI_Comm_size(c, &n), "MPI_Comm_size", "");
  return n;
}

}  // namespace

void mpi_check(int rc, const char* call, const std::string& group) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  fail_internal(call, group.empty() ? "" : " over ", group, " failed: ", std::string(text, size_t(len)), " (MPI error ", rc,
                "). Hint: another rank probably failed first; look for its message above.");
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, const std::string& name)
    : MpiCommunicator(Adopt{}, dup_of(comm, name), name) {}

MpiCommunicator::MpiCommunicator(Adopt, MPI_Comm owned, const std::string& name)
    : Communicator(rank_of(owned), size_of(owned), name), comm_(owned) {
  mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", name);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key, const std::string& name) {
  MPI_Comm sub = MPI_COMM_NULL;
  {
    WatchdogScope w("split", this->name(), size(), 0);
    mpi_check(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split", this->name());
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator(Adopt{}, sub, name));
}

void MpiCommunicator::do_all_reduce(void* buf, int64_t count, DType t, ReduceOp op) {
  const size_t esize = dtype_size(t);
  WatchdogScope w("all_reduce", name(), size(), double(count) * double(esize));
  int64_t done = 0;
  do {  // one call even for count 0: every rank takes part in the same calls
    const int64_t n = std::min(count - done, kMaxPiece);
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(buf) + done * esize, int(n), mpi_type(t), mpi_op(op), comm_),
              "MPI_Allreduce", name());
    done += n;
  } while (done < count);
  if (op == ReduceOp::Avg) scale_divide(buf, count, t, size());
}

void MpiCommunicator::do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) {
  const int n = int_count(chunk, "reduce_scatter", name());
  WatchdogScope w("reduce_scatter", name(), size(), double(chunk) * size() * double(dtype_size(t)));
  mpi_check(MPI_Reduce_scatter_block(in, out, n, mpi_type(t), mpi_op(op), comm_), "MPI_Reduce_scatter_block", name());
  if (op == ReduceOp::Avg) scale_divide(out, chunk, t, size());
}

void MpiCommunicator::do_all_gather(const void* in, void* out, int64_t chunk, DType t) {
  const int n = int_count(chunk, "all_gather", name());
  WatchdogScope w("all_gather", name(), size(), double(chunk) * size() * double(dtype_size(t)));
  mpi_check(MPI_Allgather(in, n, mpi_type(t), out, n, mpi_type(t), comm_), "MPI_Allgather", name());
}

void MpiCommunicator::do_broadcast(void* buf, int64_t count, DType t, int root) {
  const size_t esize = dtype_size(t);
  WatchdogScope w("broadcast", name(), size(), double(count) * double(esize));
  int64_t done = 0;
  do {
    const int64_t n = std::min(count - done, kMaxPiece);
    mpi_check(MPI_Bcast(static_cast<char*>(buf) + done * esize, int(n), mpi_type(t), root, comm_), "MPI_Bcast", name());
    done += n;
  } while (done < count);
}

void MpiCommunicator::do_barrier() {
  WatchdogScope w("barrier", name(), size(), 0);
  mpi_check(MPI_Barrier(comm_), "MPI_Barrier", name());
}

}  // namespace mor::dist
