// Streaming detokenisation; see stream_decoder.h.
#include "stream_decoder.h"

namespace mor::data {
namespace {

// Length of the UTF-8 sequence a lead byte starts (2-4), or 0 for any other byte.
int sequence_length(int byte) {
  if (byte >= 0xC2 && byte <= 0xDF) return 2;
  if (byte >= 0xE0 && byte <= 0xEF) return 3;
  if (byte >= 0xF0 && byte <= 0xF4) return 4;
  return 0;
}

bool is_continuation(int byte) { return byte >= 0x80 && byte <= 0xBF; }

}  // namespace

// Where the pending tokens end in an open character: the index of its lead byte piece when they end
// in byte pieces "lead, continuation..." with continuation bytes still missing (the next token may
// complete it), else pending_.size().
size_t StreamDecoder::open_character_start() const {
  int continuations = 0;
  for (size_t k = pending_.size(); k-- > 0 && continuations < 3;) {
    const int b = tok_.byte_value(pending_[k]);
    if (b < 0) break;
    if (is_continuation(b)) {
      ++continuations;
      continue;
    }
    const int n = sequence_length(b);
    return n > 0 && continuations < n - 1 ? k : pending_.size();
  }
  return pending_.size();
}

// Emits everything before the open character (a lead byte never continues an earlier sequence, so
// cutting there does not change the text) and keeps the open character pending.
std::string StreamDecoder::push(int32_t id) {
  pending_.push_back(id);
  const size_t open = open_character_start();
  if (open == 0) return "";
  const std::vector<int32_t> done(pending_.begin(), pending_.begin() + long(open));
  pending_.erase(pending_.begin(), pending_.begin() + long(open));
  return tok_.decode(done);
}

std::string StreamDecoder::finish() {
  std::string text = pending_.empty() ? "" : tok_.decode(pending_);
  pending_.clear();
  return text;
}

}  // namespace mor::data
