// Whitespace segment boundaries of raw text: where long documents may be cut into chunks.
//
// A boundary sits before a space (' ') that follows a non-space character. When no vocabulary
// piece holds a space after a non-space character (true for the BPE models `mor prepare` trains,
// and checked by Tokenizer::segmentable()), SentencePiece's merges never cross such a boundary,
// so encoding the pieces one by one gives exactly the tokens of encoding the whole text: the
// corpus reader cuts documents here, so the chunk size never changes the tokens. (U+2581 '▁',
// SentencePiece's own space symbol, counts as a space too.) The encoder uses a finer, per-model
// rule (Tokenizer::segment_end).
#pragma once
#include <cstddef>
#include <string_view>

namespace mor::data {

inline bool ends_with_space(std::string_view s, size_t i) {  // is the character before i a space?
  if (i == 0) return false;
  if (s[i - 1] == ' ') return true;
  return i >= 3 && s.substr(i - 3, 3) == "\xE2\x96\x81";
}

inline bool is_segment_boundary(std::string_view s, size_t i) {
  return i > 0 && i < s.size() && s[i] == ' ' && !ends_with_space(s, i);
}

// The last boundary in (0, limit], or 0 when there is none.
inline size_t last_segment_boundary(std::string_view s, size_t limit) {
  if (limit >= s.size()) limit = s.size() - (s.empty() ? 0 : 1);
  for (size_t i = limit; i > 0; --i)
    if (is_segment_boundary(s, i)) return i;
  return 0;
}

}  // namespace mor::data
