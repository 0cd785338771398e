// `mor sweep run DIR`: runs the plan's unfinished points.
//   local (default): up to --jobs points at once as child `mor train` processes, the CPUs divided
//     between them (OMP_NUM_THREADS = cores / jobs). A point resumes from its newest valid
//     checkpoint (the plan sets train.ckpt_every to a tenth of its steps, so a killed sweep loses
//     at most that). A failed point is recorded (points/ID/exit_code, its train.log) and the
//     others go on. SIGINT/SIGTERM: every running point checkpoints and stops; run again to go on.
//     DIR/.sweep.lock refuses a second `sweep run` on the same DIR.
//   mpirun | slurm: writes DIR/run_mpirun.sh (points one after another, each on --ranks ranks via
//     launch/mpirun_node.sh) or DIR/sweep.slurm (an array job, one task per point, via
//     launch/train.slurm); --submit starts it (bash / sbatch).
// A point is finished when points/ID/summary.json exists (written by the trainer at its end).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sweep_plan.h"

namespace mor::sweep {

struct RunOptions {
  std::string dir;
  int64_t jobs = 1;
  std::string launcher = "local";  // local | mpirun | slurm
  bool submit = false;
  int64_t ranks = 1;               // mpirun / slurm: ranks per point
  int64_t cpus_per_task = 0;       // slurm: --cpus-per-task (0: the plan's threads per point)
  std::string time_limit;          // slurm: --time (e.g. 2:00:00); "" = the partition's default
};
int run_sweep_run(const RunOptions& o);

// True when the point's run directory holds summary.json.
bool point_finished(const std::string& dir, const SweepPoint& p);

// The `mor train` flags that run point `p` as planned on `ranks` ranks, whatever its config.yaml
// holds now (the trainer rewrites it with the flags a launcher passed): the planned global batch
// (train.micro_batch / (ranks / dist.tp) per data-parallel rank), step and warm-up counts. Every
// launcher passes them, so a point may be resumed by another launcher or rank count.
std::vector<std::string> point_run_flags(const SweepPoint& p, int64_t ranks);

// Script writers (sweep_scripts.cpp); return the script path.
std::string write_mpirun_script(const std::string& dir, const SweepPlan& plan, const RunOptions& o);
std::string write_slurm_script(const std::string& dir, const SweepPlan& plan, const RunOptions& o);

struct ReportOptions {
  std::string dir;
  std::string params = "non_embedding";  // x axis of the isoFLOP fits: non_embedding | unique
};
// Runs launch/sweep_report.py on DIR (fits, plots, report.md); see that script.
int run_sweep_report(const ReportOptions& o);

}  // namespace mor::sweep
