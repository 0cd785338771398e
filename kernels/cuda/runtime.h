// Thin CUDA runtime wrapper used by the framework core (allocation, copies, device probing).
// Only compiled when the build has CUDA; callers include it under MOR_HAVE_CUDA.
#pragma once
#include <cstddef>
#include <string>

namespace mor::cuda {

// Number of CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count();
void* device_malloc(size_t bytes, int device);
void device_free(void* ptr, int device);
// Copies `bytes` between host and/or device pointers (flags say which side is on the device).
void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void memset_zero(void* ptr, size_t bytes);
void synchronize();  // the current device
void synchronize_device(int device);
void set_device(int device);  // cudaSetDevice: this thread's kernels launch there
std::string device_name(int device);  // cudaDeviceProp::name, e.g. "NVIDIA H100 80GB HBM3"
size_t device_total_memory(int device);

// Streams and events, for the allocator's stream-ordered frees (src/core/storage.cpp): a block
// freed after use on a stream is reused only once an event recorded there has completed.
void* stream_create(int device);        // a non-blocking stream
void stream_destroy(void* stream);
void* event_record(void* stream, int device);  // a new event recorded on `stream` (nullptr: the default stream)
bool event_done(void* event);           // true once everything before the event has run
void event_destroy(void* event);

}  // namespace mor::cuda
