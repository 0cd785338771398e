// `mor export --format hf`: a checkpoint's weights as model.safetensors + config.json (+ the
// tokenizer files), and the way back (`mor import`, or evaluating an exported directory directly).
// Vanilla models use Hugging Face Llama names and config keys (LlamaForCausalLM loads them);
// MoR and Recursive models use the upstream MoR key names (hf_names.h) and carry every routing
// and sharing setting in a "mor" block of config.json.
#pragma once
#include <map>
#include <string>

#include "src/config/config.h"
#include "src/core/tensor.h"

namespace mor::ckpt {

// params: internal name -> f32 tensor. tokenizer_model: copied when non-empty.
void export_hf(const Config& cfg, const std::map<std::string, Tensor>& params, const std::string& out_dir,
               const std::string& tokenizer_model);

struct ImportedModel {
  Config config;
  std::map<std::string, Tensor> params;  // internal names
};
// True for what export_hf writes: a directory holding config.json (with "mor_train_config") and
// model.safetensors, optionally tokenizer.model, and nothing else. `mor export --overwrite` replaces
// only such a directory (or an empty one).
bool looks_like_export(const std::string& dir);

// Reads an export directory; aliased keys must hold identical values (BadInput otherwise).
ImportedModel import_hf(const std::string& dir);

}  // namespace mor::ckpt
