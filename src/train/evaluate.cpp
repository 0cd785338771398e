// Validation loop; see evaluate.h.
#include "evaluate.h"

#include <cmath>

#include "data/loader.h"

namespace mor {

EvalResult evaluate(Model& model, const std::string& split_dir, int64_t batch, int64_t seq_len,
                    uint64_t max_windows, const std::string& selection, uint64_t tokenizer_hash, int part, int parts) {
  data::EvalStream stream(split_dir, batch, seq_len, max_windows, model.config().vocab_size, tokenizer_hash);
  if (parts > 1) stream.restrict_to_part(part, parts);
  ad::NoGradScope no_grad;
  EvalResult r;
  double total = 0;
  for (Tensor tokens = stream.next(); tokens.defined(); tokens = stream.next()) {
    ForwardContext ctx;
    ctx.training = false;
    ctx.selection = selection;
    ForwardResult f = model.forward(tokens, ctx);
    total += f.lm_loss * double(f.tokens);
    r.tokens += f.tokens;
    r.windows += tokens.dim(0);
  }
  r.loss_sum = total;
  if (parts > 1) {
    r.loss = r.tokens > 0 ? total / double(r.tokens) : 0;
    r.perplexity = std::exp(r.loss);
    return r;
  }
  if (r.tokens == 0)
    fail_input(split_dir, ": no validation windows of ", seq_len + 1,
               " tokens. Hint: lower train.seq_len or hold out more text (mor prepare --val-fraction).");
  r.loss = total / double(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace mor
