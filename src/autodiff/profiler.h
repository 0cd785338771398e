// Op-level wall-clock profile (forward and backward per op name), enabled by MOR_PROFILE=1 or
// `mor bench train --profile`. Off by default: then a scope costs one branch.
#pragma once
#include <chrono>
#include <string>

namespace mor::ad {

bool profiling_enabled();
void set_profiling(bool on);
void profile_add(const char* op, bool backward, double seconds);
void profile_reset();
// Table sorted by total time: op, forward s, backward s, share of the total.
std::string profile_report();

class ProfileScope {
 public:
  ProfileScope(const char* op, bool backward) : op_(op), backward_(backward), on_(profiling_enabled()) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (on_) profile_add(op_, backward_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }

 private:
  const char* op_;
  bool backward_, on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace mor::ad

#define MOR_PROFILE_FORWARD(op) ::mor::ad::ProfileScope mor_profile_scope_(op, false)
#define MOR_PROFILE_BACKWARD(op) ::mor::ad::ProfileScope mor_profile_scope_(op, true)
