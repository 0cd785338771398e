// KV pool, cache map and the paged KvStore; see kv_cache.h.
#include "kv_cache.h"

#include <algorithm>

#include "src/core/error.h"

namespace mor {

KvPool::KvPool(int64_t pages, int64_t page_tokens, int64_t kv_heads, int64_t head_dim, DType dtype, Device device)
    : page_tokens_(page_tokens), hkv_(kv_heads), d_(head_dim) {
  MOR_CHECK(pages >= 1 && page_tokens >= 1, "KvPool: needs at least one page of one token");
  row_bytes_ = int64_t(2 * kv_heads * head_dim * int64_t(dtype_size(dtype))) + 4;
  kv_ = Tensor::zeros({pages * page_tokens, 2 * kv_heads, head_dim}, dtype, device);
  positions_ = Tensor::zeros({pages * page_tokens}, DType::I32, device);
  for (int64_t p = pages - 1; p >= 0; --p) free_.push_back(p);  // hand out page 0 first
}

int64_t KvPool::take() {
  MOR_CHECK(!free_.empty(), "KvPool: no free page (the engine reserves pages before it appends)");
  const int64_t p = free_.back();
  free_.pop_back();
  peak_ = std::max(peak_, ++used_);
  return p;
}

void KvPool::give(int64_t page) {
  free_.push_back(page);
  --used_;
}

CacheMap::CacheMap(const SharingPlan& plan, bool share_kv) {
  source_.resize(size_t(plan.effective_layers()));
  for (int64_t l = 0; l < plan.effective_layers(); ++l) source_[size_t(l)] = l;
  if (!share_kv) return;
  const auto first = plan.step_layers(0);
  for (int64_t r = 1; r < plan.num_recursions(); ++r) {
    const auto layers = plan.step_layers(r);
    for (size_t j = 0; j < layers.size(); ++j) source_[size_t(layers[j])] = first[j];
  }
}

KvSource PagedKv::attend(const ad::Var& qkv, const ad::SeqLayout& layout, const LayerShape& s) {
  const int64_t S = layout.n_seq(), P = pool_.page_tokens(), Hq = s.n_heads, Hkv = s.n_kv_heads, D = s.head_dim;
  MOR_CHECK(int64_t(caches_.size()) == S, "PagedKv: ", caches_.size(), " caches for ", S, " sequences");
  MOR_CHECK(Hkv == pool_.kv_heads() && D == pool_.head_dim(), "PagedKv: the pool's rows are not this layer's K/V");
  Tensor& kv = pool_.kv();
  const int64_t* off = layout.offsets.data<int64_t>();
  if (!reuse_) {
    // Append each row's K and V (heads Hq .. Hq + 2 Hkv of qkv) and its position at the end of its
    // sequence's cache: the pool rows come from the host's page tables, the copies are one gather
    // and two scatters on the device.
    const Tensor& src = qkv->value;
    MOR_CHECK(src.dtype() == kv.dtype() && src.device() == kv.device(), "PagedKv: the pool's dtype or device is not the model's");
    const int64_t n = layout.rows(), H = Hq + 2 * Hkv;
    std::vector<int32_t> dst_rows, src_heads, dst_heads;  // pool rows; head rows of qkv and of the pool
    for (int64_t g = 0; g < S; ++g) {
      SeqCache& c = *caches_[size_t(g)];
      MOR_CHECK(int64_t(c.pages.size()) * P >= c.len + off[g + 1] - off[g], "PagedKv: pages were not reserved");
      for (int64_t i = off[g]; i < off[g + 1]; ++i, ++c.len) {
        const int64_t dst = c.pages[size_t(c.len / P)] * P + c.len % P;
        dst_rows.push_back(int32_t(dst));
        for (int64_t h = 0; h < 2 * Hkv; ++h) {
          src_heads.push_back(int32_t(i * H + Hq + h));
          dst_heads.push_back(int32_t(dst * 2 * Hkv + h));
        }
      }
    }
    const Device dev = kv.device();
    const Tensor kv_heads = ad::gather_rows(ad::make_var(src.reshape({n * H, D})), ad::i32_on(src_heads, dev))->value;
    Tensor pool_heads = kv.reshape({kv.numel() / D, D});
    ad::scatter_rows_into(pool_heads, ad::i32_on(dst_heads, dev), kv_heads);
    ad::scatter_rows_into(pool_.positions(), ad::i32_on(dst_rows, dev), layout.positions);
  }
  ad::SeqLayout l;
  l.offsets = Tensor::empty({S + 1}, DType::I64);
  int64_t n_pages = 0;
  for (int64_t g = 0; g < S; ++g) n_pages += pages_for(caches_[size_t(g)]->len, P);
  l.pages = Tensor::empty({n_pages, 2}, DType::I64);
  int64_t* po = l.offsets.data<int64_t>();
  int64_t* pg = l.pages.data<int64_t>();
  po[0] = 0;
  int64_t at = 0;
  for (int64_t g = 0; g < S; ++g) {
    const SeqCache& c = *caches_[size_t(g)];
    for (int64_t k = 0; k < pages_for(c.len, P); ++k, ++at) {
      pg[2 * at] = c.pages[size_t(k)] * P;
      pg[2 * at + 1] = std::min(P, c.len - k * P);
    }
    po[g + 1] = at;
  }
  l.positions = pool_.positions();
  const ad::Var t = ad::make_var(kv);
  return {{t, 0, Hkv}, {t, Hkv, Hkv}, l};
}

}  // namespace mor
