// Signal handling; see signals.h. A second SIGINT restores the default action (hard kill).
#include "signals.h"

#include <csignal>

namespace mor {
namespace {
volatile std::sig_atomic_t g_signal = 0;

void on_signal(int sig) {
  g_signal = sig;
  std::signal(sig, SIG_DFL);  // a second signal kills immediately
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool stop_requested() { return g_signal != 0; }
int stop_signal() { return int(g_signal); }
void clear_stop_request() { g_signal = 0; }

}  // namespace mor
