// Model loading; see model_io.h.
#include "model_io.h"

#include <filesystem>
#include <fstream>

#include "checkpoints/checkpoint.h"
#include "checkpoints/export_hf.h"
#include "data/tokenizer.h"
#include "checkpointing.h"

namespace mor {
namespace fs = std::filesystem;

std::map<std::string, Tensor> model_params(const Model& model) {
  std::map<std::string, Tensor> out;
  const ParamTable& p = model.params();
  for (size_t i = 0; i < p.size(); ++i) out[p.spec(int(i)).name] = p.var(int(i))->value;
  return out;
}

// A run directory stands for its newest complete checkpoint (RUN_DIR/latest names it).
std::string resolve_run_dir(const std::string& path) {
  if (!fs::is_directory(path) || fs::exists(fs::path(path) / "config.json")) return path;  // a file, or an export
  const std::string newest = newest_checkpoint(path);  // `latest` when it names a file, else the newest ckpt-*.h5
  return newest.empty() ? path : newest;
}

namespace {

// A directory given as a model is a run directory (with RUN_DIR/latest, resolved above) or an export
// (config.json). Say which one it resembles when it is neither.
void check_has_model(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "config.json")) return;
  if (fs::exists(d / "config.yaml") || fs::exists(d / "metrics.jsonl"))
    fail_input(dir, ": the run directory holds no checkpoint yet (no ckpt-*.h5). Hint: let `mor train` reach a checkpoint (train.ckpt_every, the end of the run, --stop-at-step or "
               "Ctrl-C save one), or pass a checkpoint file RUN_DIR/ckpt-*.h5.");
  fail_input(dir, ": neither a run directory with a checkpoint (no latest) nor an export directory (no config.json). "
             "Hint: pass a checkpoint file, a run directory written by `mor train`, or a directory written by `mor export`.");
}

}  // namespace

namespace {

// load_model once `path` is a file or an export directory.
LoadedModel load_resolved(const std::string& path, Device device) {
  LoadedModel lm;
  lm.source = path;
  std::map<std::string, Tensor> params;
  if (fs::is_directory(path)) {
    check_has_model(path);
    ckpt::ImportedModel im = ckpt::import_hf(path);
    lm.config = im.config;
    params = std::move(im.params);
    // A MoR-Train export ships the tokenizer it was checked against (`mor export`): the one to hold
    // data, prompts and re-exports to. (Other Hugging Face directories may hold other formats.)
    const fs::path tok = fs::path(path) / "tokenizer.model";
    if (ckpt::looks_like_export(path) && fs::exists(tok)) lm.tokenizer_hash = data::Tokenizer::load(tok.string()).hash();
  } else {
    ckpt::Checkpoint ck = ckpt::read_checkpoint(path, false);
    lm.config = load_config_text(ck.config_yaml, path + ":/config").config;
    lm.tokenizer_hash = ck.state.data_tokenizer_hash;
    for (auto& t : ck.tensors) params[t.name] = t.value;
  }
  device_activate(device);
  lm.model = std::make_unique<Model>(lm.config.model, DType::F32, nullptr, device);
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

}  // namespace

LoadedModel load_model(const std::string& given, Device device) {
  // A run that is still training may prune the checkpoint just resolved before it is read (with
  // train.keep_last 1, at every save): then the directory's new newest one is taken.
  for (int attempt = 1;; ++attempt) {
    const std::string path = resolve_run_dir(given);
    try {
      return load_resolved(path, device);
    } catch (const std::exception&) {
      if (path == given || fs::exists(path) || attempt == 5) throw;
    }
  }
}

void check_tokenizer_matches(const LoadedModel& lm, const std::string& path, int64_t vocab_size, uint64_t hash) {
  if (vocab_size != lm.config.model.vocab_size)
    fail_input(path, ": tokenizer has ", vocab_size, " tokens but the model's vocabulary is ", lm.config.model.vocab_size,
               ". Hint: pass --tokenizer with the tokenizer.model of the dataset the model was trained on.");
  if (lm.tokenizer_hash != 0 && hash != lm.tokenizer_hash)
    fail_input(path, ": not the tokenizer the model was trained with (hash ", hash, ", ", lm.source, " records ",
               lm.tokenizer_hash, "). Hint: pass --tokenizer with the tokenizer.model of the dataset the model was trained on.");
}

std::string resolve_eval_split(const std::string& data) {
  const fs::path d(data);
  if (fs::exists(d / "manifest.json") || fs::is_directory(d / "val")) return (d / "val").string();
  return d.string();
}

}  // namespace mor
