// Checkpoints of a run directory (the trainer holds the directory's lock while it uses this):
//   RUN_DIR/ckpt-00000100.h5          published checkpoints
//   RUN_DIR/ckpt-00000100.h5.tmp      a snapshot being written, or written and awaiting its verdict
//   RUN_DIR/ckpt-00000100.h5.corrupt  set aside on resume: the file failed verification
//   RUN_DIR/latest                    name of the newest published checkpoint: a hint, not the truth
//
// A snapshot is taken at a step boundary (the only stall: copying tensors) and written in the
// background. It is published (renamed into place, `latest` updated, older ones pruned) only when
// the write succeeded AND the trainer approved it: the weights it holds gave a healthy loss on the
// next batch (see divergence_guard.h). A rejected or failed snapshot is removed, and the previous
// checkpoint stays `latest`. Pruning keeps the keep_last newest checkpoints at or before the one
// just published, so no checkpoint is deleted except by a run that has just published a newer one.
#pragma once
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "checkpoints/checkpoint.h"

namespace mor {

// "ckpt-00000100.h5" for step 100.
std::string checkpoint_file_name(int64_t step);
// Published checkpoint files of `dir` (ckpt-*.h5), newest (highest step) first.
std::vector<std::string> list_checkpoints(const std::string& dir);
// The checkpoint a read-only command should load for a run directory: the one `latest` names if it
// exists, else the newest ckpt-*.h5; "" when there is none.
std::string newest_checkpoint(const std::string& dir);

class CheckpointManager {
 public:
  // Removes temp files left by a crashed save (never published).
  CheckpointManager(std::string run_dir, int64_t keep_last);
  ~CheckpointManager();  // waits for the writer; a snapshot without a verdict is removed

  // Starts writing `c` (already a private copy) in the background. A previous snapshot is first
  // waited for and resolved; a failure of it is reported by the next poll().
  void save_async(ckpt::Checkpoint c);
  // The verdict on the snapshot in flight (no-op without one).
  void approve();
  void reject(const std::string& why);
  bool has_snapshot() const { return snapshot_step_ >= 0; }
  int64_t snapshot_step() const { return snapshot_step_; }
  // At a step boundary: publishes an approved snapshot whose write has finished, removes a rejected
  // one. Returns a one-line message when a write failed (its temp file is gone), "" otherwise.
  std::string poll();
  // Waits for the write in flight, then as poll().
  std::string finish();

  struct Found {
    std::string path;
    ckpt::Checkpoint checkpoint;
    std::vector<std::string> notes;  // what was skipped or repaired on the way (printed by the caller)
  };
  // The newest checkpoint that verifies (every tensor's checksum), whatever `latest` says. Files that
  // fail verification are renamed to .corrupt (nothing is deleted) and named in the notes; `latest`
  // is repaired to name the one found. Refuses (BadInput) when checkpoints exist but none verifies.
  std::optional<Found> find_newest_valid(bool with_optimizer);

  // Path of the newest published checkpoint ("" if none).
  std::string latest() const;
  // Removes every checkpoint (published, temp, set aside) and the pointer (for --fresh); files of
  // other names are kept.
  void clear();
  double last_write_seconds() const { return last_write_s_; }

 private:
  void join_writer();
  void publish(const std::string& file, int64_t step);
  void drop_snapshot();
  std::string dir_;
  int64_t keep_last_;
  std::thread worker_;
  std::atomic<bool> write_done_{false};
  std::string write_error_;    // set by the worker before write_done_
  int64_t snapshot_step_ = -1;  // -1: no snapshot in flight
  std::string snapshot_file_;   // ckpt-N.h5 (written as ckpt-N.h5.tmp)
  enum class Verdict { Unknown, Approved, Rejected } verdict_ = Verdict::Unknown;
  std::string unreported_error_;
  double write_s_ = 0, last_write_s_ = 0;
};

}  // namespace mor
