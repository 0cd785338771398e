// JSON-lines metrics writer (the only translation unit of src/train that includes nlohmann/json).
#include "metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>
#include <nlohmann/json.hpp>

#include "src/core/error.h"

namespace mor {
namespace fs = std::filesystem;

std::string MetricRecord::to_json() const {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : integers) j[k] = v;
  for (const auto& [k, v] : numbers) j[k] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  for (const auto& [k, v] : strings) j[k] = v;
  for (const auto& [k, v] : lists) j[k] = v;
  for (const auto& [k, v] : int_lists) j[k] = v;
  return j.dump();
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_input(path, ": cannot open the metrics file for writing. Hint: check the run directory's permissions.");
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::write(const MetricRecord& r) {
  const std::string line = r.to_json() + "\n";
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n == ssize_t(line.size())) return;
  const int err = n < 0 ? errno : ENOSPC;
  if (before >= 0 && ::ftruncate(fd_, before) != 0) {
  }
  fail_internal(path_, ": cannot append a metrics record (", std::strerror(err),
                "); the file keeps its previous records whole. Hint: free space in the run directory.");
}

// Writes `text` to `path` through a temp file and a rename (never a half-written file).
void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      fail_internal(path, ": cannot be written (disk full?). Hint: free space in the run directory.");
    }
  }
  fs::rename(tmp, path);
}

// Keeps only the whole records of steps <= `step` (a resumed run rewrites what came after its
// checkpoint; a line cut short by a crash or a full disk is dropped). Rewritten atomically.
int64_t truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return 0;
  std::vector<std::string> keep;
  int64_t missing = 0, unknown = 0;  // cut lines of kept steps; unreadable lines since the last kept one
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();  // CR, blanks
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    // The step, even of a line cut short ("step" comes first); "step" : 1 (other JSON writers) too.
    const auto k = line.find("\"step\"");
    int64_t s = 0;
    bool has_step = false;
    if (k != std::string::npos) {
      const char* from = line.data() + k + 6;
      const char* end = line.data() + line.size();
      while (from < end && (*from == ' ' || *from == '\t')) ++from;
      if (from < end && *from == ':') ++from;
      else from = end;
      while (from < end && (*from == ' ' || *from == '\t')) ++from;
      const auto r = std::from_chars(from, end, s);
      has_step = r.ec == std::errc() && r.ptr < end && (*r.ptr == ',' || *r.ptr == '}' || *r.ptr == ' ');
    }
    const bool whole = has_step && line.back() == '}';
    if (whole && s <= step) {
      keep.push_back(line);
      missing += unknown;  // an unreadable line before a kept record held a step now missing
      unknown = 0;
    } else if (!whole) {
      if (!has_step) ++unknown;
      else if (s <= step) ++missing;  // a step after the checkpoint's is trained again: not missing
    }
  }
  in.close();
  std::string text;
  for (const auto& l : keep) text += l + "\n";
  write_file_atomically(path, text);
  return missing;
}

}  // namespace mor
