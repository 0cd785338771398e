// Tokenizer training sample; see tokenizer_sample.h.
#include "tokenizer_sample.h"

#include <algorithm>

#include "json_io.h"
#include "segment.h"
#include "src/core/error.h"
#include "src/core/rng.h"

namespace mor::data {
namespace {

constexpr uint64_t kBlockBytes = 1 << 20;
constexpr size_t kMaxSentenceBytes = 4096;
constexpr size_t kMaxLineTail = 64 << 10;  // how far past a block end we look for its last line end

// Drops an incomplete UTF-8 sequence at the end of s (a block cut inside a character).
void trim_partial_utf8(std::string& s) {
  for (size_t back = 1; back <= std::min<size_t>(4, s.size()); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xc0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    const size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
    if (len > back) s.resize(s.size() - back);
    return;
  }
}

}  // namespace

TokenizerSample::TokenizerSample(const std::vector<SourceFile>& sources, uint64_t max_bytes, uint64_t seed)
    : sources_(sources), max_bytes_(max_bytes), seed_(seed) {
  uint64_t total = 0;
  for (const auto& s : sources) total += s.bytes;
  keep_ = total <= max_bytes ? 1.0 : double(max_bytes) / double(total);
}

bool TokenizerSample::next(std::string& sentence) {
  while (pending_.empty())
    if (!read_next_block()) return false;
  sentence = std::move(pending_.front());
  pending_.pop_front();
  return true;
}

bool TokenizerSample::read_next_block() {
  while (file_ < sources_.size() && bytes_ < max_bytes_) {
    const SourceFile& src = sources_[file_];
    const uint64_t start = block_ * kBlockBytes;
    if (start >= src.bytes) {
      ++file_;
      block_ = 0;
      in_.close();
      continue;
    }
    ++block_;
    if (keep_ < 1.0 && Rng(seed_, "sample:" + std::to_string(file_) + ":" + std::to_string(block_)).uniform() >= keep_)
      continue;
    if (!in_.is_open()) {
      in_.open(src.path, std::ios::binary);
      if (!in_) fail_input(src.path, ": cannot read the file. Hint: check its permissions.");
    }
    // Read the block, then on to the next line end (at most kMaxLineTail further).
    std::string text(kBlockBytes, '\0');
    in_.clear();
    in_.seekg(std::streamoff(start));
    in_.read(text.data(), std::streamsize(text.size()));
    text.resize(size_t(in_.gcount()));
    for (char c; text.size() < kBlockBytes + kMaxLineTail && in_.get(c);) {
      text.push_back(c);
      if (c == '\n') break;
    }
    size_t begin = 0;
    if (start > 0) {  // skip the partial first line (the previous block owns it)
      const size_t nl = text.find('\n');
      begin = nl != std::string::npos ? nl + 1 : 0;
      while (begin < text.size() && (static_cast<unsigned char>(text[begin]) & 0xc0) == 0x80) ++begin;
    }
    text.erase(0, begin);
    trim_partial_utf8(text);
    if (src.jsonl) {
      size_t b = 0;
      std::string doc, why;
      while (b < text.size()) {
        size_t e = text.find('\n', b);
        if (e == std::string::npos) e = text.size();
        if (jsonl_text(std::string_view(text).substr(b, e - b), doc, why)) add_text(doc);  // bad lines: reported when encoding
        b = e + 1;
      }
    } else {
      if (const int64_t bad = find_invalid_utf8(text.data(), text.size()); bad >= 0)
        fail_not_utf8(src.path, start + begin + uint64_t(bad));
      add_text(text);
    }
    return true;
  }
  return false;
}

// Cuts text into sentences of whole lines (at most kMaxSentenceBytes; longer lines are cut at
// whitespace segment boundaries) and queues them.
void TokenizerSample::add_text(const std::string& text) {
  std::string_view rest(text);
  while (!rest.empty() && bytes_ < max_bytes_) {
    size_t cut = rest.size();
    if (cut > kMaxSentenceBytes) {
      const size_t nl = rest.rfind('\n', kMaxSentenceBytes - 1);
      cut = nl != std::string_view::npos ? nl + 1 : last_segment_boundary(rest, kMaxSentenceBytes);
      if (cut == 0) {  // no line end or space: cut at a character boundary
        cut = kMaxSentenceBytes;
        while (cut > 1 && (static_cast<unsigned char>(rest[cut]) & 0xc0) == 0x80) --cut;
      }
    }
    pending_.emplace_back(rest.substr(0, cut));
    bytes_ += cut;
    rest.remove_prefix(cut);
  }
}

}  // namespace mor::data
