// Helpers shared by op implementations: dtype dispatch, the device an op runs on, its kernel
// from that device's table (kernels/kernel_table.h), and shape checks.
#pragma once
#include <string>

#include "kernels/kernel_table.h"
#include "src/core/tensor.h"

// Runs the statement with `T` bound to float or double according to `dtype`.
#define MOR_DISPATCH_FLOAT(dtype, T, ...)                                        \
  switch (dtype) {                                                               \
    case ::mor::DType::F32: {                                                    \
      using T = float;                                                           \
      __VA_ARGS__;                                                               \
      break;                                                                     \
    }                                                                            \
    case ::mor::DType::F64: {                                                    \
      using T = double;                                                          \
      __VA_ARGS__;                                                               \
      break;                                                                     \
    }                                                                            \
    default:                                                                     \
      ::mor::fail_internal("op needs f32 or f64 tensors, got ", ::mor::dtype_name(dtype)); \
  }

namespace mor::ad {

// The kernel table of a device: the CPU's for cpu and the test device, the CUDA one for cuda
// (when the build has it); any other device fails with a hint.
const kernels::KernelTable& kernels_for(Device d);

[[noreturn]] void fail_no_kernel(const char* op, Device d, const char* kernel, DType dtype);

// `entry` of the table, or a clear error naming the op, the kernel, the device and the dtype.
template <typename F>
F kernel_entry(const char* op, Device d, F entry, const char* kernel, DType dtype) {
  if (!entry) fail_no_kernel(op, d, kernel, dtype);
  return entry;
}

// The device every input of op lives on (all must agree; outputs are allocated there).
Device op_device(const char* op, std::initializer_list<const Tensor*> inputs);

inline void require_shape(const char* op, const char* what, bool ok, const Shape& got,
                          const std::string& expected) {
  if (!ok) fail_internal("op '", op, "': ", what, " has shape ", shape_str(got), ", expected ", expected);
}

}  // namespace mor::ad

// Runs kernel `entry` of element type T from device `dev`'s table on its current stream:
//   MOR_RUN("rmsnorm", dev, T, rmsnorm_forward, n, d, x, w, eps, y, rstd);
#define MOR_RUN(op, dev, T, entry, ...)                                                                            \
  ::mor::ad::kernel_entry(op, dev, ::mor::ad::kernels_for(dev).template of<T>().entry, #entry,                   \
                          ::mor::DTypeOf<T>::value)(::mor::current_stream(dev), __VA_ARGS__)
// The same for the table's untyped entries (integers, optimizer).
#define MOR_RUN_TABLE(op, dev, entry, ...)                                                                         \
  ::mor::ad::kernel_entry(op, dev, ::mor::ad::kernels_for(dev).entry, #entry, ::mor::DType::I32)(               \
      ::mor::current_stream(dev), __VA_ARGS__)
