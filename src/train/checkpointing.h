// Checkpoints of a run directory: snapshot at a step boundary (the only stall: copying tensors),
// write in a background thread, then publish atomically:
//   RUN_DIR/ckpt-00000100.h5   complete checkpoints (written as .tmp, fsync'ed, renamed)
//   RUN_DIR/latest             name of the newest complete checkpoint (updated after the rename)
// Older checkpoints beyond keep_last are deleted only after a newer one is published.
#pragma once
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "checkpoints/checkpoint.h"

namespace mor {

class CheckpointManager {
 public:
  CheckpointManager(std::string run_dir, int64_t keep_last);
  ~CheckpointManager();

  // Writes `c` (already a private copy) in the background; waits for the previous save first.
  void save_async(ckpt::Checkpoint c);
  // Waits for a pending save; rethrows its error.
  void wait();
  // Path of the newest complete checkpoint, "" if none.
  std::string latest() const;
  // Removes every checkpoint, the pointer and stale temp files (for --fresh).
  void clear();
  double last_write_seconds() const { return last_write_s_; }
  std::string last_written() const { return last_written_; }

 private:
  void publish(const std::string& file);
  std::string dir_;
  int64_t keep_last_;
  std::thread worker_;
  std::exception_ptr error_;
  double last_write_s_ = 0;
  std::string last_written_;
};

}  // namespace mor
