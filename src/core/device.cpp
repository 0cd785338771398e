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

int cuda_device_count() {
#ifdef MOR_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    int idx = s.size() > 5 ? std::stoi(s.substr(5)) : 0;
    if (!cuda_compiled()) fail_input("device '", s, "': this build has no CUDA. Hint: use device: cpu, or rebuild where nvcc is on PATH.");
    if (idx >= cuda_device_count())
      fail_input("device '", s, "': only ", cuda_device_count(), " CUDA device(s) visible. Hint: use device: cpu.");
    return Device::cuda(idx);
  }
  fail_input("unknown device '", s, "'. Hint: use cpu, cuda or cuda:N.");
}

}  // namespace mor
