// safetensors files: u64 little-endian header length, a JSON header (name -> dtype, shape,
// data_offsets; optional "__metadata__" of strings) padded with spaces to 8 bytes, then raw data.
// Used by `mor export` (Hugging Face format) and by the PyTorch reference fixtures.
#pragma once
#include <map>
#include <string>

#include "src/core/tensor.h"

namespace mor::ckpt {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;         // f32 / f64 / i32 / i64 / bf16 (CPU); f16 is read as f32
  std::map<std::string, std::string> metadata;
};

// Reads the whole file; BadInput errors name the file and what is wrong.
SafetensorsFile read_safetensors(const std::string& path);
// Writes atomically (temp file + rename).
void write_safetensors(const std::string& path, const SafetensorsFile& f);

}  // namespace mor::ckpt
