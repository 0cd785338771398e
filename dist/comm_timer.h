// CommTimer: adds a scope's wall time to a counter (the seconds a step spends in collectives,
// reported as comm_s by the trainer's data- and tensor-parallel parts).
#pragma once
#include <chrono>

namespace mor::dist {

struct CommTimer {
  double& total;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit CommTimer(double& t) : total(t) {}
  ~CommTimer() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;
};

}  // namespace mor::dist
