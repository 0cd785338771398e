// Data test helpers; see data_fixtures.h.
#include "data_fixtures.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "data/shard.h"
#include "src/core/error.h"
#include "src/core/rng.h"

namespace mor::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  static int counter = 0;
  path = fs::temp_directory_path() / ("mor-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path);
  fs::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string english_text(int words, uint64_t seed) {
  static const char* kWords[] = {
      "the", "model", "learns", "to", "route", "each", "token", "through", "a", "shared", "stack", "of", "layers",
      "and", "some", "tokens", "recurse", "more", "often", "than", "others", "because", "they", "are", "harder",
      "training", "data", "is", "streamed", "from", "shards", "on", "disk", "while", "optimizer", "updates",
      "weights", "with", "gradients", "computed", "by", "reverse", "mode", "differentiation", "python", "function",
      "returns", "value", "list", "string", "module", "import", "class", "object", "method", "error", "file",
      "documentation", "example", "parameter", "default", "version", "changed", "added", "see", "also", "note"};
  static const char* kPunct[] = {" ", " ", " ", " ", " ", " ", ", ", ". ", ".\n", ":\n\n   ", " (", ") ", "  "};
  const uint64_t nw = sizeof(kWords) / sizeof(kWords[0]), np = sizeof(kPunct) / sizeof(kPunct[0]);
  Rng rng(seed);
  std::string s;
  for (int w = 0; w < words; ++w) {
    s += kWords[rng.below(nw)];
    s += kPunct[rng.below(np)];
  }
  return s + "\n";
}

std::vector<std::string> write_corpus(const std::string& dir, int docs, int words, uint64_t seed) {
  fs::create_directories(dir);
  std::vector<std::string> paths;
  for (int d = 0; d < docs; ++d) {
    const std::string p = (fs::path(dir) / ("doc" + std::to_string(1000 + d) + ".txt")).string();
    write_file(p, english_text(words, seed * 1000 + uint64_t(d)));
    paths.push_back(p);
  }
  return paths;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a BadInput error";
  return "";
}

void write_shard(const std::string& path, const std::vector<int32_t>& tokens, uint64_t vocab, uint64_t tokenizer_hash) {
  data::ShardWriter w(path, vocab, tokenizer_hash);
  w.append(tokens.data(), tokens.size());
  w.finish();
}

std::string counting_dataset(const TempDir& t, uint64_t tokens, uint64_t vocab) {
  fs::create_directories(t.str("ds/train"));
  std::vector<int32_t> v(tokens);
  for (uint64_t i = 0; i < tokens; ++i) v[i] = int32_t(i % vocab);
  const size_t half = tokens / 2 + 3;  // two shards, so windows span a shard boundary
  write_shard(t.str("ds/train/shard_000000.bin"), std::vector<int32_t>(v.begin(), v.begin() + half), vocab);
  write_shard(t.str("ds/train/shard_000001.bin"), std::vector<int32_t>(v.begin() + half, v.end()), vocab);
  return t.str("ds/train");
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace mor::testing
