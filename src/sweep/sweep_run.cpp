// The local sweep runner; see sweep_run.h.
#include "sweep_run.h"

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "child_process.h"
#include "src/core/cpu_count.h"
#include "src/core/error.h"
#include "src/core/path_lock.h"
#include "src/train/format.h"
#include "src/train/metrics.h"
#include "src/train/signals.h"

namespace mor::sweep {
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

bool point_finished(const std::string& dir, const SweepPoint& p) {
  return fs::exists(fs::path(point_dir(dir, p)) / "summary.json");
}

namespace {

// The last line of a text file that starts with `prefix` (or the last non-empty line when none does).
std::string last_line(const std::string& path, const std::string& prefix) {
  std::ifstream f(path);
  std::string line, last, match;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.rfind(prefix, 0) == 0) match = line;
  }
  return match.empty() ? last : match;
}

// The step the running point has reached (its metrics.jsonl's last record), 0 when unknown.
int64_t current_step(const std::string& pdir) {
  std::ifstream f(fs::path(pdir) / "metrics.jsonl", std::ios::ate);
  if (!f) return 0;
  const std::streamoff size = f.tellg();
  f.seekg(std::max<std::streamoff>(0, size - 8192));
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty() && line.front() == '{' && line.back() == '}') last = line;
  const auto j = nlohmann::json::parse(last, nullptr, false);
  return j.is_object() ? j.value("step", int64_t(0)) : 0;
}

struct Running {
  size_t index;
  pid_t pid;
  clock_type::time_point start;
};

class LocalRunner {
 public:
  LocalRunner(const RunOptions& o, SweepPlan plan) : o_(o), plan_(std::move(plan)) {
    threads_ = std::max<int64_t>(1, available_cpus() / o.jobs);
    mor_ = self_executable();
  }

  int run() {
    for (size_t i = 0; i < plan_.points.size(); ++i) {
      if (point_finished(o_.dir, plan_.points[i])) ++done_;
      else pending_.push_back(i);
    }
    std::printf("sweep %s: %zu points, %zu finished, %zu to run; %lld at a time, %lld thread(s) each\n", o_.dir.c_str(),
                plan_.points.size(), done_, pending_.size(), (long long)o_.jobs, (long long)threads_);
    std::fflush(stdout);
    install_stop_handlers();
    start_ = clock_type::now();
    auto last_progress = start_;
    bool forwarded = false;
    while (!pending_.empty() || !running_.empty()) {
      while (!stop_requested() && !pending_.empty() && int64_t(running_.size()) < o_.jobs) launch(pending_.front()), pending_.pop_front();
      if (stop_requested() && !forwarded) {
        forwarded = true;
        std::printf("sweep: stop requested; %zu running point(s) checkpoint and stop (run `mor sweep run %s` to go on)\n",
                    running_.size(), o_.dir.c_str());
        std::fflush(stdout);
        for (const auto& r : running_) ::kill(r.pid, SIGTERM);
      }
      if (stop_requested() && running_.empty()) break;
      bool changed = reap();
      if (changed || clock_type::now() - last_progress > std::chrono::seconds(60)) {
        progress();
        last_progress = clock_type::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return finish();
  }

 private:
  void launch(size_t i) {
    const SweepPoint& p = plan_.points[i];
    const std::string pdir = point_dir(o_.dir, p);
    if (!fs::is_directory(pdir) || !fs::exists(fs::path(pdir) / "config.yaml")) {  // a failed point; the others go on
      failed_.push_back(p.id + ": " + pdir + " or its config.yaml is missing. Hint: re-plan the sweep into a new directory");
      std::printf("sweep: FAILED %s: %s or its config.yaml is missing\n", p.id.c_str(), pdir.c_str());
      std::fflush(stdout);
      return;
    }
    std::vector<std::string> flags;
    try {
      flags = point_run_flags(p, 1);
    } catch (const Error& e) {  // e.g. dist.tp > 1: this point needs --launcher mpirun; the others go on
      failed_.push_back(p.id + ": " + e.what());
      std::printf("sweep: FAILED %s: %s\n", p.id.c_str(), e.what());
      std::fflush(stdout);
      return;
    }
    fs::remove(fs::path(pdir) / "exit_code");
    const std::string log = pdir + "/train.log";
    {
      std::ofstream l(log, std::ios::app);
      const std::time_t now = std::time(nullptr);
      char when[64];
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
      l << "=== mor sweep run, " << when << ", " << threads_ << " thread(s) ===\n";
    }
    std::vector<std::string> args = {mor_, "train", "--config", pdir + "/config.yaml", "--run-dir", pdir, "--quiet"};
    for (std::string& a : flags) args.push_back(std::move(a));
    ChildSpec cs{std::move(args),
                 {{"OMP_NUM_THREADS", std::to_string(threads_)}, {"OPENBLAS_NUM_THREADS", std::to_string(threads_)}},
                 log};
    running_.push_back({i, spawn_child(cs), clock_type::now()});
    std::printf("sweep: start %s (%lld steps)\n", p.id.c_str(), (long long)p.steps);
    std::fflush(stdout);
  }

  // Collects finished children; returns true when any ended.
  bool reap() {
    bool changed = false;
    for (auto it = running_.begin(); it != running_.end();) {
      int code = 0;
      if (!child_finished(it->pid, code)) {
        ++it;
        continue;
      }
      changed = true;
      const SweepPoint& p = plan_.points[it->index];
      const std::string pdir = point_dir(o_.dir, p);
      const double secs = std::chrono::duration<double>(clock_type::now() - it->start).count();
      write_file_atomically(pdir + "/exit_code", std::to_string(code) + "\n");
      if (code == 0 && point_finished(o_.dir, p)) {
        ++done_;
        session_seconds_ += secs;
        session_steps_ += p.steps;
        std::printf("sweep: done  %s in %s\n", p.id.c_str(), format_duration(secs).c_str());
      } else if (stop_requested()) {
        ++interrupted_;
        std::printf("sweep: stopped %s (exit %d; it resumes from its checkpoint)\n", p.id.c_str(), code);
      } else {
        failed_.push_back(p.id + " (exit " + std::to_string(code) + "): " + last_line(pdir + "/train.log", "error"));
        std::printf("sweep: FAILED %s (exit %d): %s\n         log: %s/train.log\n", p.id.c_str(), code,
                    last_line(pdir + "/train.log", "error").c_str(), pdir.c_str());
      }
      it = running_.erase(it);
    }
    return changed;
  }

  // Remaining steps (pending + the rest of running points) at the measured or benchmarked rate.
  double seconds_left() const {
    double steps = 0, est = 0;
    auto add = [&](const SweepPoint& p, int64_t at) {
      steps += double(p.steps - at);
      est += p.step_seconds * double(p.steps - at);
    };
    for (size_t i : pending_) add(plan_.points[i], 0);
    for (const auto& r : running_) add(plan_.points[r.index], current_step(point_dir(o_.dir, plan_.points[r.index])));
    if (session_steps_ > 0) return steps * session_seconds_ / double(session_steps_) / double(o_.jobs);
    return est > 0 ? est / double(o_.jobs) : -1;
  }

  void progress() {
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start_).count();
    const double left = seconds_left();
    std::printf("sweep: %zu/%zu done | %zu running | %zu failed | %zu pending | elapsed %s | left %s\n", done_,
                plan_.points.size(), running_.size(), failed_.size(), pending_.size(), format_duration(elapsed).c_str(),
                left < 0 ? "unknown" : ("~" + format_duration(left)).c_str());
    std::fflush(stdout);
  }

  int finish() {
    if (!failed_.empty()) {
      std::printf("sweep: %zu point(s) failed (run `mor sweep run %s` again to retry them):\n", failed_.size(), o_.dir.c_str());
      for (const auto& f : failed_) std::printf("  %s\n", f.c_str());
    }
    if (done_ == plan_.points.size()) std::printf("sweep: all %zu points finished; report: mor sweep report %s\n", done_, o_.dir.c_str());
    std::fflush(stdout);
    return done_ == plan_.points.size() ? 0 : 1;
  }

  RunOptions o_;
  SweepPlan plan_;
  int64_t threads_ = 1;
  std::string mor_;
  std::deque<size_t> pending_;
  std::vector<Running> running_;
  std::vector<std::string> failed_;
  size_t done_ = 0, interrupted_ = 0;
  double session_seconds_ = 0;
  int64_t session_steps_ = 0;
  clock_type::time_point start_;
};

}  // namespace

int run_sweep_run(const RunOptions& o) {
  const SweepPlan plan = read_plan(o.dir);
  if (o.launcher != "local" && o.launcher != "mpirun" && o.launcher != "slurm")
    fail_input("--launcher ", o.launcher, ": expected local, mpirun or slurm.");
  if (o.launcher == "local" && (o.submit || o.ranks != 1))
    fail_input("--submit and --ranks go with --launcher mpirun or slurm. Hint: a local run uses --jobs.");
  PathLock lock = PathLock::acquire((fs::path(o.dir) / ".sweep.lock").string(), "sweep directory " + o.dir);
  if (!lock.stale_holder().empty())
    std::fprintf(stderr, "note: %s was locked by %s, which is no longer running; taking it over.\n", o.dir.c_str(),
                 lock.stale_holder().c_str());
  if (o.launcher == "local") return LocalRunner(o, plan).run();
  const std::string script = o.launcher == "mpirun" ? write_mpirun_script(o.dir, plan, o) : write_slurm_script(o.dir, plan, o);
  std::printf("wrote %s\n", script.c_str());
  if (!o.submit) {
    std::printf("start it with: %s %s\n", o.launcher == "mpirun" ? "bash" : "sbatch", script.c_str());
    return 0;
  }
  lock.release();  // the script's points lock their own run directories
  std::fflush(stdout);
  const std::string prog = o.launcher == "mpirun" ? "/bin/bash" : "sbatch";
  ::execlp(prog.c_str(), prog.c_str(), script.c_str(), (char*)nullptr);
  fail_input("cannot start ", prog, " ", script, ". Hint: ", o.launcher == "slurm" ? "is Slurm installed (sbatch on PATH)?" : "check bash.");
}

}  // namespace mor::sweep
