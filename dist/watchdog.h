// Collective watchdog: bounds how long a blocking collective may take. A collective that never
// finishes (a peer rank died, was stopped, or the network is down) would otherwise hang the job
// until its wall-clock limit. Each MPI collective is wrapped in a WatchdogScope; one background
// thread per process checks the open scopes and, when one has run past the timeout, calls
// abort_job() with a message naming the rank, host, collective, group, message size and timeout:
//
//   rank 2 (host h2): all_reduce over dp (4 ranks, 1.2 MB) has not finished after 30 s: a peer
//   rank died or the network is down. Aborting the job. Hint: ...
//
// The timeout is process-wide: default 300 s, or the environment variable MOR_COLLECTIVE_TIMEOUT
// (seconds), or watchdog_set_timeout() (e.g. from the config). 0 disables the watchdog.
// The thread starts with the first scope and makes no MPI call except MPI_Abort when it fires.
#pragma once
#include <cstdint>
#include <string>

namespace mor::dist {

constexpr double kDefaultCollectiveTimeout = 300.0;

// Seconds a collective may take before the job is aborted (0: never).
void watchdog_set_timeout(double seconds);
double watchdog_timeout();

// Stops the background thread (runtime_finalize calls it). Scopes opened later restart it.
void watchdog_stop();

// Guards one collective: while it lives the watchdog may fire. Cheap (one mutex, no syscall).
class WatchdogScope {
 public:
  // `what`: "all_reduce", ...; `group`: "dp"; `ranks`: group size; `bytes`: message size.
  WatchdogScope(const char* what, const std::string& group, int ranks, double bytes);
  ~WatchdogScope();
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;

 private:
  int64_t id_ = -1;  // -1: not registered (watchdog disabled)
};

// The watchdog's message for a collective that has not finished after `seconds` (exposed for the
// test and for other backends that enforce their own timeouts).
std::string watchdog_message(const char* what, const std::string& group, int ranks, double bytes, double seconds);

}  // namespace mor::dist
