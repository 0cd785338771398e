// Helpers shared by op implementations: dtype dispatch and device/shape checks.
#pragma once
#include <string>

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

// Device slot: every op checks where its inputs live. CPU kernels run here; a CUDA kernel is
// plugged in per op as it is written (kernels/cuda). Until then a clear error names the op.
inline void require_cpu(const char* op, const Tensor& t) {
  if (!t.device().is_cpu())
    fail_internal("op '", op, "' has no ", t.device().str(),
                  " kernel in this build. Hint: run with device: cpu.");
}

inline void require_shape(const char* op, const char* what, bool ok, const Shape& got,
                          const std::string& expected) {
  if (!ok) fail_internal("op '", op, "': ", what, " has shape ", shape_str(got), ", expected ", expected);
}

}  // namespace mor::ad
