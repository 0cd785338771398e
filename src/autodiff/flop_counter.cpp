// Executed-FLOP counter; see flop_counter.h. Counting is a map update per op call (cheap next to
// the op itself); ops run on the calling thread.
#include "flop_counter.h"

#include <atomic>

namespace mor::ad {
namespace {
thread_local const char* g_label = "model";
std::map<std::string, double>& counts() {
  static auto* m = new std::map<std::string, double>();
  return *m;
}
}  // namespace

void flops_add(double flops) { counts()[g_label] += flops; }
std::map<std::string, double> flops_counted() { return counts(); }
static std::atomic<bool> g_counting{false};
void flops_reset() {
  counts().clear();
  g_counting = true;
}
bool flops_counting() { return g_counting; }
FlopLabel::FlopLabel(const char* label) : previous_(g_label) { g_label = label; }
FlopLabel::~FlopLabel() { g_label = previous_; }

}  // namespace mor::ad
