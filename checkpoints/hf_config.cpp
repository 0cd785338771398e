// HF Llama config.json keys; see hf_config.h.
#include "hf_config.h"

#include <algorithm>

#include "src/core/error.h"

namespace mor::ckpt {

nlohmann::ordered_json llama_config_json(const Config& cfg, bool llama) {
  const ModelConfig& m = cfg.model;
  nlohmann::ordered_json j;
  j["architectures"] = {llama ? "LlamaForCausalLM" : "MoRLlamaForCausalLM"};
  j["model_type"] = "llama";
  j["vocab_size"] = m.vocab_size;
  j["hidden_size"] = m.d_model;
  j["intermediate_size"] = m.d_ff;
  j["num_hidden_layers"] = m.n_layers;
  j["num_attention_heads"] = m.n_heads;
  j["num_key_value_heads"] = m.kv_heads();
  j["head_dim"] = m.hdim();
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = std::max<int64_t>(2048, cfg.train.seq_len);
  j["rms_norm_eps"] = m.norm_eps;
  j["rope_theta"] = m.rope_theta;
  j["rope_scaling"] = nullptr;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = false;
  j["initializer_range"] = m.init_std;
  j["tie_word_embeddings"] = m.tie_embeddings;
  j["use_cache"] = true;
  j["pretraining_tp"] = 1;
  j["torch_dtype"] = "float32";
  j["bos_token_id"] = 1;
  j["eos_token_id"] = 2;
  return j;
}

namespace {

template <class T>
T value_of(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null())
    fail_input(where, ": key \"", key, "\" is missing. Hint: a Llama config.json (transformers LlamaConfig) holds it.");
  try {
    return j[key].get<T>();
  } catch (const std::exception&) {
    fail_input(where, ": key \"", key, "\" has the wrong type (", j[key].dump(), ").");
  }
}

template <class T>
T value_or(const nlohmann::json& j, const char* key, T fallback, const std::string& where) {
  return j.contains(key) && !j[key].is_null() ? value_of<T>(j, key, where) : fallback;
}

}  // namespace

Config llama_config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail_input(where, ": not a JSON object.");
  const std::string type = value_or<std::string>(j, "model_type", "llama", where);
  if (type != "llama")
    fail_input(where, ": model_type \"", type, "\" is not supported. Hint: only Llama checkpoints (model_type llama) import.");
  if (value_or<std::string>(j, "hidden_act", "silu", where) != "silu")
    fail_input(where, ": hidden_act \"", j["hidden_act"].get<std::string>(), "\" is not supported. Hint: the model's MLP is SwiGLU (silu).");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    fail_input(where, ": rope_scaling ", j["rope_scaling"].dump(), " is not supported. Hint: only plain RoPE (rope_scaling null).");
  for (const char* k : {"attention_bias", "mlp_bias"})
    if (value_or<bool>(j, k, false, where)) fail_input(where, ": ", k, " true is not supported (the linears have no bias).");
  if (value_or<double>(j, "partial_rotary_factor", 1.0, where) != 1.0)
    fail_input(where, ": partial_rotary_factor is not supported. Hint: RoPE covers the whole head.");
  Config c;
  ModelConfig& m = c.model;
  m.vocab_size = value_of<int64_t>(j, "vocab_size", where);
  m.d_model = value_of<int64_t>(j, "hidden_size", where);
  m.d_ff = value_of<int64_t>(j, "intermediate_size", where);
  m.n_layers = value_of<int64_t>(j, "num_hidden_layers", where);
  m.n_heads = value_of<int64_t>(j, "num_attention_heads", where);
  m.n_kv_heads = value_or<int64_t>(j, "num_key_value_heads", m.n_heads, where);
  m.head_dim = value_or<int64_t>(j, "head_dim", 0, where);
  if (m.n_heads > 0 && m.head_dim * m.n_heads == m.d_model) m.head_dim = 0;  // the default spelling
  m.norm_eps = value_or<double>(j, "rms_norm_eps", 1e-6, where);
  m.rope_theta = value_or<double>(j, "rope_theta", 10000.0, where);
  m.tie_embeddings = value_or<bool>(j, "tie_word_embeddings", false, where);
  m.init_std = value_or<double>(j, "initializer_range", 0.02, where);
  c.train.seq_len = std::min<int64_t>(value_or<int64_t>(j, "max_position_embeddings", 2048, where), 2048);
  return c;
}

}  // namespace mor::ckpt
