// GGUF v3 writer; see gguf.h.
#include "gguf.h"

#include "atomic_write.h"

#include <cstring>

#include "src/core/error.h"
#include "src/model/sharing.h"

namespace mor::ckpt {
namespace {

constexpr uint32_t kMagic = 0x46554747u;  // "GGUF" as little-endian bytes
constexpr uint32_t kVersion = 3;
constexpr uint64_t kAlign = 32;
enum ValueType : uint32_t { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9 };
constexpr uint32_t kTensorF32 = 0;

// Little-endian byte sink (the machine is little-endian; checked once below).
struct Sink {
  std::string b;
  template <class T>
  void pod(T v) { b.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) { pod<uint64_t>(s.size()); b += s; }
};

struct Meta {
  Sink s;
  uint64_t count = 0;
  void key(const std::string& k, uint32_t type) { s.str(k); s.pod(type); ++count; }
  void u32(const std::string& k, uint32_t v) { key(k, U32); s.pod(v); }
  void i32(const std::string& k, int32_t v) { key(k, I32); s.pod(v); }
  void f32(const std::string& k, float v) { key(k, F32); s.pod(v); }
  void boolean(const std::string& k, bool v) { key(k, BOOL); s.pod<uint8_t>(v ? 1 : 0); }
  void string(const std::string& k, const std::string& v) { key(k, STRING); s.str(v); }
  void strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, ARRAY); s.pod<uint32_t>(STRING); s.pod<uint64_t>(v.size());
    for (const auto& x : v) s.str(x);
  }
  template <class T>
  void array(const std::string& k, uint32_t item, const std::vector<T>& v) {
    key(k, ARRAY); s.pod<uint32_t>(item); s.pod<uint64_t>(v.size());
    for (T x : v) s.pod(x);
  }
};

struct Entry {
  std::string name;
  Tensor t;  // f32, [rows, cols] or [n]
};

}  // namespace

Tensor rope_rows_to_gguf(const Tensor& w, int64_t heads) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1], D = rows / heads;
  MOR_CHECK(D * heads == rows && D % 2 == 0, "rope_rows_to_gguf: ", rows, " rows for ", heads, " heads");
  Tensor out = Tensor::empty({rows, cols}, DType::F32);
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < D / 2; ++i)
      for (int64_t s = 0; s < 2; ++s)
        std::memcpy(dst + (h * D + 2 * i + s) * cols, src + (h * D + s * (D / 2) + i) * cols, size_t(cols) * 4);
  return out;
}

void export_gguf(const Config& cfg, const std::map<std::string, Tensor>& params, const GgufVocab& vocab,
                 const std::string& path) {
  const ModelConfig& m = cfg.model;
  MOR_CHECK(m.mor.type == "none", "export_gguf: routed models have no GGUF form");
  const uint32_t probe = 1;
  MOR_CHECK(*reinterpret_cast<const uint8_t*>(&probe) == 1, "export_gguf: big-endian host");
  auto param = [&](const std::string& name) {
    auto it = params.find(name);
    MOR_CHECK(it != params.end(), "export_gguf: no parameter ", name);
    return it->second.dtype() == DType::F32 ? it->second : it->second.to_dtype(DType::F32);
  };

  // Tensors, effective layer by effective layer (shared weights written under every layer).
  SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const bool own_norms = !m.recursion.ln_share && m.recursion.sharing != "none";
  std::vector<Entry> ts;
  ts.push_back({"token_embd.weight", param("embed_tokens")});
  ts.push_back({"output_norm.weight", param("norm")});
  if (!m.tie_embeddings) ts.push_back({"output.weight", param("lm_head")});
  for (int64_t l = 0; l < plan.effective_layers(); ++l) {
    const std::string u = "layers." + std::to_string(plan.unique_of(l)) + ".";
    const std::string b = "blk." + std::to_string(l) + ".";
    auto norm = [&](const char* p) { return param(own_norms ? "norms." + std::to_string(l) + "." + p : u + p); };
    ts.push_back({b + "attn_norm.weight", norm("input_layernorm")});
    ts.push_back({b + "attn_q.weight", rope_rows_to_gguf(param(u + "self_attn.q_proj"), m.n_heads)});
    ts.push_back({b + "attn_k.weight", rope_rows_to_gguf(param(u + "self_attn.k_proj"), m.kv_heads())});
    ts.push_back({b + "attn_v.weight", param(u + "self_attn.v_proj")});
    ts.push_back({b + "attn_output.weight", param(u + "self_attn.o_proj")});
    ts.push_back({b + "ffn_norm.weight", norm("post_attention_layernorm")});
    ts.push_back({b + "ffn_gate.weight", param(u + "mlp.gate_proj")});
    ts.push_back({b + "ffn_up.weight", param(u + "mlp.up_proj")});
    ts.push_back({b + "ffn_down.weight", param(u + "mlp.down_proj")});
  }

  Meta md;
  md.string("general.architecture", "llama");
  md.string("general.name", cfg.name.empty() ? "mor-train" : cfg.name);
  md.u32("general.alignment", uint32_t(kAlign));
  md.u32("general.file_type", 0);  // all f32
  md.u32("llama.context_length", uint32_t(std::max<int64_t>(cfg.train.seq_len, 2048)));
  md.u32("llama.embedding_length", uint32_t(m.d_model));
  md.u32("llama.block_count", uint32_t(plan.effective_layers()));
  md.u32("llama.feed_forward_length", uint32_t(m.d_ff));
  md.u32("llama.vocab_size", uint32_t(m.vocab_size));
  md.u32("llama.rope.dimension_count", uint32_t(m.hdim()));
  md.f32("llama.rope.freq_base", float(m.rope_theta));
  md.u32("llama.attention.head_count", uint32_t(m.n_heads));
  md.u32("llama.attention.head_count_kv", uint32_t(m.kv_heads()));
  md.u32("llama.attention.key_length", uint32_t(m.hdim()));
  md.u32("llama.attention.value_length", uint32_t(m.hdim()));
  md.f32("llama.attention.layer_norm_rms_epsilon", float(m.norm_eps));
  if (!vocab.tokens.empty()) {
    MOR_CHECK(int64_t(vocab.tokens.size()) == m.vocab_size, "export_gguf: vocabulary of ", vocab.tokens.size(),
              " for a model of ", m.vocab_size);
    md.string("tokenizer.ggml.model", "llama");  // SentencePiece (scores, byte fallback)
    md.strings("tokenizer.ggml.tokens", vocab.tokens);
    md.array("tokenizer.ggml.scores", F32, vocab.scores);
    md.array("tokenizer.ggml.token_type", I32, vocab.types);
    if (vocab.bos >= 0) md.u32("tokenizer.ggml.bos_token_id", uint32_t(vocab.bos));
    if (vocab.eos >= 0) md.u32("tokenizer.ggml.eos_token_id", uint32_t(vocab.eos));
    if (vocab.unk >= 0) md.u32("tokenizer.ggml.unknown_token_id", uint32_t(vocab.unk));
    md.boolean("tokenizer.ggml.add_bos_token", false);   // training never saw a BOS
    md.boolean("tokenizer.ggml.add_space_prefix", false);  // the tokenizer adds no dummy prefix
  }

  Sink head;
  head.pod(kMagic);
  head.pod(kVersion);
  head.pod<uint64_t>(ts.size());
  head.pod<uint64_t>(md.count);
  head.b += md.s.b;
  uint64_t offset = 0;
  for (const Entry& e : ts) {
    head.str(e.name);
    const Shape& s = e.t.shape();
    head.pod<uint32_t>(uint32_t(s.size()));
    for (size_t d = s.size(); d-- > 0;) head.pod<uint64_t>(uint64_t(s[d]));  // ggml order: fastest first
    head.pod(kTensorF32);
    head.pod(offset);
    offset += (e.t.nbytes() + kAlign - 1) / kAlign * kAlign;
  }
  head.b.append((kAlign - head.b.size() % kAlign) % kAlign, '\0');

  const std::string pad(kAlign, '\0');
  write_atomically(path, [&](std::ostream& out) {
    out.write(head.b.data(), std::streamsize(head.b.size()));
    for (const Entry& e : ts) {
      out.write(static_cast<const char*>(e.t.raw()), std::streamsize(e.t.nbytes()));
      out.write(pad.data(), std::streamsize((kAlign - e.t.nbytes() % kAlign) % kAlign));
    }
  });
}

}  // namespace mor::ckpt
