// Advisory exclusive locks on outputs (a run directory, a dataset or export being written), held for
// the life of a PathLock object. The lock is an flock(2) on a small file whose text names the holder
// ("pid 1234 on host node-3, since ..."), so a refusal can say who holds it. The kernel drops the
// lock when the holder dies, so a lock file left by a dead process is stale by construction: it is
// taken over, with a note naming the dead holder.
#pragma once
#include <string>

namespace mor {

class PathLock {
 public:
  PathLock() = default;
  // Locks `lock_file` (created if missing). `what` names the protected thing in messages, e.g.
  // "run directory runs/tiny". Refuses (BadInput, exit 2) when another live process holds it.
  // remove_on_release: delete the lock file when released (for locks beside an output, such as
  // OUT.lock next to an export directory); a run directory keeps its RUN_DIR/.lock.
  static PathLock acquire(const std::string& lock_file, const std::string& what, bool remove_on_release = false);
  ~PathLock();
  PathLock(PathLock&& o) noexcept;
  PathLock& operator=(PathLock&& o) noexcept;
  PathLock(const PathLock&) = delete;
  PathLock& operator=(const PathLock&) = delete;

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // The holder of a stale lock this one took over ("" if none): reported by the caller as a note.
  const std::string& stale_holder() const { return stale_; }
  void release();

 private:
  int fd_ = -1;
  bool remove_ = false;
  std::string path_, stale_;
};

// "pid 1234 on host NAME" for this process.
std::string lock_holder_id();

}  // namespace mor
