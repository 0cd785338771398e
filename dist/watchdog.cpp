// Collective watchdog; see watchdog.h.
#include "watchdog.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "communicator.h"
#include "runtime.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

using Clock = std::chrono::steady_clock;

struct Open {
  const char* what;
  std::string group;
  int ranks;
  double bytes;
  Clock::time_point start;
};

double timeout_from_env() {
  const char* s = std::getenv("MOR_COLLECTIVE_TIMEOUT");
  if (!s || !*s) return kDefaultCollectiveTimeout;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || v < 0)
    fail_input("MOR_COLLECTIVE_TIMEOUT='", s, "' is not a number of seconds >= 0. Hint: e.g. MOR_COLLECTIVE_TIMEOUT=600, or 0 to disable the watchdog.");
  return v;
}

// Process-wide state. Allocated once and never freed, so the thread can outlive static destructors.
struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, Open> open;
  int64_t next_id = 0;
  double timeout = timeout_from_env();
  bool stop = false;
  std::thread* thread = nullptr;

  void loop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) {
      // Poll at a tenth of the timeout (10 ms .. 1 s): fires at most 10% late.
      const double poll = std::clamp(timeout / 10, 0.01, 1.0);
      cv.wait_for(lock, std::chrono::duration<double>(timeout > 0 ? poll : 1.0));
      if (stop || timeout <= 0) continue;
      const auto now = Clock::now();
      for (const auto& [id, o] : open) {
        const double age = std::chrono::duration<double>(now - o.start).count();
        if (age > timeout) {
          const std::string msg = watchdog_message(o.what, o.group, o.ranks, o.bytes, timeout);
          lock.unlock();
          abort_job(1, msg);  // does not return
        }
      }
    }
  }
};

State& state() {
  static State* s = new State();
  return *s;
}

std::string seconds_str(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s == double(int64_t(s)) ? "%.0f" : "%.3g", s);
  return buf;
}

}  // namespace

std::string watchdog_message(const char* what, const std::string& group, int ranks, double bytes, double seconds) {
  return detail::concat(what, " over ", group, " (", ranks, " ranks, ", bytes_str(bytes), ") has not finished after ",
                        seconds_str(seconds),
                        " s: a peer rank died or the network is down. Aborting the job. Hint: look for the first error "
                        "of the other ranks above; if this collective legitimately takes longer, raise "
                        "MOR_COLLECTIVE_TIMEOUT (seconds).");
}

void watchdog_set_timeout(double seconds) {
  if (!(seconds >= 0))
    fail_input("collective timeout ", seconds, " s is negative. Hint: use a number of seconds > 0, or 0 to disable the watchdog.");
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.timeout = seconds;
  s.cv.notify_one();
}

double watchdog_timeout() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.timeout;
}

void watchdog_stop() {
  State& s = state();
  std::thread* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop = true;
    t = s.thread;
    s.thread = nullptr;
    s.cv.notify_one();
  }
  if (t) {
    t->join();
    delete t;
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.stop = false;
}

WatchdogScope::WatchdogScope(const char* what, const std::string& group, int ranks, double bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.timeout <= 0) return;
  if (!s.thread) s.thread = new std::thread([&s] { s.loop(); });
  id_ = s.next_id++;
  s.open.emplace(id_, Open{what, group, ranks, bytes, Clock::now()});
}

WatchdogScope::~WatchdogScope() {
  if (id_ < 0) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.open.erase(id_);
}

}  // namespace mor::dist
