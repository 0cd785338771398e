// HF-style export and import; see export_hf.h.
#include "export_hf.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "hf_config.h"
#include "hf_names.h"
#include "mor_block.h"
#include "safetensors.h"
#include "src/core/error.h"
#include "src/config/routing_spec.h"

namespace mor::ckpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

void export_hf(const Config& cfg, const std::map<std::string, Tensor>& params, const std::string& out_dir,
               const std::string& tokenizer_model, bool unrolled) {
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

  const bool llama = unrolled || (m.mor.type == "none" && m.recursion.sharing == "none");
  nlohmann::ordered_json j = llama_config_json(cfg, llama);
  if (!llama) {
    j["mor"] = mor_block(cfg);
    if (resolve_routing(m).share_kv()) j["kv_sharing"] = j["mor"]["kv_sharing"];  // where upstream serialises it
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
  const json j = json::parse(f, nullptr, false);
  return j.is_object() && j.contains("mor_train_config");
}

namespace {

json read_json(const fs::path& p, const std::string& hint) {
  std::ifstream f(p);
  if (!f) fail_input(p.string(), ": missing. Hint: ", hint);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const std::exception& e) {
    fail_input(p.string(), ": not valid JSON (", e.what(), ").");
  }
}

// Every tensor of the directory's weights: model.safetensors, or the shards an index names.
// A tensor a shard holds but the index does not name (or names elsewhere) is an error.
std::map<std::string, Tensor> read_weights(const fs::path& dir) {
  const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  const bool has_single = fs::exists(single), has_index = fs::exists(index);
  if (has_single && has_index)
    fail_input(dir.string(), ": holds both model.safetensors and model.safetensors.index.json. Hint: keep one of them.");
  if (!has_single && !has_index)
    fail_input(dir.string(), ": no model.safetensors (nor a sharded model.safetensors.index.json). Hint: only "
               "safetensors weights import; save with safe_serialization=True (the transformers default).");
  if (has_single) return read_safetensors(single.string()).tensors;
  const json idx = read_json(index, "");
  if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
    fail_input(index.string(), ": no \"weight_map\" object.");
  std::map<std::string, std::string> where;  // key -> shard file
  std::set<std::string> files;
  for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
    const std::string file = it->get<std::string>();
    if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
      fail_input(index.string(), ": shard name \"", file, "\" must be a file beside the index.");
    where[it.key()] = file;
    files.insert(file);
  }
  std::map<std::string, Tensor> out;
  for (const std::string& file : files) {
    SafetensorsFile f = read_safetensors((dir / file).string());
    for (auto& [key, t] : f.tensors) {
      auto w = where.find(key);
      if (w == where.end() || w->second != file)
        fail_input((dir / file).string(), ": holds tensor '", key, "' that ", index.filename().string(),
                   w == where.end() ? " does not list." : (" places in " + w->second + ".").c_str());
      out[key] = t;
    }
  }
  for (const auto& [key, file] : where)
    if (!out.count(key)) fail_input(index.string(), ": lists '", key, "' in ", file, ", which does not hold it.");
  return out;
}

std::string list_keys(const std::vector<std::string>& keys) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < 12; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > 12) s += ", ... (" + std::to_string(keys.size()) + " in all)";
  return s;
}

// A rotary inv_freq buffer (older transformers saved them) must hold theta^(-2i/D).
bool is_valid_inv_freq(const Tensor& t, const ModelConfig& m) {
  const int64_t D = m.hdim();
  if (t.numel() != D / 2) return false;
  const std::vector<double> v = t.to_dtype(DType::F64).to_vector<double>();
  for (int64_t i = 0; i < D / 2; ++i) {
    const double want = std::pow(m.rope_theta, -2.0 * double(i) / double(D));
    if (std::fabs(v[size_t(i)] - want) > 1e-6 * want) return false;
  }
  return true;
}

// With "mor_train_config" present, import reads the model from it alone, while transformers reads
// the Hugging Face keys beside it and other readers the `mor` block: all must describe the same
// model. A Hugging Face key whose value differs from what an export of that config writes, or a
// model setting the block gives otherwise, is an error naming it. Absent keys are not compared
// (exports of earlier versions lack some, and hold some this reader does not know), nor are the
// block's training-only settings (loss coefficients, warm-ups).
void check_hf_keys_agree(const json& j, const Config& cfg, const std::string& where) {
  const bool llama = !j.contains("mor");
  const json want = json::parse(llama_config_json(cfg, llama).dump());
  const auto refuse = [&](const std::string& key, const json& have, const json& expected) {
    fail_input(where, ": \"", key, "\" is ", have.dump(), " here but ", expected.dump(), " in \"mor_train_config\", which is what ",
               "`mor import` reads (transformers reads ", have.dump(), "), so the directory describes two models. Hint: make "
               "them agree (re-export the checkpoint), or delete \"mor_train_config\" to import from the Hugging Face keys.");
  };
  for (const char* key : {"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps",
                          "rope_theta", "rope_scaling", "attention_bias", "mlp_bias", "tie_word_embeddings"})
    if (j.contains(key) && j[key] != want[key]) refuse(key, j[key], want[key]);
  if (llama) return;
  // The mor block as its reader takes it, onto the config's own model: what differs is a model
  // setting the block gives otherwise; a block that the reader refuses (say type token without a
  // token section) cannot describe that model at all. A block of the flat layout written until
  // 2026-12-02 (routing settings at its top, no expert/token section) is not compared.
  const json& block_in = j["mor"];
  if (!block_in.is_object()) return;  // the reader below would refuse it on a plain import too
  const bool flat = !block_in.contains("expert") && !block_in.contains("token") &&
                    (block_in.contains("router_func") || block_in.contains("alpha") || block_in.contains("coeff"));
  if (flat) return;
  // Keys this reader does not know (a comment, a newer writer's) are left out, not a reason to skip.
  const json block = mor_block_known_keys(block_in);
  const json top_kv = j.contains("kv_sharing") ? mor_block_known_keys(json{{"kv_sharing", j["kv_sharing"]}})["kv_sharing"] : json();
  ModelConfig from_block = cfg.model;
  int64_t base_depth = -1;
  try {
    base_depth = apply_mor_block(block, top_kv, from_block, where);
  } catch (const Error& e) {
    std::string why = e.what();
    if (why.rfind(where + ": ", 0) == 0) why = why.substr(where.size() + 2);
    if (const auto h = why.find(" Hint:"); h != std::string::npos) why.resize(h);
    fail_input(where, ": the \"mor\" block does not describe the model of \"mor_train_config\" (what `mor import` reads): ",
               why, " Hint: re-export the checkpoint (`mor export`), which writes both from one config.");
  }
  static const std::set<std::string> kTrainingOnly = {"model.mor.aux_coeff", "model.mor.z_coeff", "model.mor.cap_warmup_steps",
                                                      "model.mor.aux_router_lr_mult", "model.mor.bal_coeff",
                                                      "model.mor.bias_update_rate", "model.mor.bal_warmup_steps"};
  Config a = cfg, b = cfg;
  b.model = from_block;
  const auto fa = flatten_config(a), fb = flatten_config(b);
  for (const auto& [key, value] : fa)
    if (key.rfind("model.", 0) == 0 && !kTrainingOnly.count(key) && fb.at(key) != value)
      fail_input(where, ": the \"mor\" block gives ", key, " ", fb.at(key), ", but \"mor_train_config\" (what `mor import` "
                 "reads) says ", value, ", so the directory describes two models. Hint: make them agree (re-export the "
                 "checkpoint), or delete \"mor_train_config\" to import from the Hugging Face keys and the block.");
  const int64_t have = resolve_routing(cfg.model).base_depth;
  if (base_depth >= 0 && base_depth != have)
    fail_input(where, ": the \"mor\" block gives base_depth ", base_depth, ", but \"mor_train_config\" (what `mor import` "
               "reads) gives ", have, ", so the directory describes two models. Hint: make them agree (re-export the checkpoint).");
}

}  // namespace

ImportedModel import_hf(const std::string& dir) {
  const fs::path cfg_path = fs::path(dir) / "config.json";
  const std::string where = cfg_path.string();
  const json j = read_json(cfg_path, "point at a directory written by `mor export --format hf` or by transformers' save_pretrained.");
  ImportedModel im;
  if (j.contains("mor_train_config")) {
    im.config = load_config_text(j["mor_train_config"].get<std::string>(), where).config;
    check_hf_keys_agree(j, im.config, where);
  } else {
    Config c = llama_config_from_json(j, where);
    const json top_kv = j.contains("kv_sharing") ? j["kv_sharing"] : json();
    int64_t base_depth = -1;
    if (j.contains("mor")) base_depth = apply_mor_block(j["mor"], top_kv, c.model, where);
    else if (!top_kv.is_null()) fail_input(where, ": \"kv_sharing\" without a \"mor\" block (which says the sharing and recursions).");
    c.train.steps = 1;  // no training history; a run continuing from the import sets its own
    // The config layer validates the combination (and names the key that does not fit).
    im.config = load_config_text(dump_config(c), where + " (read as a MoR-Train config)").config;
    const int64_t have = resolve_routing(im.config.model).base_depth;
    if (base_depth >= 0 && base_depth != have)
      fail_input(where, ": \"mor.base_depth\" ", base_depth, " does not fit num_hidden_layers ", im.config.model.n_layers,
                 " with ", im.config.model.recursion.sharing, " sharing and ", im.config.model.recursion.num_recursions,
                 " recursions (base depth ", have, "). Hint: num_hidden_layers is the effective (unrolled) depth.");
  }
  const ModelConfig& m = im.config.model;
  std::map<std::string, Tensor> tensors = read_weights(fs::path(dir));
  const auto key_map = hf_key_map(m);
  std::set<std::string> expected;
  for (const auto& [key, internal] : key_map) expected.insert(key);
  std::vector<std::string> unknown, missing, non_float;
  for (const auto& [key, t] : tensors) {
    if (key.size() > 20 && key.compare(key.size() - 20, 20, "rotary_emb.inv_freq") == 0 && is_valid_inv_freq(t, m)) continue;
    if (!expected.count(key)) unknown.push_back(key);
    else if (t.dtype() == DType::I32 || t.dtype() == DType::I64) non_float.push_back(key);
  }
  for (const auto& [key, internal] : key_map)
    if (!tensors.count(key) && !(key == "lm_head.weight" && m.tie_embeddings)) missing.push_back(key);  // tied: may be dropped
  const std::string weights = dir + "/" + (fs::exists(fs::path(dir) / "model.safetensors") ? "model.safetensors" : "model.safetensors.index.json");
  if (!non_float.empty())
    fail_input(weights, ": weight keys hold integer tensors: ", list_keys(non_float), ". Hint: weights are f32, f64, bf16 or f16.");
  if (!unknown.empty() || !missing.empty())
    fail_input(weights, ": the tensor keys do not match the model of ", where, ":",
               missing.empty() ? "" : " missing " + list_keys(missing) + ";",
               unknown.empty() ? "" : " unknown " + list_keys(unknown) + ";",
               " Hint: the keys follow MOR.md section 10 for the config's sharing and routing (and HF Llama names for a "
               "vanilla model); a misnamed key or a config.json of another model gives this.");
  std::map<std::string, std::string> first_key;  // internal -> the key it was read from
  for (const auto& [key, internal] : key_map) {
    auto it = tensors.find(key);
    if (it == tensors.end()) continue;  // a dropped tied lm_head: the embedding stands for it
    Tensor t = it->second.dtype() == DType::F32 ? it->second : it->second.to_dtype(DType::F32);
    // A NaN or infinity would evaluate to a NaN loss and generate garbage without a word.
    const float* v = t.data<float>();
    for (int64_t e = 0; e < t.numel(); ++e)
      if (!std::isfinite(v[e]))
        fail_input(weights, ": tensor '", key, "' holds ", std::isnan(v[e]) ? "NaN" : "an infinity", " at element ", e,
                   ". Hint: the checkpoint is damaged or diverged; export it again from a healthy one.");
    auto have = im.params.find(internal);
    if (have == im.params.end()) {
      im.params[internal] = t;
      first_key[internal] = key;
    } else if (have->second.shape() != t.shape() || have->second.to_vector<float>() != t.to_vector<float>()) {
      fail_input(weights, ": key '", key, "' should equal '", first_key[internal], "' (both hold ",
                 internal == "embed_tokens" ? "the tied embedding" : ("shared weight '" + internal + "'").c_str(),
                 ") but differs. Hint: shared and tied weights must be identical under every key.");
    }
  }
  return im;
}

}  // namespace mor::ckpt
