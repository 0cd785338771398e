// Corpus listing and document reading; see corpus.h.
#include "corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "src/core/error.h"

namespace mor::data {
namespace fs = std::filesystem;

std::vector<SourceFile> list_sources(const std::vector<std::string>& inputs, const std::vector<std::string>& extensions) {
  if (inputs.empty()) fail_input("no input given. Hint: mor prepare --input FILE_OR_DIR --out DIR");
  auto wanted = [&](const fs::path& p) {
    if (extensions.empty()) return true;
    const std::string name = p.filename().string();
    for (const auto& e : extensions)
      if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
    return false;
  };
  std::vector<SourceFile> out;
  for (const auto& in : inputs) {
    fs::path p(in);
    std::error_code ec;
    if (!fs::exists(p, ec)) fail_input(in, ": no such file or directory. Hint: check the --input path.");
    std::vector<fs::path> files;
    if (fs::is_directory(p)) {
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied);
           it != fs::recursive_directory_iterator(); ++it)
        if (it->is_regular_file() && wanted(it->path())) files.push_back(it->path());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      SourceFile s;
      s.path = f.string();
      s.bytes = fs::file_size(f);
      s.jsonl = f.extension() == ".jsonl";
      out.push_back(s);
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
    if (c == 0) return int64_t(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
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

uint64_t read_chunks(const SourceFile& src, uint64_t& next_document, size_t chunk_bytes,
                     const std::function<void(TextChunk&&)>& emit) {
  std::ifstream f(src.path, std::ios::binary);
  if (!f) fail_input(src.path, ": cannot read the file. Hint: check its permissions.");
  uint64_t offset = 0;
  if (src.jsonl) {
    std::string line;
    uint64_t lineno = 0;
    while (std::getline(f, line)) {
      ++lineno;
      const uint64_t line_offset = offset;
      offset += line.size() + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception& e) {
        fail_input(src.path, ":", lineno, ": not valid JSON (", e.what(), "). Hint: .jsonl files need one JSON object per line.");
      }
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        fail_input(src.path, ":", lineno, ": no string field \"text\". Hint: each line must look like {\"text\": \"...\"}.");
      TextChunk c;
      c.text = j["text"].get<std::string>();
      c.document = next_document++;
      c.end_of_document = true;
      c.source = &src;
      c.source_offset = line_offset;
      c.line = lineno;
      emit(std::move(c));
    }
    return offset;
  }
  // Plain text: one document per file, chunks cut after a newline when possible.
  const uint64_t doc = next_document++;
  std::string buf;
  std::string carry;
  std::vector<char> block(chunk_bytes);
  bool ended = false;  // the last emitted chunk closed the document
  while (f) {
    f.read(block.data(), std::streamsize(block.size()));
    const size_t got = size_t(f.gcount());
    if (got == 0) break;
    buf = std::move(carry);
    buf.append(block.data(), got);
    carry.clear();
    if (f) {  // more to come: keep the tail after the last newline for the next chunk
      const size_t nl = buf.rfind('\n');
      if (nl != std::string::npos && nl + 1 < buf.size()) {
        carry = buf.substr(nl + 1);
        buf.resize(nl + 1);
      }
    }
    TextChunk c;
    c.text = std::move(buf);
    c.document = doc;
    c.source = &src;
    c.source_offset = offset;
    offset += c.text.size();
    c.end_of_document = !f && carry.empty();
    ended = c.end_of_document;
    emit(std::move(c));
  }
  if (!ended) {  // the final piece (possibly empty: the file was empty or ended on a block boundary)
    TextChunk c;
    c.text = std::move(carry);
    c.document = doc;
    c.source = &src;
    c.source_offset = offset;
    offset += c.text.size();
    c.end_of_document = true;
    emit(std::move(c));
  }
  return offset;
}

}  // namespace mor::data
