#!/usr/bin/env python3
"""Checks a GGUF file written by `mor export --format gguf` with independent readers:

1. The `gguf` package (llama.cpp's own Python reader) reads it back: the tensor set is exactly the
   llama layout, every tensor equals the same checkpoint's `mor export --format hf` safetensors
   bit for bit (q/k rows permuted to llama.cpp's RoPE pair order, as its converter does), and the
   metadata equals config.json (shape, heads, eps, theta, vocabulary size).
2. Where `llama_cpp` (llama-cpp-python) imports: llama.cpp loads the file and its logits on the
   first validation window give the same next-token loss as `mor eval` (to 1e-4), and, where
   `transformers` imports too, the same logits as LlamaForCausalLM on the HF export (to 1e-3 abs).

  python tests/reference/check_gguf.py --gguf M.gguf --hf HF_DIR [--data DATASET --mor build/src/cli/mor]
Exit 0 when every check that could run passed; prints which ones ran.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(__file__))


def to_gguf_rows(w, heads):
    """rotate-half RoPE rows -> llama.cpp adjacent pairs (per head)."""
    rows, cols = w.shape
    D = rows // heads
    return w.reshape(heads, 2, D // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def expected_tensors(st, cfg):
    out = {"token_embd.weight": st["model.embed_tokens.weight"], "output_norm.weight": st["model.norm.weight"]}
    if not cfg.get("tie_word_embeddings", False):
        out["output.weight"] = st["lm_head.weight"]
    names = {"attn_norm": "input_layernorm", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        for g, h in names.items():
            out[f"blk.{l}.{g}.weight"] = st[p + h + ".weight"]
        out[f"blk.{l}.attn_q.weight"] = to_gguf_rows(st[p + "self_attn.q_proj.weight"], cfg["num_attention_heads"])
        out[f"blk.{l}.attn_k.weight"] = to_gguf_rows(st[p + "self_attn.k_proj.weight"], cfg["num_key_value_heads"])
    return out


def field(r, key):
    f = r.fields[key]
    return f.contents()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--hf", required=True, help="the same checkpoint exported with --format hf (--unrolled for Recursive)")
    ap.add_argument("--data", help="dataset directory: enables the llama.cpp check")
    ap.add_argument("--mor", default="build/src/cli/mor")
    ap.add_argument("--seq-len", type=int, default=32)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.hf, "config.json")))
    assert cfg["architectures"] == ["LlamaForCausalLM"], "the HF export must be a plain Llama (use --unrolled)"
    st = load_file(os.path.join(a.hf, "model.safetensors"))
    r = GGUFReader(a.gguf)
    want = expected_tensors(st, cfg)
    have = {t.name: t for t in r.tensors}
    assert set(have) == set(want), f"tensor names differ: extra {set(have) - set(want)}, missing {set(want) - set(have)}"
    for name, w in want.items():
        t = have[name]
        assert list(t.shape) == list(reversed(w.shape)), (name, list(t.shape), w.shape)  # ggml order
        got = np.asarray(t.data).reshape(w.shape)
        assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), w.astype(np.float32).view(np.uint32)), name
    meta = {"general.architecture": "llama", "llama.embedding_length": cfg["hidden_size"],
            "llama.block_count": cfg["num_hidden_layers"], "llama.feed_forward_length": cfg["intermediate_size"],
            "llama.attention.head_count": cfg["num_attention_heads"],
            "llama.attention.head_count_kv": cfg["num_key_value_heads"], "llama.vocab_size": cfg["vocab_size"],
            "llama.rope.dimension_count": cfg["head_dim"], "general.alignment": 32, "general.file_type": 0}
    for k, v in meta.items():
        assert field(r, k) == v, (k, field(r, k), v)
    for k, v in {"llama.attention.layer_norm_rms_epsilon": cfg["rms_norm_eps"], "llama.rope.freq_base": cfg["rope_theta"]}.items():
        assert abs(field(r, k) - v) <= 1e-7 * abs(v), (k, field(r, k), v)
    if "tokenizer.ggml.tokens" in r.fields:
        assert len(field(r, "tokenizer.ggml.tokens")) == cfg["vocab_size"]
        assert len(field(r, "tokenizer.ggml.scores")) == cfg["vocab_size"]
    print(f"ok: gguf reader: {len(want)} tensors bit-identical to the HF export, {len(meta) + 2} metadata keys match")

    if not a.data:
        return
    try:
        from llama_cpp import Llama
    except ImportError:
        print("skipped: llama.cpp check (llama-cpp-python is not installed)")
        return
    from check_hf_export import read_windows
    T = a.seq_len
    batch = read_windows(os.path.join(a.data, "val"), 1, T)[0].tolist()
    llm = Llama(model_path=a.gguf, n_ctx=T, n_batch=T, logits_all=True, verbose=False, n_threads=2)
    llm.eval(batch[:T])
    logits = np.array(llm.scores[:T], dtype=np.float64)
    lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    cpp_loss = float(np.mean(lse - logits[np.arange(T), batch[1:T + 1]]))
    out = subprocess.run([a.mor, "eval", "--checkpoint", a.hf, "--data", a.data, "--max-windows", "1", "--seq-len",
                          str(T), "--json"], check=True, capture_output=True, text=True).stdout
    mor_loss = json.loads(out)["loss"]
    print(f"llama.cpp loss {cpp_loss:.6f} | mor loss {mor_loss:.6f} | diff {abs(cpp_loss - mor_loss):.2e}")
    assert abs(cpp_loss - mor_loss) < 1e-4, "llama.cpp and mor disagree"
    try:
        import torch
        from transformers import LlamaForCausalLM
    except ImportError:
        print("ok: llama.cpp loads the file and matches mor's loss (transformers absent: no logits comparison)")
        return
    model = LlamaForCausalLM.from_pretrained(a.hf, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        hf = model(torch.tensor([batch[:T]])).logits[0].double().numpy()
    diff = float(np.abs(hf - logits).max())
    print(f"llama.cpp vs transformers logits: max abs diff {diff:.2e} (logits up to {np.abs(hf).max():.2f})")
    assert diff < 1e-3, "llama.cpp and transformers logits disagree"
    print("ok: llama.cpp loads the file; its loss matches mor and its logits match transformers")


if __name__ == "__main__":
    main()
