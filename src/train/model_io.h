// Loading a trained model for evaluation, export and generation: from an HDF5 checkpoint (weights
// only) or from a directory written by `mor export --format hf`.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "src/config/config.h"
#include "src/model/model.h"

namespace mor {

struct LoadedModel {
  Config config;
  std::unique_ptr<Model> model;
  std::string source;
  uint64_t tokenizer_hash = 0;  // of the training data's tokenizer.model: recorded by the checkpoint, or shipped by the export
};

// BadInput unless the tokenizer at `path` is the one the model was trained with: same vocabulary
// size and, when the checkpoint recorded it, the same tokenizer hash.
void check_tokenizer_matches(const LoadedModel& lm, const std::string& path, int64_t vocab_size, uint64_t hash);

// `path`: a checkpoint file, a run directory (its latest checkpoint), or an HF export directory;
// the model is built on `device` (its weights uploaded there).
LoadedModel load_model(const std::string& path, Device device = Device::cpu());

// Internal parameter name -> value (views into the model's arena).
std::map<std::string, Tensor> model_params(const Model& model);

// The validation split of a dataset directory (DATASET/val), or the directory itself if it is a split.
std::string resolve_eval_split(const std::string& data);

}  // namespace mor
