// NcclCommunicator over the MPI world: all_reduce / reduce_scatter / all_gather / broadcast on
// device buffers, values in closed form from rank numbers. Skips without NCCL in the build, and
// without one CUDA device per local rank (NCCL refuses two ranks on one GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dist/runtime.h"
#include "src/core/device.h"

#ifdef MOR_HAVE_NCCL
#include "dist/comm_nccl.h"
#include "kernels/cuda/runtime.h"
#endif

namespace mor::dist {
namespace {

TEST(Nccl, CollectivesOnDeviceBuffers) {
#ifndef MOR_HAVE_NCCL
  GTEST_SKIP() << "this build has no NCCL";
#else
  const int devices = cuda::device_count();
  // Every rank decides the same way (device counts can differ across nodes): skip together.
  const int64_t ok = world().all_reduce_value(int64_t(devices >= rank_info().local_size ? 0 : 1), ReduceOp::Max);
  if (ok != 0) GTEST_SKIP() << "needs one CUDA device per local rank (this rank sees " << devices << ")";
  NcclCommunicator nc(world(), rank_info().cuda_device, "world-nccl");
  const int n = nc.size(), r = nc.rank();
  const int64_t chunk = 1000003;
  std::vector<float> host(size_t(chunk * n));
  for (size_t i = 0; i < host.size(); ++i) host[i] = float(r + 1) * float(i % 97 + 1);
  const size_t bytes = host.size() * sizeof(float);
  void* a = cuda::device_malloc(bytes, nc.device().index);
  void* b = cuda::device_malloc(bytes, nc.device().index);
  cuda::copy_bytes(a, true, host.data(), false, bytes);
  nc.all_reduce(a, chunk * n, DType::F32, ReduceOp::Sum);
  nc.synchronize();
  std::vector<float> back(host.size());
  cuda::copy_bytes(back.data(), false, a, true, bytes);
  int64_t bad = 0;
  for (size_t i = 0; i < back.size(); ++i) bad += back[i] != float(n * (n + 1) / 2) * float(i % 97 + 1);
  EXPECT_EQ(bad, 0);
  cuda::copy_bytes(a, true, host.data(), false, bytes);
  nc.reduce_scatter(a, b, chunk, DType::F32, ReduceOp::Avg);
  nc.synchronize();
  cuda::copy_bytes(back.data(), false, b, true, size_t(chunk) * sizeof(float));
  bad = 0;
  for (int64_t i = 0; i < chunk; ++i)
    bad += std::abs(back[size_t(i)] - float(n + 1) / 2 * float((r * chunk + i) % 97 + 1)) > 1e-5f * 97;
  EXPECT_EQ(bad, 0);
  nc.all_gather(a, b, chunk, DType::F32);  // rank k's first chunk lands at k*chunk
  nc.broadcast(a, chunk, DType::F32, n - 1);
  nc.barrier();
  cuda::copy_bytes(back.data(), false, b, true, bytes);
  for (int k = 0; k < n; ++k) EXPECT_EQ(back[size_t(k * chunk + 1)], float(k + 1) * 2);
  cuda::copy_bytes(back.data(), false, a, true, sizeof(float) * 2);
  EXPECT_EQ(back[1], float(n) * 2);
  cuda::device_free(a, nc.device().index);
  cuda::device_free(b, nc.device().index);
#endif
}

}  // namespace
}  // namespace mor::dist
