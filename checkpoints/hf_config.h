// config.json of a Hugging Face Llama (LlamaConfig keys, MOR.md section 10) <-> the model shape.
// Writing: the keys `transformers` needs to rebuild the model. Reading (plain HF checkpoints):
// the shape keys, with LlamaConfig's own defaults for absent ones (num_key_value_heads = heads,
// head_dim = hidden / heads, rms_norm_eps 1e-6, rope_theta 1e4, tie_word_embeddings false); keys
// that would change the computation to something this model does not implement (rope_scaling,
// attention/mlp biases, another activation, another model_type) are errors naming the key.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "src/config/config.h"

namespace mor::ckpt {

// HF Llama keys for cfg's shape; architectures = LlamaForCausalLM when `llama`, else MoRLlamaForCausalLM.
nlohmann::ordered_json llama_config_json(const Config& cfg, bool llama);

// The model shape (sharing none, no routing) and train.seq_len = min(max_position_embeddings, 2048)
// from an HF config.json; BadInput naming `where` and the key otherwise.
Config llama_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace mor::ckpt
