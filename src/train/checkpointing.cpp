// Run-directory checkpoint management; see checkpointing.h.
#include "checkpointing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "src/core/error.h"

namespace mor {
namespace fs = std::filesystem;

namespace {

// Step of "ckpt-00000100.h5" (-1 if the name is not a published checkpoint's).
int64_t checkpoint_step(const std::string& name) {
  if (name.size() != 16 || name.rfind("ckpt-", 0) != 0 || name.substr(13) != ".h5") return -1;
  int64_t step = 0;
  for (char ch : name.substr(5, 8)) {
    if (ch < '0' || ch > '9') return -1;
    step = step * 10 + (ch - '0');
  }
  return step;
}

// Whether `name` is a file the run's checkpointing wrote: a checkpoint, one set aside as corrupt
// ("ckpt-00000100.h5.corrupt", ".corrupt.2") or an unfinished one (".tmp").
bool is_checkpoint_file(const std::string& name) {
  if (checkpoint_step(name) >= 0) return true;
  if (name.size() <= 16 || checkpoint_step(name.substr(0, 16)) < 0) return false;
  const std::string rest = name.substr(16);
  if (rest == ".tmp" || rest == ".corrupt") return true;
  return rest.rfind(".corrupt.", 0) == 0 && rest.size() > 9 &&
         std::all_of(rest.begin() + 9, rest.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// The file name `latest` holds ("" if missing or empty); for a symbolic link, the name it points to.
std::string read_pointer(const std::string& dir) {
  std::error_code ec;
  const fs::path pointer = fs::path(dir) / "latest";
  if (fs::is_symlink(fs::symlink_status(pointer, ec))) return fs::read_symlink(pointer, ec).filename().string();
  std::ifstream f(pointer);
  std::string name;
  if (!(f >> name)) return "";
  return name;
}

void write_pointer(const std::string& dir, const std::string& file) {
  const fs::path tmp = fs::path(dir) / "latest.tmp";
  {
    std::ofstream f(tmp);
    f << file << "\n";
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      fail_internal((fs::path(dir) / "latest").string(), ": cannot update the pointer to ", file,
                    " (disk full?). The checkpoint itself is complete.");
    }
  }
  fs::rename(tmp, fs::path(dir) / "latest");
}

}  // namespace

std::string checkpoint_file_name(int64_t step) {
  char name[40];
  std::snprintf(name, sizeof name, "ckpt-%08lld.h5", (long long)step);
  return name;
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (const int64_t s = checkpoint_step(n); s >= 0) found.emplace_back(s, e.path().string());
    }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string newest_checkpoint(const std::string& dir) {
  const std::string named = read_pointer(dir);
  if (!named.empty() && fs::exists(fs::path(dir) / named)) return (fs::path(dir) / named).string();
  const auto all = list_checkpoints(dir);
  return all.empty() ? "" : all.front();
}

CheckpointManager::CheckpointManager(std::string run_dir, int64_t keep_last) : dir_(std::move(run_dir)), keep_last_(keep_last) {
  // A crash in the middle of a save leaves a .tmp file behind; it was never published.
  std::error_code ec;
  if (fs::is_directory(dir_))
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (e.path().extension() == ".tmp") fs::remove(e.path(), ec);
}

CheckpointManager::~CheckpointManager() {
  join_writer();
  if (has_snapshot() && verdict_ != Verdict::Approved) drop_snapshot();
}

void CheckpointManager::join_writer() {
  if (worker_.joinable()) worker_.join();
}

void CheckpointManager::drop_snapshot() {
  std::error_code ec;
  fs::remove(fs::path(dir_) / (snapshot_file_ + ".tmp"), ec);
  snapshot_step_ = -1;
  verdict_ = Verdict::Unknown;
}

void CheckpointManager::save_async(ckpt::Checkpoint c) {
  if (has_snapshot()) {
    MOR_CHECK(verdict_ != Verdict::Unknown, "a checkpoint snapshot was taken before the previous one was judged");
    const std::string err = finish();
    if (!err.empty()) unreported_error_ = err;
  }
  snapshot_step_ = c.state.step;
  snapshot_file_ = checkpoint_file_name(c.state.step);
  verdict_ = Verdict::Unknown;
  write_done_ = false;
  write_error_.clear();
  const std::string tmp = (fs::path(dir_) / (snapshot_file_ + ".tmp")).string();
  worker_ = std::thread([this, c = std::move(c), tmp]() {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      ckpt::write_checkpoint_file(tmp, c);  // removes the temp file itself when it fails
    } catch (const std::exception& e) {
      write_error_ = e.what();
    }
    write_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_done_ = true;
  });
}

void CheckpointManager::approve() {
  if (has_snapshot()) verdict_ = Verdict::Approved;
}

void CheckpointManager::reject(const std::string& why) {
  if (has_snapshot()) verdict_ = Verdict::Rejected;
  (void)why;  // the trainer prints why; the file is removed once the writer lets go of it
}

std::string CheckpointManager::poll() {
  std::string err = std::move(unreported_error_);
  unreported_error_.clear();
  if (!has_snapshot() || !write_done_) return err;
  join_writer();
  if (!write_error_.empty()) {
    err = "checkpoint of step " + std::to_string(snapshot_step_) + " could not be written: " + write_error_;
    drop_snapshot();
    return err;
  }
  if (verdict_ == Verdict::Rejected) drop_snapshot();
  else if (verdict_ == Verdict::Approved) {
    publish(snapshot_file_, snapshot_step_);
    last_write_s_ = write_s_;
    snapshot_step_ = -1;
    verdict_ = Verdict::Unknown;
  }
  return err;
}

std::string CheckpointManager::finish() {
  join_writer();
  return poll();
}

void CheckpointManager::publish(const std::string& file, int64_t step) {
  const fs::path dir(dir_);
  fs::rename(dir / (file + ".tmp"), dir / file);
  write_pointer(dir_, file);
  // Keep the keep_last newest checkpoints at or before this one; never touch newer files.
  int64_t kept = 0;
  for (const std::string& p : list_checkpoints(dir_)) {
    if (checkpoint_step(fs::path(p).filename().string()) > step) continue;
    if (++kept > keep_last_) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  }
}

std::optional<CheckpointManager::Found> CheckpointManager::find_newest_valid(bool with_optimizer) {
  const std::string named = read_pointer(dir_);
  std::vector<std::string> notes, set_aside;
  for (const std::string& path : list_checkpoints(dir_)) {
    const std::string name = fs::path(path).filename().string();
    try {
      Found f{path, ckpt::read_checkpoint(path, with_optimizer), {}};
      // Files are ordered (and pruned) by the step in their name: one that holds another step would
      // be resumed from at every start, and never pruned.
      if (f.checkpoint.state.step != checkpoint_step(name))
        fail_input(path, ": holds step ", f.checkpoint.state.step, ", not the step ", checkpoint_step(name),
                   " its name says. Hint: rename it to ", checkpoint_file_name(f.checkpoint.state.step),
                   " if it belongs to this run, or move it out of ", dir_, ".");
      const fs::path pointer = fs::path(dir_) / "latest";
      if (!set_aside.empty())
        notes.push_back("using the newest checkpoint that verifies, " + name);
      else if (named.empty())
        notes.push_back(pointer.string() + (fs::exists(pointer) ? " is empty" : " is missing") +
                        "; using the newest checkpoint that verifies, " + name);
      else if (named != name)
        notes.push_back(pointer.string() + " names " + named +
                        (fs::exists(fs::path(dir_) / named) ? "" : ", which does not exist") +
                        "; using the newest checkpoint that verifies, " + name);
      std::error_code ec;
      if (fs::is_symlink(fs::symlink_status(path, ec)))  // moved to other storage, or another run's file
        notes.push_back(name + " is a symbolic link to " + fs::read_symlink(path, ec).string() + "; resuming from it");
      if (named != name) write_pointer(dir_, name);
      f.notes = std::move(notes);
      return f;
    } catch (const ckpt::CheckpointCorrupt& e) {
      fs::path aside = path + ".corrupt";
      for (int i = 1; fs::exists(aside); ++i) aside = path + ".corrupt." + std::to_string(i);
      fs::rename(path, aside);
      std::string why = e.what();
      if (const auto h = why.find(" Hint:"); h != std::string::npos) why.resize(h);
      if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
      notes.push_back(name + " fails verification (" + why + "); set aside as " + aside.filename().string());
      set_aside.push_back(aside.string());
    }
  }
  std::error_code ec;
  bool any_corrupt = false;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.path().filename().string().find(".h5.corrupt") != std::string::npos) any_corrupt = true;
  if (any_corrupt) {
    std::string why;
    for (const auto& n : notes) why += "\n  " + n;
    fail_input(dir_, ": holds checkpoints, but none verifies (files set aside as *.corrupt).", why,
               "\nHint: copy the run directory elsewhere to keep them, then pass --fresh to start over (it deletes them).");
  }
  return std::nullopt;
}

std::string CheckpointManager::latest() const { return newest_checkpoint(dir_); }

void CheckpointManager::clear() {
  std::error_code ec;
  if (!fs::is_directory(dir_)) return;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string n = e.path().filename().string();
    if (is_checkpoint_file(n) || n == "latest" || n == "latest.tmp") fs::remove(e.path(), ec);  // nothing else
  }
}

}  // namespace mor
