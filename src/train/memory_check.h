// Start-up memory checks: the estimate of src/model/memory_estimate.h against what this process
// may still use (src/core/available_memory.h). Training prints one line,
//   memory: estimated peak 1.23 GB per rank (params 0.10 | grads 0.10 | ...) of 20.1 GB available
// and, when the estimate exceeds kMemoryFitFraction of the available memory, refuses (BadInput,
// exit 2) naming the config file, the largest train.micro_batch that fits and the grad_accum that
// keeps the global batch -- unless train.memory_check is false, which only warns. Generation
// refuses when its KV cache does not fit in what is left after loading the model.
#pragma once
#include <cstdint>
#include <string>

#include "src/config/config.h"
#include "src/core/device.h"
#include "src/core/available_memory.h"
#include "src/model/memory_estimate.h"

namespace mor {

// Share of the available memory an estimate may use (the rest: estimate error, other processes).
constexpr double kMemoryFitFraction = 0.9;

struct MemoryCheck {
  MemoryEstimate estimate;
  AvailableMemory available;
  bool fits = true;                 // estimate <= kMemoryFitFraction x available (or unknown)
  int64_t largest_micro_batch = -1;  // when it does not fit: the largest that does (0: none)
  std::string line;                 // the summary line (without a newline)
};

// The estimate, the available memory and the verdict for `c` (nothing printed).
// ranks_on_node > 1: this process gets its share of the node's available memory.
// On a GPU (device cuda) the budget is the GPU's memory (one GPU per rank), not the host's.
MemoryCheck assess_training_memory(const Config& c, int dp = 1, int tp = 1, int zero_stage = 0, int ranks_on_node = 1,
                                   Device device = Device::cpu());

// Prints the summary line on stdout, records it for out-of-memory errors, and refuses when the
// estimate does not fit (train.memory_check: false turns the refusal into a warning on stderr).
// `source` names the config file in messages.
MemoryCheck check_training_memory(const Config& c, const std::string& source, int dp = 1, int tp = 1,
                                  int zero_stage = 0, int ranks_on_node = 1, Device device = Device::cpu());

// `mor generate` / `mor bench generate`: refuses when the engine's KV pool of `kv_bytes` (plus the
// activations of `batch` rows) exceeds kMemoryFitFraction of what is available now, the model being
// loaded already. Prints nothing when it fits. Returns the estimate (kv_cache = kv_bytes).
MemoryEstimate check_generation_memory(const ModelConfig& m, const std::string& source, int64_t batch, int64_t context,
                                       int64_t kv_bytes);

}  // namespace mor
