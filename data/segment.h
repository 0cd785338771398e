// Whitespace segment boundaries of raw text.
//
// A boundary sits before a space (' ') that follows a non-space character. When no vocabulary
// piece holds a space after a non-space character (true for the BPE models `mor prepare` trains,
// and checked by Tokenizer::segmentable()), SentencePiece's merges never cross such a boundary,
// so encoding the segments one by one gives exactly the tokens of encoding the whole text. The
// encoder uses this to cache the tokens of frequent words, and the corpus reader cuts long
// documents into chunks here so that chunking never changes the tokens.
// (U+2581 '▁', SentencePiece's own space symbol, counts as a space too.)
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

// End of the segment that starts at `begin` (the next boundary, or s.size()).
inline size_t segment_end(std::string_view s, size_t begin) {
  for (size_t i = begin + 1; i < s.size(); ++i) {
    i = s.find(' ', i);  // only a space can start a segment
    if (i == std::string_view::npos) break;
    if (is_segment_boundary(s, i)) return i;
  }
  return s.size();
}

// The last boundary in (0, limit], or 0 when there is none.
inline size_t last_segment_boundary(std::string_view s, size_t limit) {
  if (limit >= s.size()) limit = s.size() - (s.empty() ? 0 : 1);
  for (size_t i = limit; i > 0; --i)
    if (is_segment_boundary(s, i)) return i;
  return 0;
}

}  // namespace mor::data
