// `mor export --format gguf`: a vanilla Llama (or a Recursive model unrolled to its L' effective
// layers) as one GGUF v3 file, the format llama.cpp and its ecosystem read.
//
// File: magic "GGUF", version 3, tensor count (u64), metadata count (u64); metadata key/value
// pairs (string key, u32 type, value; strings are u64 length + bytes; arrays are u32 item type,
// u64 count, items); tensor infos (name, u32 n_dims, u64 dims in ggml order = fastest first, u32
// type, u64 offset into the data section); zero padding to general.alignment (32); the data, each
// tensor at an offset that is a multiple of 32. Everything little-endian, tensors f32 (file type 0).
//
// Metadata: general.{architecture=llama, name, alignment, file_type}, llama.{context_length,
// embedding_length, block_count, feed_forward_length, vocab_size, rope.dimension_count,
// rope.freq_base, attention.head_count, attention.head_count_kv, attention.key_length,
// attention.value_length, attention.layer_norm_rms_epsilon}, and with a vocabulary
// tokenizer.ggml.{model=llama, tokens, scores, token_type, bos/eos/unknown_token_id,
// add_bos_token=false, add_space_prefix=false}.
// Tensors: token_embd, output_norm, output (only when untied), blk.{l}.{attn_norm, attn_q, attn_k,
// attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight. A [out, in] matrix is stored
// row-major with ggml dims [in, out]. attn_q / attn_k rows are permuted from the rotate-half RoPE
// layout (pairs i, i + D/2) to llama.cpp's adjacent pairs (2i, 2i + 1), per head, as llama.cpp's
// own converter does: new row h*D + 2i + s = old row h*D + s*D/2 + i.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "src/config/config.h"
#include "src/core/tensor.h"

namespace mor::ckpt {

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 5 unused, 6 byte
  int32_t bos = -1, eos = -1, unk = -1;
};

// params: internal name -> f32 tensor; vocab may be empty (no tokenizer.* keys). Written to
// `path` + ".tmp" and renamed. The model must have no routing (the caller refuses MoR).
void export_gguf(const Config& cfg, const std::map<std::string, Tensor>& params, const GgufVocab& vocab,
                 const std::string& path);

// The RoPE row permutation above for a [heads * D, in] matrix (and its inverse).
Tensor rope_rows_to_gguf(const Tensor& w, int64_t heads);

}  // namespace mor::ckpt
