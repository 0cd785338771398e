// Corpus listing and document reading; see corpus.h.
#include "corpus.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "segment.h"
#include "src/core/error.h"

namespace mor::data {
namespace fs = std::filesystem;
namespace {

bool has_extension(const fs::path& p, const std::vector<std::string>& extensions) {
  if (extensions.empty()) return true;
  const std::string name = p.filename().string();
  for (std::string e : extensions) {
    if (!e.empty() && e[0] != '.') e = "." + e;  // "txt" means ".txt"
    if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

[[noreturn]] void fail_unlistable(const fs::path& dir, const std::error_code& ec) {
  fail_input(dir.string(), ": cannot list the directory (", ec.message(),
             "), so its files would be missing from the dataset. Hint: fix its permissions, or leave it out of --input.");
}

// Appends the files below `dir` (recursively; hidden entries, links to directories and dangling links
// skipped). A directory or entry that cannot be read is an error naming it: skipping it would
// silently drop documents.
void collect_files(const fs::path& dir, const std::vector<std::string>& extensions, std::vector<fs::path>& files) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) fail_unlistable(dir, ec);
  for (; it != end; it.increment(ec)) {
    if (ec) fail_unlistable(dir, ec);
    const fs::path& p = it->path();
    if (p.filename().string().starts_with(".")) continue;
    const fs::file_status st = it->status(ec);
    if (ec && it->is_symlink() && ec == std::errc::no_such_file_or_directory) {
      ec.clear();
      continue;
    }
    if (ec) fail_input(p.string(), ": cannot read its file type (", ec.message(), "). Hint: fix its permissions, or remove it.");
    if (fs::is_directory(st)) {
      if (!it->is_symlink()) collect_files(p, extensions, files);
    } else if (fs::is_regular_file(st) && has_extension(p, extensions)) {
      files.push_back(p);
    }
  }
  if (ec) fail_unlistable(dir, ec);
}

std::vector<fs::path> files_under(const fs::path& root, const std::vector<std::string>& extensions) {
  std::vector<fs::path> files;
  collect_files(root, extensions, files);
  std::sort(files.begin(), files.end());
  return files;
}

// Last UTF-8 character boundary at or before `limit` (never 0 when limit > 0 and the text is sane).
size_t utf8_floor(const std::string& s, size_t limit) {
  size_t i = std::min(limit, s.size());
  while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) --i;
  return i > 0 ? i : std::min(limit, s.size());
}

}  // namespace

std::vector<SourceFile> list_sources(const std::vector<std::string>& inputs, const std::vector<std::string>& extensions,
                                     std::vector<std::string>* aliases) {
  if (inputs.empty()) fail_input("no input given. Hint: mor prepare --input FILE_OR_DIR --out DIR");
  std::error_code ec;
  std::vector<SourceFile> out;
  // canonical path -> the path it was first read as, and the --input that reached it
  std::map<fs::path, std::pair<fs::path, size_t>> seen;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string& in = inputs[k];
    const fs::path p(in);
    if (!fs::exists(p, ec)) fail_input(in, ": no such file or directory. Hint: check the --input path.");
    std::vector<fs::path> files;
    if (fs::is_directory(p, ec)) {
      files = files_under(p, extensions);
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      fail_input(in, ": not a regular file or directory. Hint: pass text files or directories to --input.");
    }
    for (const auto& f : files) {
      const fs::path canonical = fs::weakly_canonical(f, ec);
      const auto [first, fresh] = seen.emplace(ec ? f : canonical, std::pair{f, k});
      if (!fresh) {
        // Through two --input arguments: counted twice, and possibly in both train and val.
        if (first->second.second != k)
          fail_input(f.string(), ": reached through --input ", inputs[first->second.second], " and again through --input ",
                     in, ", so its documents would be read twice (and could land in both train and val). Hint: give "
                     "each file or directory to --input once.");
        // Within one input, a link to a file read already (GPL -> GPL-3) is the same document: once.
        if (aliases) aliases->push_back(first->second.first.string() + " = " + f.string());
        continue;
      }
      SourceFile s;
      s.path = f.string();
      s.bytes = fs::file_size(f, ec);
      if (ec) fail_input(s.path, ": cannot read the file size (", ec.message(), "). Hint: check its permissions.");
      s.jsonl = f.extension() == ".jsonl";
      out.push_back(std::move(s));
    }
  }
  if (out.empty()) {
    std::string ext;
    for (const auto& e : extensions) ext += " " + e;
    fail_input(inputs.front(), ": no input files found", ext.empty() ? "" : " with extensions" + ext,
               ". Hint: point --input at text files, or change --ext.");
  }
  return out;
}

int64_t find_invalid_utf8(const char* data, size_t n) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(data);
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c >= 0x01 && c < 0x80) {  // fast path for ASCII
      ++i;
      continue;
    }
    if (c == 0) return int64_t(i);
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
    else return int64_t(i);
    if (i + len > n) return int64_t(i);
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return int64_t(i);
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and out-of-range code points are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return int64_t(i);
    i += len;
  }
  return -1;
}

void fail_not_utf8(const std::string& path, uint64_t offset, uint64_t line) {
  if (line > 0)
    fail_input(path, ":", line, ": the \"text\" field is not valid UTF-8 text (or holds a NUL). Hint: fix or drop that line.");
  fail_input(path, ": not UTF-8 text (invalid or NUL byte at offset ", offset,
             "). Hint: convert it to UTF-8, or leave binary files out (--ext .txt, or a narrower --input).");
}

// ---- DocumentReader ----

DocumentReader::DocumentReader(const std::vector<SourceFile>& sources, size_t chunk_bytes, uint64_t split_offset)
    : sources_(sources), chunk_bytes_(std::max<size_t>(chunk_bytes, 64)), split_offset_(split_offset) {}

bool DocumentReader::open_next_file() {
  if (file_ >= sources_.size()) return false;
  const SourceFile& src = sources_[file_++];
  in_ = std::ifstream(src.path, std::ios::binary);
  if (!in_) fail_input(src.path, ": cannot read the file. Hint: check its permissions.");
  open_ = true;
  eof_ = false;
  pending_.clear();
  offset_ = line_ = 0;
  return true;
}

bool DocumentReader::next(TextChunk& c) {
  while (true) {
    if (!open_ && !open_next_file()) return false;
    const bool got = sources_[file_ - 1].jsonl ? next_json_line(c) : next_text_chunk(c);
    if (got) {
      c.source = uint32_t(file_ - 1);
      return true;
    }
    open_ = false;
    in_.close();
  }
}

bool DocumentReader::next_json_line(TextChunk& c) {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_;
    const uint64_t at = offset_;
    offset_ += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    c.text = std::move(line);
    c.document = next_document_++;
    c.offset = at;
    c.line = line_;
    c.file_bytes = offset_ - at;
    c.json_line = true;
    c.end_of_document = true;
    return true;
  }
  return false;
}

// Where to end the next chunk of pending_ (all of it at the end of the file).
size_t DocumentReader::choose_cut(bool& end_of_document) {
  end_of_document = eof_ && pending_.size() <= chunk_bytes_;
  size_t cut = pending_.size();
  if (!end_of_document) {
    cut = last_segment_boundary(pending_, chunk_bytes_);
    if (cut == 0) {  // no space at all: cut after a line end, else at a character boundary
      const size_t nl = pending_.rfind('\n', chunk_bytes_ - 1);
      cut = nl != std::string::npos ? nl + 1 : utf8_floor(pending_, chunk_bytes_);
    }
  }
  // Single-document split: end the document at the first line end at or after split_offset_.
  if (split_offset_ > 0 && split_offset_ >= offset_ && split_offset_ < offset_ + cut) {
    const size_t nl = pending_.find('\n', size_t(split_offset_ - offset_));
    if (nl != std::string::npos && (nl + 1 < pending_.size() || !eof_)) {
      cut = nl + 1;
      end_of_document = true;
      split_offset_ = 0;
    } else if (nl == std::string::npos && !eof_) {
      split_offset_ = offset_ + cut;  // keep looking in the next chunk
    } else {
      split_offset_ = 0;  // no line end after the split point: one document
    }
  }
  return cut;
}

bool DocumentReader::next_text_chunk(TextChunk& c) {
  while (!eof_ && pending_.size() < chunk_bytes_) {
    const size_t old = pending_.size();
    pending_.resize(old + chunk_bytes_);
    in_.read(pending_.data() + old, std::streamsize(chunk_bytes_));
    pending_.resize(old + size_t(in_.gcount()));
    if (!in_) eof_ = true;
  }
  if (pending_.empty()) {  // end of file: close an open document with an empty chunk
    if (!document_open_) return false;
    c = TextChunk{};
    c.document = document_;
    c.offset = offset_;
    c.end_of_document = true;
    document_open_ = false;
    return true;
  }
  bool end = false;
  const size_t cut = choose_cut(end);
  if (!document_open_) {
    document_ = next_document_++;
    document_open_ = true;
  }
  c.text.assign(pending_, 0, cut);
  pending_.erase(0, cut);
  c.document = document_;
  c.offset = offset_;
  c.line = 0;
  c.file_bytes = cut;
  c.json_line = false;
  c.end_of_document = end;
  offset_ += cut;
  if (end) document_open_ = false;
  return true;
}

}  // namespace mor::data
