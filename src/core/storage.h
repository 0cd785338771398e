// Reference-counted device memory with a caching allocator behind it.
// Training steps allocate the same activation sizes every step; caching the blocks avoids
// page-faulting hundreds of MB per step. Peak/current byte counters feed `mor bench`.
//
// Pools are kept per (device, stream): a block is allocated on the device's current stream
// (current_stream) and, when freed, goes back to that stream's pool, so work queued on the stream
// before the free is ordered before any reuse. A block also used on other streams (record_stream)
// is held back until an event recorded on each of them has completed (CUDA; the CPU and the test
// device run synchronously, so their frees are immediate).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device.h"

namespace mor {

class Storage {
 public:
  // Uninitialised memory of at least `bytes` bytes, 64-byte aligned.
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  // Non-owning wrapper around external memory (e.g. an mmap'ed shard). `keepalive` is held.
  static std::shared_ptr<Storage> wrap(void* ptr, size_t bytes, Device device,
                                       std::shared_ptr<void> keepalive = nullptr);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  void* stream() const { return stream_; }
  // Marks the block as used by work queued on `stream` as well (frees wait for it).
  void record_stream(void* stream);

 private:
  Storage() = default;
  void* ptr_ = nullptr;
  void* stream_ = nullptr;               // the stream whose pool the block belongs to
  std::vector<void*> other_streams_;     // further streams that used the block
  size_t bytes_ = 0;
  size_t block_bytes_ = 0;  // size class of the cached block (0: not owned)
  Device device_;
  std::shared_ptr<void> keepalive_;
};

// The stream work for `device` is queued on from this thread (nullptr: the default stream; always
// nullptr on the CPU and the test device).
void* current_stream(Device device);
// RAII: makes `stream` the current stream of `device` on this thread for the scope's lifetime.
class StreamScope {
 public:
  StreamScope(Device device, void* stream);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  Device device_;
  void* previous_;
};

struct MemoryStats {
  int64_t in_use_bytes = 0;    // live tensors
  int64_t peak_in_use_bytes = 0;
  int64_t cached_bytes = 0;    // free blocks kept for reuse
};
// Over all of the device's streams.
MemoryStats memory_stats(Device device = Device::cpu());
void memory_reset_peak(Device device = Device::cpu());
// Returns all cached free blocks to the system.
void memory_release_cached(Device device = Device::cpu());

// Bytes the caching allocator reserves for a request of `bytes` (its size class): the memory
// estimate (src/model/memory_estimate.h) sums these, one per tensor.
size_t storage_block_bytes(size_t bytes);

// A sentence added to out-of-memory errors, e.g. the start-up memory estimate (set by the
// trainer's memory check); empty by default.
void set_out_of_memory_note(const std::string& note);
std::string out_of_memory_note();
// The hint that ends every out-of-memory error.
std::string out_of_memory_hint();

}  // namespace mor
