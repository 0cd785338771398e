// Segment caches and the cached encoder; see token_encoder.h.
#include "token_encoder.h"

#include <algorithm>
#include <cstring>

namespace mor::data {

// ---- SegmentTable ----

// At least 2 slots: the table is cleared at half full, so a probe always ends at an empty slot.
SegmentTable::SegmentTable(int log2_slots) : slots_(size_t(2) << std::max(0, log2_slots - 1)), mask_(slots_.size() - 1) {}

uint64_t SegmentTable::hash(std::string_view s) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (s.size() * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 31;
  }
  if (i < s.size()) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h | 1;
}

const SegmentTable::Slot* SegmentTable::find(std::string_view seg, uint64_t h) const {
  for (size_t i = size_t(h) & mask_; slots_[i].hash != 0; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.hash == h && s.key_len == seg.size() && std::memcmp(s.key, seg.data(), seg.size()) == 0) return &s;
  }
  return nullptr;
}

void SegmentTable::insert(std::string_view seg, uint64_t h, const int32_t* tokens, size_t n) {
  if (2 * (used_ + 1) > slots_.size()) {  // half full: start over (keeps probes short, memory fixed)
    std::fill(slots_.begin(), slots_.end(), Slot{});
    used_ = 0;
  }
  size_t i = size_t(h) & mask_;
  while (slots_[i].hash != 0) {
    if (slots_[i].hash == h && slots_[i].key_len == seg.size() && std::memcmp(slots_[i].key, seg.data(), seg.size()) == 0)
      return;  // already there
    i = (i + 1) & mask_;
  }
  Slot& s = slots_[i];
  s.hash = h;
  std::memcpy(s.key, seg.data(), seg.size());
  s.key_len = uint8_t(seg.size());
  s.n_tokens = uint8_t(n);
  std::copy(tokens, tokens + n, s.tokens);
  ++used_;
}

// ---- SharedSegmentCache ----

bool SharedSegmentCache::find(std::string_view seg, uint64_t h, std::vector<int32_t>& out) {
  std::lock_guard<std::mutex> lk(mu_);
  const SegmentTable::Slot* s = table_.find(seg, h);
  if (!s) return false;
  out.insert(out.end(), s->tokens, s->tokens + s->n_tokens);
  return true;
}

void SharedSegmentCache::insert(std::string_view seg, uint64_t h, const int32_t* tokens, size_t n) {
  std::lock_guard<std::mutex> lk(mu_);
  table_.insert(seg, h, tokens, n);
}

// ---- TokenEncoder ----

TokenEncoder::TokenEncoder(const Tokenizer& tok, SharedSegmentCache* shared, int log2_slots)
    : tok_(tok), shared_(shared), table_(tok.segmentable() ? log2_slots : 1) {}

void TokenEncoder::encode(std::string_view text, std::vector<int32_t>& out) {
  if (!tok_.segmentable()) {
    tok_.encode_append(text, scratch_, out);
    return;
  }
  for (size_t b = 0; b < text.size();) {
    const size_t e = tok_.segment_end(text, b);
    encode_segment(text.substr(b, e - b), out);
    b = e;
  }
}

void TokenEncoder::encode_segment(std::string_view seg, std::vector<int32_t>& out) {
  if (seg.size() > SegmentTable::kMaxKey) {
    ++misses_;
    tok_.encode_append(seg, scratch_, out);
    return;
  }
  const uint64_t h = SegmentTable::hash(seg);
  if (const SegmentTable::Slot* s = table_.find(seg, h)) {
    ++hits_;
    out.insert(out.end(), s->tokens, s->tokens + s->n_tokens);
    return;
  }
  const size_t before = out.size();
  if (shared_ && shared_->find(seg, h, out)) {
    ++hits_;
  } else {
    ++misses_;
    tok_.encode_append(seg, scratch_, out);
    if (shared_ && out.size() - before <= SegmentTable::kMaxTokens) shared_->insert(seg, h, out.data() + before, out.size() - before);
  }
  if (out.size() - before <= SegmentTable::kMaxTokens) table_.insert(seg, h, out.data() + before, out.size() - before);
}

}  // namespace mor::data
