// `mor export --format hf`: a checkpoint's weights as model.safetensors + config.json (+ the
// tokenizer files), and the way back (`mor import`, or evaluating an exported directory directly).
// Vanilla models use Hugging Face Llama names and config keys (LlamaForCausalLM loads them);
// MoR and Recursive models use the upstream MoR key names (hf_names.h) and carry every routing
// and sharing setting in a self-describing "mor" block of config.json (mor_block.h). A Recursive
// model can also be written unrolled: a plain Llama of L' layers (shared weights under every
// layer that uses them) that `transformers` loads as LlamaForCausalLM.
//
// Import reads three kinds of directory: MoR-Train's own exports (config.json with
// "mor_train_config": the exact training config), MoR checkpoints whose config.json carries a
// `mor` block (ours or upstream-style, mor_block.h) and plain Hugging Face Llama checkpoints as
// `save_pretrained` writes them (model.safetensors or sharded with model.safetensors.index.json;
// f32 / bf16 / f16 / f64; a tied lm_head.weight may be absent). It is strict: a missing key, an
// unknown key, a non-float tensor at a weight key, or aliased keys (shared weights, a tied
// lm_head) that differ are errors that list the keys.
#pragma once
#include <map>
#include <string>

#include "src/config/config.h"
#include "src/core/tensor.h"

namespace mor::ckpt {

// params: internal name -> f32 tensor. tokenizer_model: copied when non-empty. unrolled: a
// Recursive model as a plain Llama (the caller refuses it for routed models).
void export_hf(const Config& cfg, const std::map<std::string, Tensor>& params, const std::string& out_dir,
               const std::string& tokenizer_model, bool unrolled = false);

struct ImportedModel {
  Config config;
  std::map<std::string, Tensor> params;  // internal names
};
// True for what export_hf writes: a directory holding config.json (with "mor_train_config") and
// model.safetensors, optionally tokenizer.model, and nothing else. `mor export --overwrite` replaces
// only such a directory (or an empty one).
bool looks_like_export(const std::string& dir);

// Reads an export or Hugging Face directory (see above); BadInput naming the file and keys.
ImportedModel import_hf(const std::string& dir);

}  // namespace mor::ckpt
