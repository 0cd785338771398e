// The routing settings of a model with every default filled in: the one place that turns the
// config's "use the default" spellings (capacity [], router_func '', alpha < 0) into the values
// the forward pass, the decoder, the FLOP count and the exported `mor` block use.
//
//   capacity      expert: the configured list, or (N_r - r + 1) / N_r; token and unrouted: the
//                 perfectly balanced (N_r - r + 1) / N_r / all 1.0 (FLOP accounting only)
//   router_func   expert: sigmoid | tanh | none (default sigmoid); token: softmax | sigmoid
//                 (default softmax); unrouted: ""
//   alpha         the factor on the router score that makes the gate, as upstream applies it:
//                 expert sigmoid/tanh 0.1 unless set; expert `none` uses the raw logit (1.0, the
//                 configured alpha is not applied, as upstream); the random router keeps alpha;
//                 token softmax 1.0, token sigmoid 0.1 unless set
//   threshold     the causal continue rule on the score (MOR.md 3.7): sigmoid 0.5, tanh/none 0
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/config/config.h"

namespace mor {

struct ResolvedRouting {
  std::string type;               // none | expert | token
  std::string router_func;        // see above ("" when unrouted)
  double alpha = 1.0;             // gate = alpha * score (1.0 when unrouted)
  double threshold = 0.0;         // expert threshold selection: continue iff score >= threshold
  std::vector<double> capacity;   // one per recursion step
  int64_t base_depth = 1;         // layers per recursion step (MOR.md 2)
};

ResolvedRouting resolve_routing(const ModelConfig& m);

}  // namespace mor
