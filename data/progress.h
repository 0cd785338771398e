// A progress bar on stderr with throughput and ETA. On a terminal it redraws one line; otherwise
// it prints a plain line at most every 10% (logs stay readable).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace mor::data {

class Progress {
 public:
  Progress(std::string label, uint64_t total, std::string unit, bool enabled);
  void update(uint64_t done);
  void finish();

 private:
  std::string label_, unit_;
  uint64_t total_;
  bool enabled_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace mor::data
