// HF-style export and import; see export_hf.h.
#include "export_hf.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hf_names.h"
#include "safetensors.h"
#include "src/core/error.h"

namespace mor::ckpt {
namespace fs = std::filesystem;

void export_hf(const Config& cfg, const std::map<std::string, Tensor>& params, const std::string& out_dir,
               const std::string& tokenizer_model) {
  const ModelConfig& m = cfg.model;
  fs::create_directories(out_dir);
  SafetensorsFile st;
  for (const auto& [key, internal] : hf_key_map(m)) {
    auto it = params.find(internal);
    MOR_CHECK(it != params.end(), "export: no parameter ", internal, " for key ", key);
    st.tensors[key] = it->second;
  }
  st.metadata["format"] = "pt";
  write_safetensors((fs::path(out_dir) / "model.safetensors").string(), st);

  const bool vanilla = m.mor.type == "none" && m.recursion.sharing == "none";
  nlohmann::ordered_json j;
  j["architectures"] = {vanilla ? "LlamaForCausalLM" : "MoRLlamaForCausalLM"};
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
  if (!vanilla) {
    const MoRConfig& r = m.mor;
    nlohmann::ordered_json b;
    b["type"] = r.type;
    b["num_recursion"] = m.recursion.num_recursions;
    b["sharing"] = m.recursion.sharing;
    b["ln_share"] = m.recursion.ln_share;
    b["kv_mode"] = m.kv_mode;
    b["capacity"] = r.capacity;
    b["router_type"] = r.router_type;
    b["router_func"] = r.router_func;
    b["alpha"] = r.alpha;
    b["temp"] = r.temp;
    b["gating"] = r.gating;
    b["sampling"] = r.sampling;
    b["balancing"] = r.balancing;
    b["gate_every_step"] = r.gate_every_step;
    b["eval_selection"] = r.eval_selection;
    j["mor"] = b;
  }
  j["mor_train_config"] = dump_config(cfg);  // exact round trip of every setting
  {
    std::ofstream f(fs::path(out_dir) / "config.json");
    f << j.dump(2) << "\n";
    f.flush();
    if (!f) {
      const int err = errno;
      fail_internal((fs::path(out_dir) / "config.json").string(), ": write failed (", err ? std::strerror(err) : "disk full?", ")");
    }
  }
  if (!tokenizer_model.empty() && fs::exists(tokenizer_model))
    fs::copy_file(tokenizer_model, fs::path(out_dir) / "tokenizer.model", fs::copy_options::overwrite_existing);
}

bool looks_like_export(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return false;
  bool config = false, weights = false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!fs::is_regular_file(e.symlink_status(ec))) return false;
    if (name == "config.json") config = true;
    else if (name == "model.safetensors") weights = true;
    else if (name != "tokenizer.model") return false;
  }
  if (ec || !config || !weights) return false;
  std::ifstream f(fs::path(dir) / "config.json");
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  return j.is_object() && j.contains("mor_train_config");
}

ImportedModel import_hf(const std::string& dir) {
  const fs::path cfg_path = fs::path(dir) / "config.json";
  std::ifstream f(cfg_path);
  if (!f) fail_input(cfg_path.string(), ": missing. Hint: point at a directory written by `mor export --format hf`.");
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    fail_input(cfg_path.string(), ": not valid JSON (", e.what(), ").");
  }
  if (!j.contains("mor_train_config"))
    fail_input(cfg_path.string(), ": no \"mor_train_config\" entry. Hint: only exports written by `mor export` can be imported.");
  ImportedModel im;
  im.config = load_config_text(j["mor_train_config"].get<std::string>(), cfg_path.string()).config;
  SafetensorsFile st = read_safetensors((fs::path(dir) / "model.safetensors").string());
  for (const auto& [key, internal] : hf_key_map(im.config.model)) {
    auto it = st.tensors.find(key);
    if (it == st.tensors.end()) fail_input(dir, "/model.safetensors: key '", key, "' is missing.");
    Tensor t = it->second.dtype() == DType::F32 ? it->second : it->second.to_dtype(DType::F32);
    auto have = im.params.find(internal);
    if (have == im.params.end()) {
      im.params[internal] = t;
    } else if (have->second.to_vector<float>() != t.to_vector<float>()) {
      fail_input(dir, "/model.safetensors: key '", key, "' should equal the other keys of shared weight '", internal,
                 "' but differs. Hint: shared weights must be identical under every key.");
    }
  }
  return im;
}

}  // namespace mor::ckpt
