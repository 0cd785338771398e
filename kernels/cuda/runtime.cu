// CUDA runtime wrapper; see runtime.h. Errors become std::runtime_error with the CUDA message.
#include "runtime.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace mor::cuda {
namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
// Copies, memsets and synchronisations also return the errors of earlier asynchronous kernels.
void check_sync(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e) +
                             " (maybe an earlier kernel's error: CUDA_LAUNCH_BLOCKING=1 reports it at its launch)");
}
}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error (no driver / no device)
    return 0;
  }
  return n;
}

void* device_malloc(size_t bytes, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky: clear it so later launch checks do not see it
    throw std::runtime_error(std::string("cudaMalloc of ") + std::to_string(bytes) +
                             " bytes: " + cudaGetErrorString(e));
  }
  return p;
}

void device_free(void* ptr, int device) {
  cudaSetDevice(device);
  cudaFree(ptr);
}

void copy_bytes(void* dst, bool dst_dev, const void* src, bool src_dev, size_t bytes) {
  cudaMemcpyKind kind = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  check_sync(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
}

void memset_zero(void* ptr, size_t bytes) { check_sync(cudaMemset(ptr, 0, bytes), "cudaMemset"); }

void synchronize() { check_sync(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void set_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

void synchronize_device(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check_sync(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

std::string device_name(int device) {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return p.name;
}

size_t device_total_memory(int device) {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return p.totalGlobalMem;
}

void* stream_create(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return s;
}

void stream_destroy(void* stream) { cudaStreamDestroy(static_cast<cudaStream_t>(stream)); }

void* event_record(void* stream, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check(cudaEventRecord(e, static_cast<cudaStream_t>(stream)), "cudaEventRecord");
  return e;
}

bool event_done(void* event) {
  const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (e == cudaErrorNotReady) return false;
  check(e, "cudaEventQuery");
  return true;
}

void event_destroy(void* event) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

}  // namespace mor::cuda
