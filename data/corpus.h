// Raw-text corpus input for `mor prepare`: which files, and the documents in them.
//   - inputs are files or directories (recursed in sorted order; hidden entries, i.e. names
//     starting with '.', are skipped; optional extension filter; a directory that cannot be
//     listed is an error, never skipped; the caller keeps the output outside every input);
//   - a plain text file is one document; a `.jsonl` file holds one document per line (the line's
//     "text" field; blank lines are skipped); empty files hold no document;
//   - text must be UTF-8 without NUL bytes (binary files are rejected with the byte offset).
// Documents are delivered in chunks of about `chunk_bytes`, cut at whitespace segment boundaries
// (segment.h) so that chunking never changes the tokens; memory stays bounded whatever the file
// size.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace mor::data {

struct SourceFile {
  std::string path;
  uint64_t bytes = 0;
  bool jsonl = false;
};

// Lists the input files (BadInput for a missing path, an unreadable directory, a file reached
// through two --input arguments, or when nothing is found). A file reached again within one input
// (through a link) is listed once; `aliases`, when given, receives the name it was read under and
// the second one: "GPL = GPL-3".
std::vector<SourceFile> list_sources(const std::vector<std::string>& inputs, const std::vector<std::string>& extensions,
                                     std::vector<std::string>* aliases = nullptr);

// Offset of the first invalid UTF-8 sequence or NUL byte in [data, data + n), or -1.
int64_t find_invalid_utf8(const char* data, size_t n);
// BadInput error for text that is not UTF-8 (line > 0: a .jsonl line's "text" field).
[[noreturn]] void fail_not_utf8(const std::string& path, uint64_t offset, uint64_t line = 0);

// A piece of one document.
struct TextChunk {
  std::string text;         // plain text, or one raw JSON line of a .jsonl file (json_line)
  uint64_t document = 0;    // running document number over the whole corpus
  uint32_t source = 0;      // index into the source list
  uint64_t offset = 0;      // byte offset of the chunk in its file
  uint64_t line = 0;        // .jsonl: 1-based line number
  uint64_t file_bytes = 0;  // bytes of the file this chunk accounts for (progress)
  bool json_line = false;
  bool end_of_document = false;
};

// Reads the sources in order and yields their chunks.
class DocumentReader {
 public:
  // split_offset > 0 (meant for a corpus of one plain-text file): the first document ends at the
  // first line end at or after this byte offset and the rest of the file becomes a second one, so
  // that a validation document can be held out.
  DocumentReader(const std::vector<SourceFile>& sources, size_t chunk_bytes, uint64_t split_offset = 0);
  bool next(TextChunk& chunk);  // false when every source is read

 private:
  bool open_next_file();
  bool next_json_line(TextChunk& c);
  bool next_text_chunk(TextChunk& c);
  size_t choose_cut(bool& end_of_document);

  const std::vector<SourceFile>& sources_;
  size_t chunk_bytes_;
  uint64_t split_offset_;
  size_t file_ = 0;  // index of the next file to open
  std::ifstream in_;
  bool open_ = false, eof_ = false;
  std::string pending_;   // plain text read but not yet emitted
  uint64_t offset_ = 0;   // file offset of pending_ (or of the next line)
  uint64_t line_ = 0;
  uint64_t next_document_ = 0;
  bool document_open_ = false;
  uint64_t document_ = 0;
};

}  // namespace mor::data
