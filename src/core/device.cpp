// Device probing: CUDA is optional at build time and at run time.
#include "device.h"

#include "error.h"

#ifdef MOR_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace mor {

bool cuda_compiled() {
#ifdef MOR_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

void device_synchronize(Device d) {
#ifdef MOR_HAVE_CUDA
  if (d.is_cuda()) cuda::synchronize_device(d.index);
#else
  (void)d;
#endif
}

void device_activate(Device d) {
#ifdef MOR_HAVE_CUDA
  if (d.is_cuda()) cuda::set_device(d.index);
#else
  (void)d;
#endif
}

int64_t device_memory_bytes(Device d) {
#ifdef MOR_HAVE_CUDA
  if (d.is_cuda()) return int64_t(cuda::device_total_memory(d.index));
#endif
  (void)d;
  return -1;
}

std::string device_name(Device d) {
#ifdef MOR_HAVE_CUDA
  if (d.is_cuda()) return cuda::device_name(d.index);
#endif
  return d.str();
}

int cuda_device_count() {
#ifdef MOR_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "test") return Device::test();
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    const std::string n = s.size() > 5 ? s.substr(5) : "0";
    if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
      fail_input("device '", s, "': the index after 'cuda:' must be a number. Hint: cuda:0.");
    const int idx = std::stoi(n);
    if (!cuda_compiled()) fail_input("device '", s, "': this build has no CUDA. Hint: use device: cpu, or rebuild where nvcc is on PATH.");
    if (idx >= cuda_device_count())
      fail_input("device '", s, "': only ", cuda_device_count(), " CUDA device(s) visible. Hint: use device: cpu.");
    return Device::cuda(idx);
  }
  fail_input("unknown device '", s, "'. Hint: use cpu, cuda, cuda:N, or test (the CPU kernels behind the device seam, for checks).");
}

}  // namespace mor
