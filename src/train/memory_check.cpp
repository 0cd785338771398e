// Start-up memory checks; see memory_check.h.
#include "memory_check.h"

#include <cstdint>
#include <cstdio>

#include "src/core/error.h"
#include "src/core/storage.h"

namespace mor {
namespace {

int64_t budget_of(const AvailableMemory& a) { return int64_t(kMemoryFitFraction * double(a.bytes)); }

std::string available_text(const AvailableMemory& a) {
  if (!a.known()) return "unknown available memory";
  return format_bytes(a.bytes) + " available (" + a.limited_by + ")";
}

// What to change when the estimate does not fit.
std::string advice(const Config& c, const MemoryCheck& m, int dp, int tp, int zero_stage) {
  const TrainConfig& t = c.train;
  if (m.largest_micro_batch <= 0) {
    Config one = c;
    one.train.micro_batch = 1;
    const MemoryEstimate e1 = estimate_training_memory(one, dp, tp, zero_stage);
    if (2 * e1.overhead > e1.total())  // not the model: the loader's batches or the threads' scratch
      return "even train.micro_batch 1 needs " + format_bytes(e1.total()) + ", " + format_bytes(e1.overhead) +
             " of it overhead (the batches data.prefetch prepares ahead, and per-thread scratch). Hint: lower data.prefetch "
             "(default 2) or train.threads";
    return "even train.micro_batch 1 needs " + format_bytes(e1.total()) + ", " +
           format_bytes(e1.parameters + e1.gradients + e1.optimizer + e1.checkpoint) +
           " of it for the parameters, gradients, AdamW state and checkpoint snapshot" +
           ". Hint: use a smaller model (model.d_model, model.n_layers, model.d_ff, model.vocab_size) or a shorter "
           "train.seq_len";
  }
  const int64_t b = m.largest_micro_batch, global = t.micro_batch * t.grad_accum;
  Config fit = c;
  fit.train.micro_batch = b;
  std::string out = "the largest train.micro_batch that fits is " + std::to_string(b) + " (estimated " +
                    format_bytes(estimate_training_memory(fit, dp, tp, zero_stage).total()) + "). Hint: ";
  // Keep the global batch (micro_batch x grad_accum) exactly: the largest divisor of it that fits.
  int64_t keep = b;
  while (global % keep != 0) --keep;
  out += "set train.micro_batch: " + std::to_string(keep) + " and train.grad_accum: " + std::to_string(global / keep) +
         " to keep the global batch of " + std::to_string(global) + " sequences per optimizer step";
  if (keep != b) {
    const int64_t ga = (global + b - 1) / b;
    out += " (micro_batch " + std::to_string(b) + " with grad_accum " + std::to_string(ga) + " gives " +
           std::to_string(b * ga) + ")";
  }
  return out;
}

}  // namespace

MemoryCheck assess_training_memory(const Config& c, int dp, int tp, int zero_stage, int ranks_on_node, Device device) {
  MemoryCheck m;
  m.estimate = estimate_training_memory(c, dp, tp, zero_stage);
  if (device.is_cuda()) {  // the tensors live in the GPU's memory, one GPU per rank
    m.available.bytes = device_memory_bytes(device);
    m.available.limited_by = "memory of " + device.str() + " (" + device_name(device) + ")";
  } else {
    m.available = available_memory();
  }
  if (!device.is_cuda() && ranks_on_node > 1 && m.available.known()) {  // the ranks of one node share its memory
    m.available.bytes /= ranks_on_node;
    m.available.limited_by += ", shared by " + std::to_string(ranks_on_node) + " ranks on this node";
  }
  m.fits = !m.available.known() || m.estimate.total() <= budget_of(m.available);
  if (!m.fits) m.largest_micro_batch = largest_micro_batch_that_fits(c, budget_of(m.available), dp, tp, zero_stage);
  const bool ranks = dp > 1 || tp > 1;
  m.line = "memory: estimated peak " + format_bytes(m.estimate.total()) + (ranks ? " per rank" : "") + " (" +
           format_memory_parts(m.estimate) + ") of " + available_text(m.available);
  return m;
}

MemoryCheck check_training_memory(const Config& c, const std::string& source, int dp, int tp, int zero_stage,
                                  int ranks_on_node, Device device) {
  MemoryCheck m = assess_training_memory(c, dp, tp, zero_stage, ranks_on_node, device);
  std::printf("%s\n", m.line.c_str());
  std::fflush(stdout);
  set_out_of_memory_note("the start-up estimate was " + format_bytes(m.estimate.total()) + " of " +
                         available_text(m.available));
  if (m.fits) return m;
  const std::string what = source + ": the estimated peak memory of " + format_bytes(m.estimate.total()) +
                           " (micro_batch " + std::to_string(c.train.micro_batch) + " x seq_len " +
                           std::to_string(c.train.seq_len) + ") exceeds " +
                           std::to_string(int(kMemoryFitFraction * 100)) + "% of the " + available_text(m.available) +
                           "; " + advice(c, m, dp, tp, zero_stage);
  if (c.train.memory_check)
    fail_input(what, "; or set train.memory_check: false to start anyway.");
  std::fprintf(stderr, "warning: %s. Starting anyway (train.memory_check: false).\n", what.c_str());
  return m;
}

MemoryEstimate check_generation_memory(const ModelConfig& model, const std::string& source, int64_t batch,
                                       int64_t context, int64_t kv_bytes) {
  MemoryEstimate e = estimate_generation_memory(model, batch, context);
  e.kv_cache = kv_bytes;
  const AvailableMemory a = available_memory();
  // The model is loaded already: what still has to come is the KV cache and one token's tensors.
  const int64_t need = e.kv_cache > INT64_MAX - e.activations ? INT64_MAX : e.kv_cache + e.activations;  // --kv-budget near 2^63
  set_out_of_memory_note("the KV cache of " + std::to_string(batch) + " x " + std::to_string(context) + " tokens was estimated at " +
                         format_bytes(e.kv_cache) + " with " + available_text(a));
  if (a.known() && need > budget_of(a))
    fail_input(source, ": generating ", batch, " x ", context, " tokens needs an estimated ", format_bytes(need), " more (KV cache ",
               format_bytes(e.kv_cache), ") but only ", available_text(a),
               " is left after loading the model. Hint: lower --max-new-tokens or --kv-budget, or shorten the prompt.");
  return e;
}

}  // namespace mor
