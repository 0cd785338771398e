// The routing section of a model config resolved into a typed spec: every choice an enum, every
// "use the default" spelling (capacity [], router_func '', alpha < 0) replaced by the value that
// runs. resolve_routing() is the only place that knows the defaults; config validation calls it
// and writes the resolved values back into the config (store_resolved_routing), so config dumps,
// checkpoints and exports hold what ran. Everything that routes (the model's routers, the
// inference engine, FLOP and memory accounting, export) reads a RoutingSpec, never the strings.
//
//   capacity      expert: the configured list, or (N_r - r + 1) / N_r; token: the perfectly
//                 balanced (N_r - r + 1) / N_r (FLOP and KV accounting only); unrouted: all 1.0
//   router_func   expert: sigmoid | tanh | none (default sigmoid); token: softmax | sigmoid
//                 (default softmax)
//   alpha         the factor on the router score that makes the gate, as upstream applies it:
//                 expert sigmoid/tanh 0.1 unless set; expert `none` gates with the RAW logit (1.0:
//                 the configured alpha is not applied, as upstream) except for the random router,
//                 which keeps alpha; token softmax 1.0, token sigmoid 0.1 unless set
//   threshold     the causal continue rule on the score (MOR.md 3.7): sigmoid 0.5, tanh/none 0
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace mor {

enum class RoutingType { None, Expert, Token };
enum class RouterFunc { Sigmoid, Tanh, Identity, Softmax };  // config: sigmoid | tanh | none | softmax
enum class RouterArch { Linear, Mlp, WideMlp };              // wide_mlp is mlp (as upstream)
enum class KvMode { Recursion, Share };
enum class Selection { TopK, Threshold };                    // expert: training top-k | causal threshold
enum class Gating { Weighted, Additive, None };
enum class Sampling { AuxLoss, AuxRouter };
enum class Balancing { Loss, LossFree };

struct RoutingSpec {
  RoutingType type = RoutingType::None;
  int64_t num_recursions = 1;
  int64_t base_depth = 1;          // layers per recursion step (MOR.md 2)
  std::vector<double> capacity;    // one per recursion step
  KvMode kv_mode = KvMode::Recursion;
  // Routed models only:
  RouterArch router_arch = RouterArch::Linear;
  RouterFunc router_func = RouterFunc::Sigmoid;
  double alpha = 1.0;              // gate = alpha * score
  double threshold = 0.0;          // expert threshold selection: continue iff score >= threshold
  double temp = 1.0;               // the router reads x / temp
  Gating gating = Gating::Weighted;
  double z_coeff = 0.0;
  // Expert-choice:
  Sampling sampling = Sampling::AuxLoss;
  double aux_coeff = 0.001;
  double aux_router_lr_mult = 10.0;
  bool rand_router = false;
  int64_t cap_warmup_steps = 0;    // optimizer steps (progress counts forward calls, MOR.md 3.2)
  Selection eval_selection = Selection::TopK;
  // Token-choice:
  Balancing balancing = Balancing::Loss;
  double bal_coeff = 0.1;
  double bias_update_rate = 0.001;
  int64_t bal_warmup_steps = 0;
  bool gate_every_step = false;

  bool routed() const { return type != RoutingType::None; }
  bool expert() const { return type == RoutingType::Expert; }
  bool token() const { return type == RoutingType::Token; }
  bool share_kv() const { return kv_mode == KvMode::Share; }
  bool has_aux_router() const { return expert() && sampling == Sampling::AuxRouter; }
};

// The one resolver. Throws BadInput naming the key for spellings it does not know.
RoutingSpec resolve_routing(const ModelConfig& m);
// Writes the resolved router_func, alpha and (expert) capacity back into m.mor (validation).
void store_resolved_routing(ModelConfig& m);

// Config spellings of the enums (exports, messages).
const char* name_of(RoutingType v);
const char* name_of(RouterFunc v);
const char* name_of(RouterArch v);
const char* name_of(KvMode v);
const char* name_of(Selection v);
const char* name_of(Gating v);
const char* name_of(Sampling v);
const char* name_of(Balancing v);
// Parses a selection spelling ("topk" | "threshold"); `what` names the flag or key in the error.
Selection parse_selection(const std::string& s, const std::string& what);

}  // namespace mor
