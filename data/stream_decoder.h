// Text of generated tokens as they arrive, for streaming output. A UTF-8 character may be spread
// over several byte-fallback tokens (one per byte); decoding the first of them alone would give a
// replacement character, so the streamer holds back the byte pieces of a character whose
// continuation bytes have not all arrived (at most 3 tokens). It never cuts
// inside such a sequence, so the concatenation of everything push() and finish() return equals
// Tokenizer::decode() of all the tokens (SentencePiece decoding without a dummy prefix is a
// concatenation of the pieces' texts, consecutive byte pieces decoded together).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer.h"

namespace mor::data {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  // The text that became complete with `id` ("" while a character is still split).
  std::string push(int32_t id);
  // The text of the tokens still held back (e.g. a truncated character at the end).
  std::string finish();

 private:
  size_t open_character_start() const;
  const Tokenizer& tok_;
  std::vector<int32_t> pending_;
};

}  // namespace mor::data
