// Validation loop; see evaluate.h.
#include "evaluate.h"

#include <cmath>

#include "data/loader.h"
#include "dist/communicator.h"

namespace mor {

EvalResult evaluate(Model& model, const std::string& split_dir, int64_t batch, int64_t seq_len,
                    uint64_t max_windows, std::optional<Selection> selection, uint64_t tokenizer_hash, int part, int parts) {
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

EvalResult evaluate_over_ranks(Model& model, const std::string& split_dir, int64_t batch, int64_t seq_len,
                               uint64_t max_windows, dist::Communicator& comm, std::optional<Selection> selection,
                               uint64_t tokenizer_hash) {
  if (comm.size() == 1) return evaluate(model, split_dir, batch, seq_len, max_windows, selection, tokenizer_hash);
  EvalResult e = evaluate(model, split_dir, batch, seq_len, max_windows, selection, tokenizer_hash, comm.rank(), comm.size());
  std::vector<double> sums{e.loss_sum, double(e.tokens), double(e.windows)};
  comm.all_reduce(sums.data(), int64_t(sums.size()), DType::F64, dist::ReduceOp::Sum);
  e.loss_sum = sums[0];
  e.tokens = int64_t(sums[1]);
  e.windows = int64_t(sums[2]);
  if (e.tokens == 0)
    fail_input(split_dir, ": no validation windows of ", seq_len + 1,
               " tokens. Hint: lower train.seq_len or hold out more text (mor prepare --val-fraction).");
  e.loss = e.loss_sum / double(e.tokens);
  e.perplexity = std::exp(e.loss);
  return e;
}

}  // namespace mor
