// Staging directory for `mor prepare`; see staging.h.
#include "staging.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "src/core/error.h"
#include "src/core/output_guard.h"

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

bool is_shard_name(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name.rfind("shard_", 0) == 0 && (ends_with(".bin") || ends_with(".bin.tmp"));
}

}  // namespace

bool looks_like_dataset(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const fs::file_status st = e.symlink_status(ec);
    if (name == "manifest.json" || name == "tokenizer.model") {
      if (!fs::is_regular_file(st)) return false;
    } else if (name == "train" || name == "val") {
      if (!fs::is_directory(st)) return false;
      for (const auto& f : fs::directory_iterator(e.path(), ec))
        if (!is_shard_name(f.path().filename().string()) || !fs::is_regular_file(f.symlink_status(ec))) return false;
      if (ec) return false;
    } else {
      return false;
    }
  }
  return !ec;
}

StagingDir::StagingDir(const std::string& out, bool overwrite) {
  try {
    open(out, overwrite);
  } catch (...) {
    discard();
    throw;
  }
}

void StagingDir::open(const std::string& out, bool overwrite) {
  if (out.empty()) fail_input("--out is empty. Hint: --out datasets/NAME");
  out_ = normal_output_path(out);  // "a/b/" -> "a/b"
  try {
    for (fs::path p = out_.parent_path(); !p.empty() && !fs::exists(p); p = p.parent_path()) created_root_ = p;
    if (!out_.parent_path().empty()) fs::create_directories(out_.parent_path());
  } catch (const fs::filesystem_error& e) {
    fail_fs(e);
  }
  lock_ = lock_output(out_.string(), "dataset directory " + out);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out_, ec))) {
    if (!overwrite) fail_input(out, ": already exists. Hint: pass --overwrite to replace it, or choose another --out.");
    if (!looks_like_dataset(out_))
      fail_input(out, ": --overwrite refused: it is not a dataset directory but ", describe_existing(out_),
                 " (a dataset holds only manifest.json, tokenizer.model, and train/ and val/ with shard_*.bin files). "
                 "Hint: choose another --out; delete it yourself first if it really is meant to go.");
  }
  try {
    remove_stale(out_);
    tmp_ = out_;
    tmp_ += ".tmp-" + std::to_string(getpid());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  } catch (const fs::filesystem_error& e) {
    fail_fs(e);
  }
}

void StagingDir::discard() {
  std::error_code ec;
  if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  lock_.release();
  if (!created_root_.empty()) fs::remove_all(created_root_, ec);
}

StagingDir::~StagingDir() {
  if (!published_) discard();
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
