// The x86-64 level this copy of the kernels was compiled for; see isa_level.h.
#include "isa_level.h"

#ifndef MOR_KERNEL_LEVEL
#error "MOR_KERNEL_LEVEL must be defined by the build (kernels/CMakeLists.txt)"
#endif

namespace mor::kernels {

const char* isa_level() { return MOR_KERNEL_LEVEL; }

}  // namespace mor::kernels
