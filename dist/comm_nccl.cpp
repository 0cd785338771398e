// NcclCommunicator; see comm_nccl.h.
#include "comm_nccl.h"

#include <cuda_runtime.h>

#include "src/core/device.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail_internal(what, " failed: ", cudaGetErrorString(e));
}

void nccl_check(ncclResult_t r, const char* what, const std::string& group, ncclComm_t comm = nullptr) {
  if (r == ncclSuccess) return;
  const char* last = comm ? ncclGetLastError(comm) : nullptr;
  fail_internal(what, " over ", group, " failed: ", ncclGetErrorString(r), last && *last ? " (" : "", last ? last : "",
                last && *last ? ")" : "", ". Hint: run with NCCL_DEBUG=WARN for NCCL's own explanation.");
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
    case DType::I64: return ncclInt64;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Avg: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
  }
  return ncclSum;
}

}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int device, const std::string& name)
    : Communicator(bootstrap.rank(), bootstrap.size(), name), device_(device) {
  if (!bootstrap.device().is_cpu())
    fail_internal("NcclCommunicator ", name, ": the bootstrap communicator must be a CPU one (MPI or local)");
  const int n = cuda_device_count();
  if (device < 0 || device >= n)
    fail_input("NCCL group ", name, ": CUDA device ", device, " is not available (", n,
               " visible). Hint: run one rank per GPU; RankInfo::cuda_device gives each rank its device.");
  ncclUniqueId id{};
  if (rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId", name);
  static_assert(sizeof(ncclUniqueId) % sizeof(int32_t) == 0, "ncclUniqueId is sent as 32-bit words");
  bootstrap.broadcast(&id, int64_t(sizeof id / sizeof(int32_t)), DType::I32, 0);
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclCommInitRank(&comm_, size(), id, rank()), "ncclCommInitRank", name);
  make_stream();
}

NcclCommunicator::NcclCommunicator(ncclComm_t comm, int rank, int size, int device, const std::string& name)
    : Communicator(rank, size, name), device_(device), comm_(comm) {
  make_stream();
}

void NcclCommunicator::make_stream() {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda_check(cudaMalloc(&scratch_, sizeof(int32_t)), "cudaMalloc");
  cuda_check(cudaMemset(scratch_, 0, sizeof(int32_t)), "cudaMemset");
}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (comm_) ncclCommDestroy(comm_);
  if (scratch_) cudaFree(scratch_);
  if (stream_) cudaStreamDestroy(stream_);
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key, const std::string& name) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 18, 0)
  ncclComm_t sub = nullptr;
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclCommSplit(comm_, color, key, &sub, nullptr), "ncclCommSplit", this->name(), comm_);
  int r = 0, n = 0;
  nccl_check(ncclCommUserRank(sub, &r), "ncclCommUserRank", name, sub);
  nccl_check(ncclCommCount(sub, &n), "ncclCommCount", name, sub);
  return std::unique_ptr<Communicator>(new NcclCommunicator(sub, r, n, device_, name));
#else
  fail_internal("NCCL group ", this->name(), ": split needs NCCL >= 2.18. Hint: build NCCL groups over the MPI "
                "groups of a ProcessGrid instead.");
#endif
}

void NcclCommunicator::synchronize() {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

void NcclCommunicator::do_all_reduce(void* buf, int64_t count, DType t, ReduceOp op) {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclAllReduce(buf, buf, size_t(count), nccl_type(t), nccl_op(op), comm_, stream_), "ncclAllReduce", name(), comm_);
}

void NcclCommunicator::do_reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclReduceScatter(in, out, size_t(chunk), nccl_type(t), nccl_op(op), comm_, stream_), "ncclReduceScatter",
             name(), comm_);
}

void NcclCommunicator::do_all_gather(const void* in, void* out, int64_t chunk, DType t) {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclAllGather(in, out, size_t(chunk), nccl_type(t), comm_, stream_), "ncclAllGather", name(), comm_);
}

void NcclCommunicator::do_broadcast(void* buf, int64_t count, DType t, int root) {
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  nccl_check(ncclBroadcast(buf, buf, size_t(count), nccl_type(t), root, comm_, stream_), "ncclBroadcast", name(), comm_);
}

void NcclCommunicator::do_barrier() {
  do_all_reduce(scratch_, 1, DType::I32, ReduceOp::Sum);
  synchronize();
}

}  // namespace mor::dist
