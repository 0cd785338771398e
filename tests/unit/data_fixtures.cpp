// Data test helpers; see data_fixtures.h.
#include "data_fixtures.h"

#include <unistd.h>

#include <fstream>

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

std::vector<std::string> write_corpus(const std::string& dir, int docs, int words, uint64_t seed) {
  static const char* kWords[] = {
      "the", "model", "learns", "to", "route", "each", "token", "through", "a", "shared", "stack", "of", "layers",
      "and", "some", "tokens", "recurse", "more", "often", "than", "others", "because", "they", "are", "harder",
      "training", "data", "is", "streamed", "from", "shards", "on", "disk", "while", "the", "optimizer", "updates",
      "weights", "with", "gradients", "computed", "by", "reverse", "mode", "differentiation", "python", "function",
      "returns", "value", "list", "string", "module", "import", "class", "object", "method", "error", "file"};
  const int nw = int(sizeof(kWords) / sizeof(kWords[0]));
  fs::create_directories(dir);
  std::vector<std::string> paths;
  Rng rng(seed);
  for (int d = 0; d < docs; ++d) {
    const std::string p = (fs::path(dir) / ("doc" + std::to_string(1000 + d) + ".txt")).string();
    std::ofstream f(p);
    for (int w = 0; w < words; ++w) {
      f << kWords[rng.below(uint64_t(nw))];
      f << ((w + 1) % 12 == 0 ? ".\n" : " ");
    }
    f << "\n";
    paths.push_back(p);
  }
  return paths;
}

}  // namespace mor::testing
