// JSON-lines metrics writer (the only translation unit of src/train that includes nlohmann/json).
#include "metrics.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "src/core/error.h"

namespace mor {

std::string MetricRecord::to_json() const {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : integers) j[k] = v;
  for (const auto& [k, v] : numbers) j[k] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  for (const auto& [k, v] : strings) j[k] = v;
  for (const auto& [k, v] : lists) j[k] = v;
  for (const auto& [k, v] : int_lists) j[k] = v;
  return j.dump();
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) fail_input(path, ": cannot open the metrics file for writing. Hint: check the run directory's permissions.");
}

void MetricsWriter::write(const MetricRecord& r) {
  out_ << r.to_json() << "\n";
  out_.flush();
}

}  // namespace mor
