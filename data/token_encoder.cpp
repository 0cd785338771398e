// Cached per-thread encoder; see token_encoder.h.
#include "token_encoder.h"

#include <algorithm>

#include "segment.h"

namespace mor::data {
namespace {
constexpr size_t kMaxCachedSegment = 48;  // bytes; longer segments are rare and encoded directly
}

TokenEncoder::TokenEncoder(const Tokenizer& tok, size_t max_entries) : tok_(tok), max_entries_(max_entries) {
  cache_.reserve(std::min<size_t>(max_entries, 1 << 16));
}

void TokenEncoder::encode(std::string_view text, std::vector<int32_t>& out) {
  if (!tok_.segmentable()) {
    tok_.encode_append(text, scratch_, out);
    return;
  }
  for (size_t b = 0; b < text.size();) {
    const size_t e = segment_end(text, b);
    encode_segment(text.substr(b, e - b), out);
    b = e;
  }
}

void TokenEncoder::encode_segment(std::string_view seg, std::vector<int32_t>& out) {
  if (seg.size() > kMaxCachedSegment) {
    tok_.encode_append(seg, scratch_, out);
    return;
  }
  if (auto it = cache_.find(seg); it != cache_.end()) {
    ++hits_;
    out.insert(out.end(), arena_.begin() + it->second.begin, arena_.begin() + it->second.begin + it->second.size);
    return;
  }
  ++misses_;
  if (cache_.size() >= max_entries_) {  // full: start over (cheap, and keeps memory bounded)
    cache_.clear();
    arena_.clear();
  }
  const size_t before = out.size();
  tok_.encode_append(seg, scratch_, out);
  const Span span{uint32_t(arena_.size()), uint32_t(out.size() - before)};
  arena_.insert(arena_.end(), out.begin() + before, out.end());
  cache_.emplace(std::string(seg), span);
}

}  // namespace mor::data
