// Which kernel table serves which device, and the errors for a missing kernel or mixed devices
// (see dispatch.h).
#include "src/autodiff/dispatch.h"

#ifdef MOR_HAVE_CUDA
#include "kernels/cuda/cuda_table.h"
#endif

namespace mor::ad {

const kernels::KernelTable& kernels_for(Device d) {
  if (d.host_memory()) return kernels::cpu_kernel_table();  // the CPU and the test device
#ifdef MOR_HAVE_CUDA
  return kernels::cuda_kernel_table();
#else
  fail_input("device ", d.str(), ": this build has no CUDA kernels. Hint: use device: cpu, or rebuild where nvcc is on PATH.");
#endif
}

void fail_no_kernel(const char* op, Device d, const char* kernel, DType dtype) {
  fail_input("op '", op, "' has no ", d.is_test() ? "cpu" : d.str(), " kernel '", kernel, "' for ", dtype_name(dtype),
             " tensors in this build. Hint: run with device: cpu", dtype == DType::F64 ? ", or f32 tensors" : "", ".");
}

Device op_device(const char* op, std::initializer_list<const Tensor*> inputs) {
  Device d;
  bool first = true;
  for (const Tensor* t : inputs) {
    if (!t || !t->defined()) continue;
    if (first) d = t->device(), first = false;
    else if (!(t->device() == d))
      fail_internal("op '", op, "': inputs on ", d.str(), " and ", t->device().str(),
                    ". Hint: move tensors explicitly with to(device) before the op.");
  }
  return d;
}

}  // namespace mor::ad
