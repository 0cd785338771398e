// Validation: mean next-token loss and perplexity of a model over a dataset split.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "src/model/model.h"

namespace mor {
namespace dist {
class Communicator;
}

struct EvalResult {
  double loss = 0;        // mean cross-entropy per target token (nats)
  double perplexity = 0;  // exp(loss)
  int64_t tokens = 0;
  int64_t windows = 0;
  double loss_sum = 0;    // sum of per-token losses (to combine parts)
};

// Sequential pass over `split_dir` in corpus order: up to `max_windows` windows (0 = all) of
// seq_len + 1 tokens, `batch` at a time, without recording gradients.
// selection: unset = the model's eval_selection; set: force that mode (expert MoR).
// tokenizer_hash != 0: the split must be encoded with that tokenizer (the model's).
// part/parts: evaluate only that contiguous part of the windows (data-parallel evaluation; an
// empty part is not an error then: the caller combines loss_sum and tokens over the parts).
EvalResult evaluate(Model& model, const std::string& split_dir, int64_t batch, int64_t seq_len,
                    uint64_t max_windows, std::optional<Selection> selection = {}, uint64_t tokenizer_hash = 0,
                    int part = 0, int parts = 1);

// The same over the ranks of `comm`: each evaluates its part of the windows, the sums are
// all-reduced, every rank returns the whole result (fails like evaluate() when there is none).
EvalResult evaluate_over_ranks(Model& model, const std::string& split_dir, int64_t batch, int64_t seq_len,
                               uint64_t max_windows, dist::Communicator& comm, std::optional<Selection> selection = {},
                               uint64_t tokenizer_hash = 0);

}  // namespace mor
