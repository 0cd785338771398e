// Progress report on stderr for long data jobs: on a terminal, one redrawn bar with percentage,
// throughput (MB/s) and ETA; otherwise (logs, pipes) a plain line at every 25% so logs stay
// short. Disabled entirely by --quiet.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace mor::data {

class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes, bool enabled);
  void update(uint64_t done_bytes);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_, tty_;
  int last_quarter_ = 0;  // no line at 0%
  uint64_t drawn_ = ~uint64_t(0);  // value of the last bar drawn
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace mor::data
