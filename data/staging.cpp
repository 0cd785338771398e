// Staging directory for `mor prepare`; see staging.h.
#include "staging.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "src/core/error.h"

namespace mor::data {
namespace fs = std::filesystem;
namespace {

// Removes OUT.tmp-<pid> directories whose process no longer runs.
void remove_stale(const fs::path& out) {
  std::error_code ec;
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  const std::string prefix = out.filename().string() + ".tmp-";
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(digits);
    if (pid != long(getpid()) && kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
}

[[noreturn]] void fail_fs(const fs::filesystem_error& e) {
  fail_input(e.path1().string(), ": ", e.code().message(),
             ". Hint: check that the output location is writable and has free space.");
}

}  // namespace

StagingDir::StagingDir(const std::string& out, bool overwrite) : out_(out) {
  if (out_.empty()) fail_input("--out is empty. Hint: --out datasets/NAME");
  if (!out_.has_filename()) out_ = out_.parent_path();  // "a/b/" -> "a/b"
  std::error_code ec;
  if (fs::exists(out_, ec) && !overwrite)
    fail_input(out, ": already exists. Hint: pass --overwrite to replace it, or choose another --out.");
  try {
    for (fs::path p = out_.parent_path(); !p.empty() && !fs::exists(p); p = p.parent_path()) created_root_ = p;
    if (!out_.parent_path().empty()) fs::create_directories(out_.parent_path());
    remove_stale(out_);
    tmp_ = out_;
    tmp_ += ".tmp-" + std::to_string(getpid());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  } catch (const fs::filesystem_error& e) {
    fail_fs(e);
  }
}

StagingDir::~StagingDir() {
  if (published_) return;
  std::error_code ec;
  if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  if (!created_root_.empty()) fs::remove_all(created_root_, ec);
}

void StagingDir::publish() {
  try {
    fs::path old;
    if (fs::exists(out_)) {
      old = out_;
      old += ".old-" + std::to_string(getpid());
      fs::rename(out_, old);
    }
    fs::rename(tmp_, out_);
    published_ = true;
    if (!old.empty()) fs::remove_all(old);
  } catch (const fs::filesystem_error& e) {
    fail_fs(e);
  }
}

}  // namespace mor::data
