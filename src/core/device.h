// Where a tensor's storage lives. CPU always; CUDA when the build has it and a GPU is present.
// Moving data between devices is always an explicit call (Tensor::to), never implicit.
#pragma once
#include <string>

namespace mor {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
};

// True when this binary was built with CUDA kernels.
bool cuda_compiled();
// Number of usable CUDA devices (0 when not compiled, no driver, or no GPU).
int cuda_device_count();
// Parses "cpu" / "cuda" / "cuda:N"; throws BadInput with a hint otherwise.
Device parse_device(const std::string& s);

}  // namespace mor
