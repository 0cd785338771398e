// Where a tensor's storage lives. CPU always; CUDA when the build has it and a GPU is present.
// Moving data between devices is always an explicit call (Tensor::to), never implicit.
//
// The test device ("test") proves the device seam without a GPU: its memory is host memory from
// its own allocator pool and its kernels are the CPU kernels (kernels/kernel_table.h), but it is a
// separate device -- host access to its tensors is refused (Tensor::data), copies to and from it
// are explicit -- so a run on it only succeeds when every op, router and optimizer step goes
// through the kernel table and allocates on its inputs' device. Training, evaluation and
// generation on it match device: cpu bit for bit (tests/unit/test_device_seam.cpp).
#pragma once
#include <string>

namespace mor {

enum class DeviceType : uint8_t { CPU, CUDA, TEST };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool is_test() const { return type == DeviceType::TEST; }
  // The device's memory is host memory (CPU and the test device; only the CPU allows host access).
  bool host_memory() const { return !is_cuda(); }
  std::string str() const { return is_cpu() ? "cpu" : is_test() ? "test" : "cuda:" + std::to_string(index); }
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  static Device test() { return {DeviceType::TEST, 0}; }
};

// True when this binary was built with CUDA kernels.
bool cuda_compiled();
// Number of usable CUDA devices (0 when not compiled, no driver, or no GPU).
int cuda_device_count();
// Parses "cpu" / "cuda" / "cuda:N" / "test"; throws BadInput with a hint otherwise.
Device parse_device(const std::string& s);
// Waits for all work queued on the device (no-op on the CPU and the test device, which run
// synchronously): for timing.
void device_synchronize(Device d);
// Makes `d` the device this thread's kernels run on (cudaSetDevice; no-op off CUDA). Called where a
// run picks its device (the trainer, benchmarks, model loading).
void device_activate(Device d);
// A GPU's total memory in bytes (-1 for host-memory devices).
int64_t device_memory_bytes(Device d);
// "cpu", "test", or the GPU's name as CUDA reports it ("NVIDIA H100 80GB HBM3").
std::string device_name(Device d);

}  // namespace mor
