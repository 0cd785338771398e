// Machine-readable run metrics: one JSON object per line (runs/NAME/metrics.jsonl).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mor {

// A flat record of named numbers (and a few string/list fields) written as one JSON line.
struct MetricRecord {
  std::map<std::string, double> numbers;
  std::map<std::string, int64_t> integers;
  std::map<std::string, std::string> strings;
  std::map<std::string, std::vector<double>> lists;
  std::map<std::string, std::vector<int64_t>> int_lists;  // counts and token ids (written as JSON integers)
  std::string to_json() const;
};

class MetricsWriter {
 public:
  // Opens `path` for appending (creates it).
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  // Appends one whole line with a single write(2); on failure (disk full) the file is cut back to
  // its previous length, so it never ends in a partial line, and the error says why.
  void write(const MetricRecord& r);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Writes `text` to `path` through a temp file and a rename (never a half-written file); the error
// names the file when the disk is full.
void write_file_atomically(const std::string& path, const std::string& text);
// Keeps only the whole records of steps <= `step` in a metrics file (resume), rewritten atomically.
// Returns how many lines it dropped as cut short or unreadable whose steps are now missing from it
// (a cut line of a step after `step` is not counted: the resumed run trains that step again).
int64_t truncate_metrics(const std::string& path, int64_t step);

}  // namespace mor
