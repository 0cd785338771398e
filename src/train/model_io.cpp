// Model loading; see model_io.h.
#include "model_io.h"

#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "checkpoints/export_hf.h"

namespace mor {
namespace fs = std::filesystem;

std::map<std::string, Tensor> model_params(const Model& model) {
  std::map<std::string, Tensor> out;
  const ParamTable& p = model.params();
  for (size_t i = 0; i < p.size(); ++i) out[p.spec(int(i)).name] = p.var(int(i))->value;
  return out;
}

LoadedModel load_model(const std::string& path) {
  LoadedModel lm;
  lm.source = path;
  std::map<std::string, Tensor> params;
  if (fs::is_directory(path)) {
    ckpt::ImportedModel im = ckpt::import_hf(path);
    lm.config = im.config;
    params = std::move(im.params);
  } else {
    ckpt::Checkpoint ck = ckpt::read_checkpoint(path, false);
    lm.config = load_config_text(ck.config_yaml, path + ":/config").config;
    for (auto& t : ck.tensors) params[t.name] = t.value;
  }
  lm.model = std::make_unique<Model>(lm.config.model);
  ParamTable& p = lm.model->params();
  for (size_t i = 0; i < p.size(); ++i) {
    const ParamSpec& s = p.spec(int(i));
    auto it = params.find(s.name);
    if (it == params.end()) fail_input(path, ": parameter '", s.name, "' is missing.");
    if (it->second.shape() != s.shape)
      fail_input(path, ": parameter '", s.name, "' has shape ", shape_str(it->second.shape()), ", expected ", shape_str(s.shape), ".");
    p.var(int(i))->value.copy_from(it->second);
  }
  return lm;
}

std::string resolve_eval_split(const std::string& data) {
  const fs::path d(data);
  if (fs::exists(d / "manifest.json") || fs::is_directory(d / "val")) return (d / "val").string();
  return d.string();
}

}  // namespace mor
