// Export key names (MOR.md section 10): which internal parameter feeds each key of an exported
// Hugging Face-style state dict.
//   vanilla      HF Llama names: model.embed_tokens, model.layers.{l}.{P}, model.norm, lm_head
//   Recursive    model.layers.{0..L'-1}.{P}, shared weights written under every key that uses them
//   MoR expert   model.layers.0.{P} | model.layers.{r}.block.{j}.{P} + .mor_router.router.* (r = 1..N_r)
//                | model.layers.{N_r+1}.{P}       (Cycle: model.layers.{0..N_r-1}.block.{j}.{P} ...)
//   MoR token    model.layers.0.{P} | model.layers.1.block_list.{r}.{j}.{P} (r = 0..N_r-1)
//                + model.layers.1.mor_router.router.weight [N_r, d] (+ router_bias) | model.layers.2.{P}
// P is the HF Llama layer suffix set (self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
// input_layernorm, post_attention_layernorm; each + ".weight"). lm_head.weight is always written
// (tied: the embedding's values), as strict loaders expect it.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "src/config/config.h"

namespace mor::ckpt {

// (export key, internal parameter name) for every key of the export, in a stable order.
std::vector<std::pair<std::string, std::string>> hf_key_map(const ModelConfig& m);

}  // namespace mor::ckpt
