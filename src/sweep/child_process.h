// Child processes of the sweep driver: each sweep point (and each plan benchmark) runs as its own
// `mor` process, so a crash or a refused config is isolated and its exit code recorded.
// Children get their own process group (a Ctrl-C to the terminal reaches only the driver, which
// forwards one SIGTERM), and SIGTERM when the driver dies (prctl PR_SET_PDEATHSIG), so a killed
// sweep never leaves points training unseen: they checkpoint and stop.
#pragma once
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace mor::sweep {

struct ChildSpec {
  std::vector<std::string> argv;                            // argv[0] is the program path
  std::vector<std::pair<std::string, std::string>> env;     // set or replaced in the child's environment
  std::string log_path;                                     // stdout and stderr (appended)
};

// Starts the child; throws Internal when fork fails or the log cannot be opened.
pid_t spawn_child(const ChildSpec& spec);
// Non-blocking: true when `pid` has ended, with its exit status in `code` (128 + signal if killed).
bool child_finished(pid_t pid, int& code);
// Blocks until `pid` ends; its exit status as above.
int wait_child(pid_t pid);
// The path of the running `mor` executable (/proc/self/exe).
std::string self_executable();

}  // namespace mor::sweep
