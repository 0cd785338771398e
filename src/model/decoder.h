// Incremental decoding with KV caches (MOR.md 3.7, 5): one token at a time through the model.
//   - recursion-wise caching: every effective layer has its own cache and only the tokens that
//     reach that depth append their K/V there (so attention at depth r sees exactly the earlier
//     tokens that were active at r, as in training);
//   - KV sharing: layers of recursions >= 2 attend to the K/V cache of the first recursion;
//   - expert-choice: a token continues at step r iff its router score passes the causal threshold
//     (sigmoid >= 0.5; the auxiliary router's when there is one); selection "all" runs every step;
//   - token-choice: the router picks the depth from the first recursion's input, as in training.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model.h"

namespace mor {

struct DecodeStats {
  std::vector<int64_t> tokens_per_step;  // tokens that ran each recursion step
  int64_t tokens = 0;
};

class Decoder {
 public:
  // selection: "threshold" (causal MoR inference rule) or "all" (every token runs every step).
  explicit Decoder(const Model& model, std::string selection = "threshold");
  // Feeds the next token (at position = tokens fed so far); returns its logits [V] (f32).
  Tensor step(int32_t token);
  const DecodeStats& stats() const { return stats_; }
  int64_t position() const { return pos_; }

 private:
  struct Cache {
    std::vector<float> kv;        // rows of [2 Hkv, D]: K heads then V heads (after RoPE for K)
    std::vector<int32_t> positions;
  };
  ad::Var run_layer(int64_t l, const ad::Var& x, Cache* own, const Cache* shared);
  const Model& model_;
  std::string selection_;
  std::vector<Cache> caches_;  // one per effective layer
  int64_t pos_ = 0;
  DecodeStats stats_;
};

struct SampleOptions {
  int64_t max_new_tokens = 64;
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: no truncation
  uint64_t seed = 0;
  int32_t stop_token = -1;   // stop after emitting it (e.g. end-of-text)
  // Called with each new token as soon as it is sampled (before the next one is computed), so a
  // caller can stream the text; the stop token is passed too.
  std::function<void(int32_t)> on_token;
};

// Feeds `prompt`, then samples up to max_new_tokens. Returns the new tokens (the same sequence
// on_token saw).
std::vector<int32_t> generate(Decoder& decoder, const std::vector<int32_t>& prompt, const SampleOptions& o);

}  // namespace mor
