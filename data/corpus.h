// Raw-text corpus input for `mor prepare`: which files, and the documents in them.
//   - inputs are files or directories (recursed; sorted; optional extension filter);
//   - a plain text file is one document; a `.jsonl` file holds one document per line, the
//     line's "text" field;
//   - text must be UTF-8 without NUL bytes (binary files are rejected with the byte offset).
// Documents are delivered in chunks of at most ~1 MB cut at line ends, so memory stays bounded
// whatever the file size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mor::data {

struct SourceFile {
  std::string path;
  uint64_t bytes = 0;
  bool jsonl = false;
};

// Lists the input files (BadInput for a missing path or when nothing is found).
std::vector<SourceFile> list_sources(const std::vector<std::string>& inputs, const std::vector<std::string>& extensions);

// A piece of one document.
struct TextChunk {
  std::string text;
  uint64_t document = 0;     // running document number over all sources
  bool end_of_document = false;
  const SourceFile* source = nullptr;
  uint64_t source_offset = 0;  // byte offset of the chunk in its file (jsonl: of the line)
  uint64_t line = 0;           // jsonl: 1-based line number
};

// Reads `src` and calls `emit` for each chunk in order; `next_document` is the running document
// counter (advanced per document). Returns the bytes read.
uint64_t read_chunks(const SourceFile& src, uint64_t& next_document, size_t chunk_bytes,
                     const std::function<void(TextChunk&&)>& emit);

// Offset of the first invalid UTF-8 sequence or NUL byte in [data, data + n), or -1.
int64_t find_invalid_utf8(const char* data, size_t n);

}  // namespace mor::data
