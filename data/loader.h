// Streaming batch loader over a split of token shards (formats: shard.h, manifest.h).
//
// A split is one token stream: the shards of the split concatenated in manifest order. It is cut
// into W = floor((tokens - 1) / T) windows; window w holds tokens [w*T, w*T + T] (T+1 tokens, so
// inputs are [0, T) and targets [1, T]). Each epoch visits every window exactly once, in an order
// that is a deterministic permutation of (seed, epoch) (or corpus order when shuffle is off).
//
// Data parallelism: each optimizer micro-step consumes B * dp_size consecutive windows of the
// permuted order; rank r takes windows [r*B, (r+1)*B) of them. The position is GLOBAL (epoch,
// windows consumed by all ranks together) so a run can resume on a different number of ranks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "src/core/tensor.h"

namespace mor::data {

struct LoaderPosition {
  uint64_t epoch = 0;
  uint64_t consumed = 0;  // windows of this epoch consumed by all ranks together
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && consumed == o.consumed; }
};

struct LoaderOptions {
  std::string split_dir;     // e.g. data/pydocs/train
  int64_t batch = 1;         // B windows per rank per call
  int64_t seq_len = 0;       // T
  uint64_t seed = 0;
  bool shuffle = true;
  int dp_rank = 0;
  int dp_size = 1;
  int prefetch = 2;          // batches prepared ahead by the background thread (0: none)
  int64_t expect_vocab = 0;  // > 0: fail unless the dataset's vocab size equals this
};

class BatchLoader {
 public:
  // Opens and validates every shard of the split (BadInput error naming the file otherwise).
  explicit BatchLoader(const LoaderOptions& opts);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Next batch for this rank: i32 [B, T+1]. Advances the global position by B * dp_size.
  Tensor next();
  // Position of the next batch to be returned (what a checkpoint stores).
  LoaderPosition position() const;
  // Continue so that next() returns exactly the batch that followed `pos`.
  void seek(const LoaderPosition& pos);

  int64_t vocab_size() const;
  uint64_t tokenizer_hash() const;
  uint64_t windows_per_epoch() const;
  uint64_t total_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sequential (unshuffled) pass over a split for evaluation: windows in corpus order, each once.
// Returns batches of up to B windows; an empty tensor when exhausted (or after max_windows).
class EvalStream {
 public:
  EvalStream(const std::string& split_dir, int64_t batch, int64_t seq_len, uint64_t max_windows = 0,
             int64_t expect_vocab = 0, uint64_t expect_tokenizer_hash = 0);
  ~EvalStream();
  Tensor next();  // i32 [b, T+1] with b <= B, or undefined when done
  uint64_t windows() const;  // of the whole pass (all parts)
  // Keeps only part `part` of `parts` contiguous, near-equal ranges of the windows (data-parallel
  // evaluation: each rank evaluates its part, the sums are reduced).
  void restrict_to_part(int part, int parts);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mor::data
