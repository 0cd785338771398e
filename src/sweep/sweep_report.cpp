// `mor sweep report DIR`: hands DIR to launch/sweep_report.py (results.csv/json, isoFLOP and
// power-law fits with bootstrap-over-seeds intervals, PNG+SVG plots, report.md). The script is
// found at MOR_SWEEP_REPORT, else in the source tree this binary was built from; it runs under
// MOR_PYTHON, else Debian's /usr/bin/python3 (where apt puts numpy/scipy/matplotlib, even when
// another python3 comes first on PATH), else python3 from PATH.
#include <unistd.h>

#include <filesystem>

#include "src/core/error.h"
#include "sweep_run.h"

#ifndef MOR_SOURCE_DIR
#define MOR_SOURCE_DIR "."
#endif

namespace mor::sweep {

int run_sweep_report(const ReportOptions& o) {
  read_plan(o.dir);  // refuses a directory that holds no plan, with the hint
  if (o.params != "non_embedding" && o.params != "unique")
    fail_input("--params ", o.params, ": expected non_embedding or unique.");
  const char* env = std::getenv("MOR_SWEEP_REPORT");
  const std::string script = env && *env ? env : std::string(MOR_SOURCE_DIR) + "/launch/sweep_report.py";
  if (!std::filesystem::exists(script))
    fail_input(script, ": the report script is missing. Hint: set MOR_SWEEP_REPORT=path/to/launch/sweep_report.py.");
  std::fflush(stdout);
  const char* py_env = std::getenv("MOR_PYTHON");
  const std::string python = py_env && *py_env ? py_env : std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  ::execlp(python.c_str(), python.c_str(), script.c_str(), o.dir.c_str(), "--params", o.params.c_str(), (char*)nullptr);
  fail_input("cannot run ", python, " (", script, "). Hint: bash launch/install_deps.sh installs python3 with numpy, scipy and matplotlib.");
}

}  // namespace mor::sweep
