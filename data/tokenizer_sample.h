// A bounded, deterministic sample of the corpus for tokenizer training.
//
// The corpus is viewed as 1 MB blocks (each file split at 1 MB offsets; a small file is one
// block). Each block is kept with probability max_bytes / corpus bytes, decided by a seeded hash
// of (file number, block), and read from its first line start to the first line end after it, so the
// sample is spread over the whole corpus, costs one seek per block, and never exceeds max_bytes.
// Kept text is cut into training sentences of whole lines (newlines included, so the tokenizer
// learns them) of at most 4 KB. Text that is not UTF-8 is rejected here already (fail fast).
#pragma once
#include <cstdint>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

#include "corpus.h"

namespace mor::data {

class TokenizerSample {
 public:
  TokenizerSample(const std::vector<SourceFile>& sources, uint64_t max_bytes, uint64_t seed);
  bool next(std::string& sentence);  // false when the sample is exhausted
  uint64_t bytes() const { return bytes_; }

 private:
  bool read_next_block();
  void add_text(const std::string& text);

  const std::vector<SourceFile>& sources_;
  uint64_t max_bytes_, seed_;
  double keep_;
  size_t file_ = 0;     // current file
  uint64_t block_ = 0;  // next block of the current file
  std::ifstream in_;
  std::deque<std::string> pending_;
  uint64_t bytes_ = 0;
};

}  // namespace mor::data
