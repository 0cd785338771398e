// Test helpers for the data pipeline: a temporary directory and a small English-like corpus
// generated deterministically from a fixed word list (real words, not random bytes).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace mor::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  std::string str(const std::string& child = "") const { return (path / child).string(); }
};

// Writes `docs` text files of about `words` words each into dir; returns their paths.
std::vector<std::string> write_corpus(const std::string& dir, int docs, int words, uint64_t seed = 7);

}  // namespace mor::testing
