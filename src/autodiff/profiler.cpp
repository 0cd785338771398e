// Op profile table; see profiler.h.
#include "profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

namespace mor::ad {
namespace {
struct Entry {
  double fwd = 0, bwd = 0;
  long calls = 0;
};
std::map<std::string, Entry>& table() {
  static auto* t = new std::map<std::string, Entry>();
  return *t;
}
bool& enabled() {
  static bool on = [] {
    const char* e = std::getenv("MOR_PROFILE");
    return e && *e && *e != '0';
  }();
  return on;
}
}  // namespace

bool profiling_enabled() { return enabled(); }
void set_profiling(bool on) { enabled() = on; }

void profile_add(const char* op, bool backward, double seconds) {
  Entry& e = table()[op];
  (backward ? e.bwd : e.fwd) += seconds;
  if (!backward) ++e.calls;
}

void profile_reset() { table().clear(); }

std::string profile_report() {
  std::vector<std::pair<std::string, Entry>> rows(table().begin(), table().end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.fwd + a.second.bwd > b.second.fwd + b.second.bwd; });
  double total = 0;
  for (auto& r : rows) total += r.second.fwd + r.second.bwd;
  std::string out = "op                          calls   forward s  backward s   share\n";
  char buf[160];
  for (auto& [name, e] : rows) {
    std::snprintf(buf, sizeof buf, "%-26s %6ld %11.3f %11.3f %6.1f%%\n", name.c_str(), e.calls, e.fwd, e.bwd,
                  total > 0 ? 100 * (e.fwd + e.bwd) / total : 0.0);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%-26s %6s %23.3f\n", "total (ops)", "", total);
  return out + buf;
}

}  // namespace mor::ad
