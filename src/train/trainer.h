// The training loop: gradient accumulation, clipping, AdamW, LR schedule, FLOP-budget
// accounting, periodic evaluation, step lines on stdout and JSON lines in the run directory,
// a divergence guard, a locked run directory, and a clean stop on SIGINT/SIGTERM.
// Exit codes of run(): 0 done (or stopped as asked), 1 stopped by a signal or a failure,
// 3 stopped by the divergence guard (non-finite values, or a spike with train.guard.action=stop).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "checkpointing.h"
#include "data_parallel.h"
#include "data/loader.h"
#include "divergence_guard.h"
#include "optimizer.h"
#include "schedule.h"
#include "tensor_parallel.h"
#include "src/config/config.h"
#include "src/core/path_lock.h"
#include "src/core/rng.h"
#include "src/model/model.h"

namespace mor {
namespace dist {
class ProcessGrid;
}

struct TrainOptions {
  std::string run_dir;   // default: runs/<config name>
  bool resume = false;   // continue from the run directory's latest checkpoint
  bool fresh = false;    // ignore checkpoints in the run directory
  bool quiet = false;    // no resolved-config dump
  int64_t stop_at_step = 0;  // > 0: checkpoint and exit (code 0) after this global step
};

// Everything that evolves during training besides parameters and optimizer moments.
struct TrainState {
  int64_t step = 0;          // optimizer steps completed
  int64_t tokens = 0;        // training target tokens consumed (all ranks)
  double flops = 0;          // budget FLOPs spent (MOR.md section 6 accounting)
  data::LoaderPosition loader;
  Rng::State rng{};          // routing randomness (random router, sampling)
};

// Resolves the number of optimizer steps: train.steps, or from train.budget_flops spent by `dp`
// data-parallel ranks together (each step consumes micro_batch x grad_accum x seq_len x dp tokens).
// With both set they must agree (BadInput naming where they were set otherwise): a budget beside a
// different step count would be silently ignored.
int64_t resolve_total_steps(const LoadedConfig& lc, int64_t dp = 1);

class Trainer {
 public:
  Trainer(const LoadedConfig& cfg, const TrainOptions& opts);
  ~Trainer();
  // Runs to the end (or a stop request). Returns the process exit code.
  int run();

  Model& model() { return *model_; }
  AdamW& optimizer() { return *optim_; }
  TrainState& state() { return state_; }
  const Config& config() const { return cfg_.config; }
  const std::string& run_dir() const { return run_dir_; }
  int64_t total_steps() const { return total_steps_; }

 private:
  struct StepOutcome {
    double loss = 0, grad_norm = 0, lr = 0;
    Judgement judgement;
    bool skipped = false;  // the guard dropped the update (train.guard.action=skip)
  };
  void print_header();
  // Refuses a run directory where checkpoints could not be written (read-only, full).
  void check_writable();
  // Opens the val split now, so that a missing, corrupt or too short one fails before training.
  void check_val_split();
  // Restores model, optimizer, loader, RNG, guard history and counters from a checkpoint.
  void restore(const std::string& path, const ckpt::Checkpoint& ck);
  // Refuses a resume whose data order (data.shuffle, and train.seed when shuffling) differs from the
  // checkpoint's: the saved loader position indexes that order.
  void check_data_order_kept(const std::string& path, const LoadedConfig& stored, const ckpt::TrainingState& s);
  // After a restore: a FLOP-budget run whose global batch changed gets the steps its remaining
  // budget buys (and the schedule for them); a changed batch or learning-rate schedule is a note.
  // `dp_then`: the data-parallel ranks the checkpoint was written by.
  void adapt_to_resumed_settings(const LoadedConfig& stored, const ckpt::TrainingState& s, int64_t dp_then);
  // Snapshot now (copies the tensors), write in the background; published once judged healthy.
  // Refuses (sets guard_blocked_save_) when the parameters are not finite.
  void save_checkpoint();
  void snapshot_checkpoint();
  // Judges the snapshot in flight with one forward pass on the next batch (no update), then waits
  // for its write; retries failed writes up to train.ckpt_retries. Returns a failure message or "".
  std::string settle_checkpoint();
  void probe_snapshot();  // rank 0: judge the snapshot in flight by one forward pass
  // Reports a failed checkpoint write (one line). Returns true when the run must stop.
  bool on_write_failure(const std::string& message);
  void compute_gradients(StepOutcome& o);  // forward + backward over the step's micro-batches
  void apply_update(const StepOutcome& o);  // clip + AdamW (+ ZeRO gather) + router bias
  double grad_norm(const std::string& group) const;  // of the reduced gradient (all ranks agree bitwise)
  // Means (loss, aux, scores) and sums (token counts) of this step's statistics over DP ranks.
  void reduce_step_statistics(double& loss, std::map<std::string, double>& aux, int64_t& tokens);
  void log_step(const StepOutcome& o, double step_seconds, double cpu_seconds);
  std::string run_eval(bool final);  // evaluates, records the loss; returns the line to print
  int train_loop();                  // the steps; returns the exit code
  std::string resume_hint() const;
  std::string latest_checkpoint() const;  // "" on ranks other than 0
  // Rank 0: approves the snapshot in flight when `j` is healthy, else rejects it with a warning.
  void judge_snapshot(const Judgement& j, const std::string& context);

  LoadedConfig cfg_;
  TrainOptions opts_;
  std::unique_ptr<dist::ProcessGrid> grid_;
  std::unique_ptr<dist::Communicator> tp_device_comm_;  // NCCL over the tp group for GPU tensors (else null)
  Device device_;  // train.device: where the model, its gradients and the optimizer state live
  void open_gpu_collectives();  // train.device cuda on several ranks: one GPU each, NCCL for DP and TP
  std::unique_ptr<TensorParallel> tp_;  // the model's TP group (outlives the model)
  std::unique_ptr<dist::Communicator> arena_comm_;  // NCCL over the dp group for GPU arenas (else null)
  std::unique_ptr<DataParallel> dp_;
  bool root_ = true;            // world rank 0: prints, writes metrics and checkpoints
  std::string threads_reason_;  // why this many threads per rank
  std::string run_dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<AdamW> optim_;
  std::unique_ptr<data::BatchLoader> loader_;
  std::unique_ptr<class MetricsWriter> metrics_;
  PathLock lock_;  // RUN_DIR/.lock, held for the trainer's life (removed on a clean exit)
  std::unique_ptr<CheckpointManager> ckpts_;
  DivergenceGuard guard_;
  int64_t write_failures_ = 0;  // consecutive failed checkpoint writes
  bool retry_save_ = false;     // save again at the next step boundary
  int64_t session_start_step_ = 0;
  int64_t last_saved_step_ = -1;     // step of the newest snapshot taken
  double last_grad_norm_ = 0;        // of the last step (the probe forward has none of its own)
  bool guard_blocked_save_ = false;  // the parameters were not finite at a save
  bool guard_stopped_ = false;       // the guard ended the run: save nothing more
  std::string resumed_from_;
  LrSchedule schedule_;
  TrainState state_;
  int64_t total_steps_ = 0;
  double budget_flops_per_token_ = 0, executed_flops_per_token_ = 0;
  double fma_gflops_ = 0, sgemm_gflops_ = 0;  // measured at start: the MFU and sgemm_util denominators
  double elapsed_ = 0, step_time_ema_ = 0;
  double last_val_loss_ = NAN;
  double last_ckpt_stall_ = 0;
  // Per-step values reported in the step line / metrics.
  ForwardResult last_forward_;
  RoutingStats step_routing_;  // summed over the step's micro-batches (means averaged)
  Rng routing_rng_;
};

}  // namespace mor
