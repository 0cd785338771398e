// Test helpers for the data pipeline: a temporary directory, a small English-like corpus generated
// deterministically from a fixed word list (real words, not random bytes), shard writing, a
// "counting" dataset whose token i is i % vocab (so windows are recognisable), and capture of
// BadInput messages.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
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
// About `words` words of English-like text with punctuation, line breaks and indentation.
std::string english_text(int words, uint64_t seed);

// Runs f and returns the message of the BadInput error it throws ("" and a test failure otherwise).
std::string error_of(const std::function<void()>& f);

void write_shard(const std::string& path, const std::vector<int32_t>& tokens, uint64_t vocab, uint64_t tokenizer_hash = 42);
// DIR/train with two shards of `tokens` tokens in total (token i = i % vocab); returns DIR/train.
std::string counting_dataset(const TempDir& t, uint64_t tokens, uint64_t vocab = 1000);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

}  // namespace mor::testing
