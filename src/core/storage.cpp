// Caching allocator: free blocks are kept per (device, stream) in per-size-class lists and reused.
// Size classes: 4 KiB granularity below 1 MiB, then 8 classes per power of two, so a new block is
// at most 12.5% larger than asked for; a request takes the smallest cached block of its class or
// up to twice it. One mutex per device; allocation is not on any inner loop.
#include "storage.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "error.h"

#ifdef MOR_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace mor {
namespace {

size_t size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (1u << 20)) return (bytes + 4095) & ~size_t(4095);
  int top = 63 - __builtin_clzll(bytes);  // 2^top <= bytes < 2^(top+1)
  size_t step = size_t(1) << (top - 3);
  return (bytes + step - 1) / step * step;
}

// A request may take a cached block up to this much larger than its size class. Exact reuse alone
// let the cache grow without bound when tensor sizes vary from step to step (token-choice routing,
// threshold selection: a new class per step, every old block kept): a tiny token-choice run's peak
// RSS grew by 20 MB per step.
constexpr double kReuseSlack = 2.0;

// One device's memory: a free list per stream, the device's counters, and blocks whose free
// waits for other streams.
struct Pending {
  void* ptr;
  size_t cls;
  void* stream;                 // the pool it returns to
  std::vector<void*> events;    // one per other stream that used it
};
struct Pool {
  std::mutex mu;
  std::map<void*, std::multimap<size_t, void*>> free_blocks;  // stream -> size class -> block
  std::vector<Pending> pending;
  MemoryStats stats;
};

// Leaked on purpose: tensors held by static objects may be freed after static destruction.
// One pool per device: the CPU, the test device, and each CUDA device.
Pool& pool_for(Device d) {
  static std::mutex mu;
  static auto* pools = new std::map<std::pair<int, int>, Pool*>();
  std::lock_guard<std::mutex> lock(mu);
  Pool*& p = (*pools)[{int(d.type), d.index}];
  if (!p) p = new Pool();
  return *p;
}

// Moves held-back blocks whose events have all completed to their stream's free list (pool.mu held).
void collect_pending(Pool& pool) {
#ifdef MOR_HAVE_CUDA
  for (size_t i = 0; i < pool.pending.size();) {
    Pending& b = pool.pending[i];
    bool done = true;
    for (void* e : b.events) done = done && cuda::event_done(e);
    if (!done) {
      ++i;
      continue;
    }
    for (void* e : b.events) cuda::event_destroy(e);
    pool.free_blocks[b.stream].emplace(b.cls, b.ptr);
    pool.stats.cached_bytes += int64_t(b.cls);
    pool.pending[i] = pool.pending.back();
    pool.pending.pop_back();
  }
#else
  (void)pool;
#endif
}

thread_local std::map<std::pair<int, int>, void*> t_current_stream;

std::mutex g_note_mu;
std::string& note_storage() {
  static std::string* note = new std::string();  // leaked like the pools
  return *note;
}

void* raw_alloc(size_t bytes, Device d) {
  if (d.host_memory()) {
    void* p = std::aligned_alloc(64, bytes);
    if (!p) {
      const MemoryStats st = memory_stats(d);
      const std::string note = out_of_memory_note();
      throw OutOfMemoryError(detail::concat("out of host memory allocating ", bytes, " bytes (tensors in use ",
                                            st.in_use_bytes, " bytes, cached ", st.cached_bytes, ")",
                                            note.empty() ? "" : "; " + note, ". ", out_of_memory_hint()));
    }
    return p;
  }
#ifdef MOR_HAVE_CUDA
  try {
    return cuda::device_malloc(bytes, d.index);
  } catch (const std::runtime_error&) {
    memory_release_cached(d);  // give the cached blocks back, then try once more
  }
  try {
    return cuda::device_malloc(bytes, d.index);
  } catch (const std::runtime_error& e) {
    const MemoryStats st = memory_stats(d);
    throw OutOfMemoryError(detail::concat("out of memory on ", d.str(), " allocating ", bytes, " bytes (", e.what(),
                                          "; tensors in use ", st.in_use_bytes, " bytes). ", out_of_memory_hint()));
  }
#else
  fail_internal("CUDA allocation requested but this build has no CUDA support");
#endif
}

void raw_free(void* p, Device d) {
  if (d.host_memory()) {
    std::free(p);
    return;
  }
#ifdef MOR_HAVE_CUDA
  cuda::device_free(p, d.index);
#endif
}

}  // namespace

size_t storage_block_bytes(size_t bytes) { return size_class(bytes); }

void set_out_of_memory_note(const std::string& note) {
  std::lock_guard<std::mutex> lock(g_note_mu);
  note_storage() = note;
}

std::string out_of_memory_note() {
  std::lock_guard<std::mutex> lock(g_note_mu);
  return note_storage();
}

std::string out_of_memory_hint() {
  return "Hint: another process may have taken the memory, or a limit (ulimit -v, cgroup) is lower than the "
         "estimate assumed; lower train.micro_batch (raise train.grad_accum to keep the global batch), "
         "train.seq_len or the model size.";
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  auto s = std::shared_ptr<Storage>(new Storage());
  size_t cls = size_class(bytes);
  void* stream = current_stream(device);
  Pool& pool = pool_for(device);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    if (!pool.pending.empty()) collect_pending(pool);
    // The smallest cached block of this stream of at least this size class and at most kReuseSlack times it.
    auto& blocks = pool.free_blocks[stream];
    auto it = blocks.lower_bound(cls);
    if (it != blocks.end() && double(it->first) <= kReuseSlack * double(cls)) {
      cls = it->first;
      p = it->second;
      blocks.erase(it);
      pool.stats.cached_bytes -= int64_t(cls);
    }
    pool.stats.in_use_bytes += int64_t(cls);
    if (pool.stats.in_use_bytes > pool.stats.peak_in_use_bytes)
      pool.stats.peak_in_use_bytes = pool.stats.in_use_bytes;
  }
  if (!p) {
    try {
      p = raw_alloc(cls, device);
    } catch (...) {
      std::lock_guard<std::mutex> lock(pool.mu);
      pool.stats.in_use_bytes -= int64_t(cls);
      throw;
    }
  }
  s->ptr_ = p;
  s->bytes_ = bytes;
  s->block_bytes_ = cls;
  s->device_ = device;
  s->stream_ = stream;
  return s;
}

void Storage::record_stream(void* stream) {
  if (stream == stream_ || !device_.is_cuda()) return;  // host-memory devices are synchronous
  for (void* o : other_streams_)
    if (o == stream) return;
  other_streams_.push_back(stream);
}

std::shared_ptr<Storage> Storage::wrap(void* ptr, size_t bytes, Device device,
                                       std::shared_ptr<void> keepalive) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->ptr_ = ptr;
  s->bytes_ = bytes;
  s->device_ = device;
  s->keepalive_ = std::move(keepalive);
  return s;
}

Storage::~Storage() {
  if (block_bytes_ == 0) return;
  Pool& pool = pool_for(device_);
  std::lock_guard<std::mutex> lock(pool.mu);
  pool.stats.in_use_bytes -= int64_t(block_bytes_);
#ifdef MOR_HAVE_CUDA
  if (!other_streams_.empty()) {  // reused only after the other streams' work on it has run
    Pending b{ptr_, block_bytes_, stream_, {}};
    for (void* st : other_streams_) b.events.push_back(cuda::event_record(st, device_.index));
    pool.pending.push_back(std::move(b));
    return;
  }
#endif
  pool.free_blocks[stream_].emplace(block_bytes_, ptr_);
  pool.stats.cached_bytes += int64_t(block_bytes_);
}

void* current_stream(Device device) {
  if (!device.is_cuda()) return nullptr;
  auto it = t_current_stream.find({int(device.type), device.index});
  return it == t_current_stream.end() ? nullptr : it->second;
}

StreamScope::StreamScope(Device device, void* stream) : device_(device), previous_(current_stream(device)) {
  if (device.is_cuda()) t_current_stream[{int(device.type), device.index}] = stream;
}

StreamScope::~StreamScope() {
  if (device_.is_cuda()) t_current_stream[{int(device_.type), device_.index}] = previous_;
}

MemoryStats memory_stats(Device device) {
  Pool& pool = pool_for(device);
  std::lock_guard<std::mutex> lock(pool.mu);
  return pool.stats;
}

void memory_reset_peak(Device device) {
  Pool& pool = pool_for(device);
  std::lock_guard<std::mutex> lock(pool.mu);
  pool.stats.peak_in_use_bytes = pool.stats.in_use_bytes;
}

void memory_release_cached(Device device) {
  Pool& pool = pool_for(device);
  std::lock_guard<std::mutex> lock(pool.mu);
  if (!pool.pending.empty()) collect_pending(pool);
  for (auto& [stream, blocks] : pool.free_blocks)
    for (auto& [cls, p] : blocks) raw_free(p, device);
  pool.free_blocks.clear();
  pool.stats.cached_bytes = 0;
}

}  // namespace mor
