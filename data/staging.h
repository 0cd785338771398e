// Staging directory for `mor prepare`: builds a dataset directory out of sight and publishes it
// atomically. Everything is written to OUT.tmp-<pid> and renamed to OUT at the end, so a failed or
// interrupted run never leaves a half-written dataset at OUT. On failure the temporary directory
// (and any parent directories this run created) is removed; leftovers of killed runs
// (OUT.tmp-<pid of a dead process>) are removed by the next run. OUT.lock (a PathLock) is held from
// the check of OUT to the publication, so a second `mor prepare` (or `mor export`) writing the same
// OUT is refused, naming this process. --overwrite replaces only a dataset directory (see
// looks_like_dataset); anything else at OUT is refused and left untouched.
#pragma once
#include <filesystem>
#include <string>

#include "src/core/path_lock.h"

namespace mor::data {

// True for what `mor prepare` writes: a directory holding only manifest.json, tokenizer.model and
// train/ and val/ directories of shard_*.bin files (or a subset of them, e.g. an incomplete dataset;
// an empty directory qualifies too: there is nothing to lose).
bool looks_like_dataset(const std::filesystem::path& dir);

class StagingDir {
 public:
  // BadInput when `out` exists and !overwrite, when it exists and is not a dataset, or when another
  // process holds OUT.lock.
  StagingDir(const std::string& out, bool overwrite);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return tmp_; }
  // Renames the temporary directory to OUT. With --overwrite, the old OUT is moved aside first and
  // deleted only once the new one is in place.
  void publish();

 private:
  void open(const std::string& out, bool overwrite);
  void discard();  // removes what an unpublished run created and releases the lock
  std::filesystem::path out_, tmp_, created_root_;
  PathLock lock_;
  bool published_ = false;
};

}  // namespace mor::data
