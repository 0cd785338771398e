// 64-byte-aligned heap arrays for kernel buffers (GEMM packing, pre-packed and reordered weights):
// owned by a unique_ptr that frees with std::free; a failed allocation throws std::bad_alloc.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace mor::kernels {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
using AlignedArray = std::unique_ptr<T, FreeDeleter>;

// At least `bytes` bytes (rounded up to whole 64-byte lines; at least one line), 64-byte aligned.
template <typename T>
AlignedArray<T> aligned_array(size_t bytes) {
  const size_t rounded = (bytes > 0 ? bytes + 63 : 64) / 64 * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, rounded));
  if (!p) throw std::bad_alloc();
  return AlignedArray<T>(p);
}

}  // namespace mor::kernels
