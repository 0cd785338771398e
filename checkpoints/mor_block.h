// The `mor` block of an exported config.json (MOR.md section 10): every routing, sharing and KV
// setting of a Recursive or MoR model, resolved (a capacity list, the alpha actually applied, the
// router function, the KV mode, the base depth, every loss coefficient; never [] / -1 / ""), with
// the upstream Hydra key names (mor.*, mor.expert.*, mor.token.*, recursive.*, kv_sharing.*):
//
//   {"enable": true, "type": "expert", "num_recursion": 3, "sharing": "middle_cycle",
//    "ln_share": true, "base_depth": 10, "router_type": "linear", "temp": 1.0,
//    "rand_router": false, "capacity": [1.0, 0.667, 0.333], "z_loss": false, "z_coeff": 0.0,
//    "kv_mode": "cache", "kv_sharing": {"enable": false, "base_depth": 10, "num_recursion": 3,
//    "sharing": "middle_cycle", "update_cache": false},
//    "expert": {"router_func": "sigmoid", "alpha": 0.1, "sampling": "aux_loss", "coeff": 0.001,
//               "gating": "weighted", "cap_warmup_step": 0, "aux_router_lr_mult": 10.0,
//               "eval_selection": "topk"}}            (token-choice: a "token" block instead)
//
// kv_mode is "cache" (recursion-wise caching) or "share" (recursive KV sharing), the paper's
// names; cap_warmup_step counts forward calls as upstream (cap_warmup_steps x grad_accum).
// Reading accepts the same block as written by MoR-Train or as an upstream Hydra `mor` block
// (capacity as "1.0,0.5" or null, router_func null = the raw logit, both expert and token
// sub-blocks, `include_first: true`), plus a top-level `kv_sharing`; any other key is an error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "src/config/config.h"

namespace mor::ckpt {

// The block for a Recursive or MoR model (resolution: src/config/routing_spec.h).
nlohmann::ordered_json mor_block(const Config& cfg);

// `block` without the keys apply_mor_block does not know (at the top and in expert, token and
// kv_sharing): what this reader takes of a block of another layout.
nlohmann::json mor_block_known_keys(const nlohmann::json& block);

// Applies a `mor` block (and an optional top-level `kv_sharing`, null when absent) to m, which
// already holds the Llama shape; `where` names the file in errors (BadInput). Returns the block's
// base_depth (-1 when absent), for the caller to check against the validated model.
int64_t apply_mor_block(const nlohmann::json& block, const nlohmann::json& kv_sharing, ModelConfig& m,
                     const std::string& where);

}  // namespace mor::ckpt
