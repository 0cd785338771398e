// Thin CUDA runtime wrapper used by the framework core (allocation, copies, device probing).
// Only compiled when the build has CUDA; callers include it under MOR_HAVE_CUDA.
#pragma once
#include <cstddef>

namespace mor::cuda {

// Number of CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count();
void* device_malloc(size_t bytes, int device);
void device_free(void* ptr, int device);
// Copies `bytes` between host and/or device pointers (flags say which side is on the device).
void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void memset_zero(void* ptr, size_t bytes);
void synchronize();

}  // namespace mor::cuda
