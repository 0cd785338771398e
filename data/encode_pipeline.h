// The parallel, bounded-memory encoding pipeline of `mor prepare`:
//
//   reader thread    DocumentReader -> batches of chunks (~1 MB of text each), corpus order
//   N workers        check UTF-8 (and extract .jsonl "text"), encode with a TokenEncoder each,
//                    append EOS at document ends
//   calling thread   receives encoded chunks strictly in corpus order (`consume`)
//
// At most 2N + 2 batches are read but not yet consumed, so memory stays bounded whatever the
// corpus size. The first error anywhere stops every thread and is rethrown to the caller.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "corpus.h"
#include "tokenizer.h"

namespace mor::data {

struct EncodedChunk {
  std::vector<int32_t> ids;  // tokens of the chunk, then EOS when it ends its document
  uint64_t document = 0;
  uint64_t file_bytes = 0;   // input bytes this chunk accounts for
  bool end_of_document = false;
};

struct EncodeStats {
  uint64_t cache_hits = 0, cache_misses = 0;
};

EncodeStats run_encode_pipeline(DocumentReader& reader, const std::vector<SourceFile>& sources, const Tokenizer& tok,
                                int threads, const std::function<void(const EncodedChunk&)>& consume);

}  // namespace mor::data
