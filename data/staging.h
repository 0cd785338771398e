// Builds a dataset directory out of sight and publishes it atomically: everything is written to
// OUT.tmp-<pid> and renamed to OUT at the end, so a failed or interrupted run never leaves a
// half-written dataset at OUT. On failure the temporary directory (and any parent directories
// this run created) is removed; leftovers of killed runs (OUT.tmp-<pid of a dead process>) are
// removed by the next run.
#pragma once
#include <filesystem>
#include <string>

namespace mor::data {

class StagingDir {
 public:
  // BadInput when `out` exists and !overwrite.
  StagingDir(const std::string& out, bool overwrite);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return tmp_; }
  // Renames the temporary directory to OUT. With --overwrite, the old OUT is moved aside first and
  // deleted only once the new one is in place.
  void publish();

 private:
  std::filesystem::path out_, tmp_, created_root_;
  bool published_ = false;
};

}  // namespace mor::data
