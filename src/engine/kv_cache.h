// The inference engine's KV memory (MOR.md 5 and 8).
//
// KvPool: ONE static pool allocated when the engine starts and updated in place: `pages` pages of
// `page_tokens` rows, a row being one token's K and V in one layer ([2 Hkv, D], K after RoPE,
// then V) plus its position (i32). Every cache of every sequence takes pages from it as it grows
// and gives them back when the sequence ends, so the memory the engine reports (bytes()) is
// exactly what it allocated, and how much of it is in use is counted in pages.
//
// CacheMap: which effective layers keep a cache. Recursion-wise caching: every layer (a token
// appends its K/V at each depth it reaches, so deeper caches hold fewer tokens); KV sharing: the
// first and last layer and the layers of recursion 1, which later recursions read.
//
// PagedKv: the KvStore (src/model/llama_layer.h) through which layer_forward, the same layer
// code training runs, appends a batch's K/V to the caches and attends over them: sequence g of
// the call's layout uses caches[g].
#pragma once
#include <cstdint>
#include <vector>

#include "src/core/storage.h"
#include "src/core/tensor.h"
#include "src/model/llama_layer.h"
#include "src/model/sharing.h"

namespace mor {

class KvPool {
 public:
  // The pool lives on `device` (the model's).
  KvPool(int64_t pages, int64_t page_tokens, int64_t kv_heads, int64_t head_dim, DType dtype,
         Device device = Device::cpu());
  int64_t page_tokens() const { return page_tokens_; }
  int64_t pages() const { return int64_t(free_.size()) + used_; }
  int64_t free_pages() const { return int64_t(free_.size()); }
  int64_t used_pages() const { return used_; }
  int64_t peak_used_pages() const { return peak_; }
  // One cached token of one layer: K and V (2 Hkv D values) and its position.
  int64_t row_bytes() const { return row_bytes_; }
  // Bytes allocated for the pool: its K/V and position tensors as the allocator holds them.
  int64_t bytes() const { return int64_t(storage_block_bytes(kv_.nbytes()) + storage_block_bytes(positions_.nbytes())); }
  int64_t take();               // a free page; callers reserve first (free_pages() >= what they take)
  void give(int64_t page);
  const Tensor& kv() const { return kv_; }                 // [pages * page_tokens, 2 Hkv, D]
  const Tensor& positions() const { return positions_; }   // i32 [pages * page_tokens] (on the device)
  Tensor& kv() { return kv_; }
  Tensor& positions() { return positions_; }
  int64_t kv_heads() const { return hkv_; }
  int64_t head_dim() const { return d_; }

 private:
  int64_t page_tokens_, hkv_, d_, row_bytes_;
  Tensor kv_, positions_;
  std::vector<int64_t> free_;
  int64_t used_ = 0, peak_ = 0;
};

// One sequence's cache in one layer: its pages in order and how many rows it holds.
struct SeqCache {
  std::vector<int64_t> pages;
  int64_t len = 0;
};

// Pages a cache of `len` rows needs.
inline int64_t pages_for(int64_t len, int64_t page_tokens) { return (len + page_tokens - 1) / page_tokens; }

class CacheMap {
 public:
  CacheMap(const SharingPlan& plan, bool share_kv);
  bool owns(int64_t l) const { return source_[size_t(l)] == l; }
  int64_t source(int64_t l) const { return source_[size_t(l)]; }  // the cache layer l attends to
  int64_t layers() const { return int64_t(source_.size()); }

 private:
  std::vector<int64_t> source_;
};

class PagedKv final : public KvStore {
 public:
  // reuse: read the caches without appending (KV sharing, recursions >= 2). Appending needs the
  // pages reserved beforehand: caches[g]->pages must cover its length plus the rows it receives.
  PagedKv(KvPool& pool, std::vector<SeqCache*> caches, bool reuse) : pool_(pool), caches_(std::move(caches)), reuse_(reuse) {}
  bool reuses_kv() const override { return reuse_; }
  KvSource attend(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) override;

 private:
  KvPool& pool_;
  std::vector<SeqCache*> caches_;
  bool reuse_;
};

}  // namespace mor
