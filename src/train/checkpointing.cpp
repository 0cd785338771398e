// Run-directory checkpoint management; see checkpointing.h.
#include "checkpointing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "src/core/error.h"

namespace mor {
namespace fs = std::filesystem;

CheckpointManager::CheckpointManager(std::string run_dir, int64_t keep_last) : dir_(std::move(run_dir)), keep_last_(keep_last) {
  // A crash in the middle of a save leaves a .tmp file behind; it was never published.
  std::error_code ec;
  if (fs::is_directory(dir_))
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (e.path().extension() == ".tmp") fs::remove(e.path(), ec);
}

CheckpointManager::~CheckpointManager() {
  if (worker_.joinable()) worker_.join();
}

void CheckpointManager::wait() {
  if (worker_.joinable()) worker_.join();
  if (error_) {
    auto e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void CheckpointManager::save_async(ckpt::Checkpoint c) {
  wait();
  char name[40];
  std::snprintf(name, sizeof name, "ckpt-%08lld.h5", (long long)c.state.step);
  const std::string file = name;
  worker_ = std::thread([this, c = std::move(c), file]() {
    try {
      auto t0 = std::chrono::steady_clock::now();
      ckpt::write_checkpoint((fs::path(dir_) / file).string(), c);
      publish(file);
      last_write_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      last_written_ = (fs::path(dir_) / file).string();
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void CheckpointManager::publish(const std::string& file) {
  const fs::path tmp = fs::path(dir_) / "latest.tmp";
  {
    std::ofstream f(tmp);
    f << file << "\n";
  }
  fs::rename(tmp, fs::path(dir_) / "latest");
  std::vector<std::string> all;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("ckpt-", 0) == 0 && e.path().extension() == ".h5") all.push_back(n);
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(keep_last_) < all.size(); ++i)
    if (all[i] != file) fs::remove(fs::path(dir_) / all[i]);
}

std::string CheckpointManager::latest() const {
  std::ifstream f(fs::path(dir_) / "latest");
  std::string name;
  if (!(f >> name)) return "";
  const fs::path p = fs::path(dir_) / name;
  return fs::exists(p) ? p.string() : "";
}

void CheckpointManager::clear() {
  std::error_code ec;
  if (!fs::is_directory(dir_)) return;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string n = e.path().filename().string();
    if ((n.rfind("ckpt-", 0) == 0) || n == "latest" || n == "latest.tmp") fs::remove(e.path(), ec);
  }
}

}  // namespace mor
