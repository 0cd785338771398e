// Caching allocator: free blocks are kept in per-size-class lists and reused.
// Size classes: 4 KiB granularity below 1 MiB, then 8 classes per power of two, so a new block is
// at most 12.5% larger than asked for; a request takes the smallest cached block of its class or
// up to twice it. One mutex; allocation is not on any inner loop.
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

struct Pool {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // size class -> block
  MemoryStats stats;
};

// Leaked on purpose: tensors held by static objects may be freed after static destruction.
Pool& pool_for(Device d) {
  static Pool* cpu_pool = new Pool();
  static Pool* cuda_pool = new Pool();
  return d.is_cpu() ? *cpu_pool : *cuda_pool;
}

std::mutex g_note_mu;
std::string& note_storage() {
  static std::string* note = new std::string();  // leaked like the pools
  return *note;
}

void* raw_alloc(size_t bytes, Device d) {
  if (d.is_cpu()) {
    void* p = std::aligned_alloc(64, bytes);
    if (!p) {
      const MemoryStats st = memory_stats(d);
      const std::string note = out_of_memory_note();
      fail_internal("out of host memory allocating ", bytes, " bytes (tensors in use ", st.in_use_bytes,
                    " bytes, cached ", st.cached_bytes, ")", note.empty() ? "" : "; " + note, ". ",
                    out_of_memory_hint());
    }
    return p;
  }
#ifdef MOR_HAVE_CUDA
  return cuda::device_malloc(bytes, d.index);
#else
  fail_internal("CUDA allocation requested but this build has no CUDA support");
#endif
}

void raw_free(void* p, Device d) {
  if (d.is_cpu()) {
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
  Pool& pool = pool_for(device);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    // The smallest cached block of at least this size class and at most kReuseSlack times it.
    auto it = pool.free_blocks.lower_bound(cls);
    if (it != pool.free_blocks.end() && double(it->first) <= kReuseSlack * double(cls)) {
      cls = it->first;
      p = it->second;
      pool.free_blocks.erase(it);
      pool.stats.cached_bytes -= int64_t(cls);
    }
    pool.stats.in_use_bytes += int64_t(cls);
    if (pool.stats.in_use_bytes > pool.stats.peak_in_use_bytes)
      pool.stats.peak_in_use_bytes = pool.stats.in_use_bytes;
  }
  if (!p) p = raw_alloc(cls, device);
  s->ptr_ = p;
  s->bytes_ = bytes;
  s->block_bytes_ = cls;
  s->device_ = device;
  return s;
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
  pool.free_blocks.emplace(block_bytes_, ptr_);
  pool.stats.in_use_bytes -= int64_t(block_bytes_);
  pool.stats.cached_bytes += int64_t(block_bytes_);
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
  for (auto& [cls, p] : pool.free_blocks) raw_free(p, device);
  pool.free_blocks.clear();
  pool.stats.cached_bytes = 0;
}

}  // namespace mor
