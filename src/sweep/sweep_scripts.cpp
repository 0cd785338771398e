// mpirun and Slurm scripts for a sweep plan (`mor sweep run --launcher mpirun|slurm`); see
// sweep_run.h. Both skip finished points, write points/ID/exit_code, and launch each point with
// the project's own launchers (launch/mpirun_node.sh, launch/train.slurm), so their flags live in
// one place. With R > 1 ranks per point the global batch is kept: micro_batch / (R / dist.tp) per
// data-parallel rank, and the plan's step and warm-up counts.
#include <filesystem>
#include <sstream>

#include "child_process.h"
#include "src/core/error.h"
#include "src/train/metrics.h"
#include "sweep_run.h"

#ifndef MOR_SOURCE_DIR
#define MOR_SOURCE_DIR "."
#endif

namespace mor::sweep {

std::vector<std::string> point_run_flags(const SweepPoint& p, int64_t ranks) {
  if (p.warmup_steps < 0) {  // a plan from before per-point warm-up counts: only one process can run it as is
    if (ranks == 1) return {};
    fail_input("the plan of sweep point ", p.id, " predates per-point warm-up counts, needed with --ranks > 1. Hint: re-plan it.");
  }
  if (ranks % p.tp != 0)
    fail_input(ranks == 1 ? std::string("one process") : "--ranks " + std::to_string(ranks), " cannot run sweep point ", p.id,
               " (dist.tp ", p.tp, " needs a multiple of ", p.tp, " ranks). Hint: run the sweep with --launcher mpirun (or slurm) "
               "and --ranks a multiple of ", p.tp, ".");
  const int64_t dp = ranks / p.tp;  // the batch is split over the data-parallel ranks only
  if (p.micro_batch % dp != 0)
    fail_input("--ranks ", ranks, " gives ", dp, " data-parallel ranks (dist.tp ", p.tp, "), and ", dp,
               " does not divide train.micro_batch ", p.micro_batch, " of sweep point ", p.id,
               ", so the global batch would change. Hint: pick --ranks so that --ranks / ", p.tp, " divides ", p.micro_batch, ".");
  return {"--set", "train.micro_batch=" + std::to_string(p.micro_batch / dp), "--set", "train.steps=" + std::to_string(p.steps),
          "--set", "train.warmup_steps=" + std::to_string(p.warmup_steps)};
}
namespace fs = std::filesystem;
namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The extra `mor train` flags of a point on `ranks` ranks, for a shell script.
std::string rank_flags(const SweepPoint& p, int64_t ranks) {
  std::string out;
  for (const std::string& a : point_run_flags(p, ranks)) out += " " + a;
  return out;
}

std::string abs_dir(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

}  // namespace

std::string write_mpirun_script(const std::string& dir, const SweepPlan& plan, const RunOptions& o) {
  const std::string root = MOR_SOURCE_DIR, d = abs_dir(dir);
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n"
    << "# Sweep " << plan.name << " (" << plan.points.size() << " points) under mpirun, written by `mor sweep run --launcher mpirun`.\n"
    << "# Runs the unfinished points one after another, each on RANKS ranks (launch/mpirun_node.sh);\n"
    << "# a failed point is recorded in points/ID/exit_code and the others go on. Re-run to resume.\n"
    << "set -uo pipefail\n"
    << "export MOR=" << quote(self_executable()) << "\n"
    << "DIR=" << quote(d) << "\n"
    << "RANKS=\"${RANKS:-" << o.ranks << "}\"\n"
    << "[ \"$RANKS\" = " << o.ranks << " ] || { echo \"RANKS must be " << o.ranks
    << " (the batch split was written for it); re-generate the script\" >&2; exit 2; }\n"
    << "failed=0\n"
    << "run_point() {  # ID EXTRA_FLAGS...\n"
    << "  local p=\"$DIR/points/$1\"; shift\n"
    << "  if [ -f \"$p/summary.json\" ]; then echo \"sweep: $(basename \"$p\") already finished\"; return; fi\n"
    << "  echo \"sweep: start $(basename \"$p\")\"\n"
    << "  bash " << quote(root + "/launch/mpirun_node.sh") << " \"$RANKS\" --config \"$p/config.yaml\" --run-dir \"$p\" --quiet \"$@\" >>\"$p/train.log\" 2>&1\n"
    << "  local rc=$?\n"
    << "  echo \"$rc\" >\"$p/exit_code\"\n"
    << "  if [ \"$rc\" -ne 0 ]; then failed=$((failed + 1)); echo \"sweep: FAILED $(basename \"$p\") (exit $rc): $(grep -m1 '^error' \"$p/train.log\" || tail -n1 \"$p/train.log\")\"; fi\n"
    << "}\n";
  for (const auto& p : plan.points) s << "run_point " << quote(p.id) << rank_flags(p, o.ranks) << "\n";
  s << "echo \"sweep: $failed point(s) failed\"\n"
    << "[ \"$failed\" -eq 0 ]\n";
  const std::string path = (fs::path(d) / "run_mpirun.sh").string();
  write_file_atomically(path, s.str());
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  return path;
}

std::string write_slurm_script(const std::string& dir, const SweepPlan& plan, const RunOptions& o) {
  const std::string root = MOR_SOURCE_DIR, d = abs_dir(dir);
  const int64_t cpus = o.cpus_per_task > 0 ? o.cpus_per_task : plan.threads;
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n"
    << "# Sweep " << plan.name << " as a Slurm array job, written by `mor sweep run --launcher slurm`: one array task per\n"
    << "# point, at most " << o.jobs << " at once; each point runs launch/train.slurm (srun, " << o.ranks
    << " rank(s)). Finished points are skipped, so\n# resubmitting resumes the sweep (points resume from their checkpoints).\n"
    << "#SBATCH --job-name=mor-sweep-" << plan.name << "\n"
    << "#SBATCH --array=0-" << plan.points.size() - 1 << "%" << o.jobs << "\n"
    << "#SBATCH --ntasks=" << o.ranks << "\n"
    << "#SBATCH --cpus-per-task=" << cpus << "\n"
    << "#SBATCH --output=" << d << "/points/slurm-%A_%a.out\n"
    << "#SBATCH --signal=TERM@120\n";
  if (!o.time_limit.empty()) s << "#SBATCH --time=" << o.time_limit << "\n";
  s << "set -uo pipefail\n"
    << "DIR=" << quote(d) << "\n"
    << "POINTS=(";
  for (const auto& p : plan.points) s << "\n  " << quote(p.id + rank_flags(p, o.ranks));
  s << "\n)\n"
    << "read -r id extra <<<\"${POINTS[${SLURM_ARRAY_TASK_ID:?run this script with sbatch}]}\"\n"
    << "p=\"$DIR/points/$id\"\n"
    << "[ -f \"$p/summary.json\" ] && { echo \"$id: already finished\"; exit 0; }\n"
    << "# shellcheck disable=SC2086\n"
    << "MOR_ROOT=" << quote(root) << " bash " << quote(root + "/launch/train.slurm")
    << " --config \"$p/config.yaml\" --run-dir \"$p\" --quiet $extra >>\"$p/train.log\" 2>&1\n"
    << "rc=$?\n"
    << "echo \"$rc\" >\"$p/exit_code\"\n"
    << "exit \"$rc\"\n";
  const std::string path = (fs::path(d) / "sweep.slurm").string();
  write_file_atomically(path, s.str());
  return path;
}

}  // namespace mor::sweep
