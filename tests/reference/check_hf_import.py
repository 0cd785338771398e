#!/usr/bin/env python3
"""Checks `mor import` / `mor eval` on plain Hugging Face Llama checkpoints that `transformers`
itself writes (save_pretrained, no MoR-Train keys): f32 in one file with the tied lm_head dropped,
bf16 sharded with an index, f16, and an untied model. For each, the mean next-token loss of
`mor eval` on the first validation windows of a dataset must equal the loss `transformers`
computes on the same tokens (to 1e-4), and `mor import` + `mor eval` of the imported checkpoint
must give the same number again.

  python tests/reference/check_hf_import.py --data DATASET --mor build/src/cli/mor --work DIR
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
from check_hf_export import read_windows  # noqa: E402

T, WINDOWS = 32, 4


def mor_loss(mor, ckpt, data):
    out = subprocess.run([mor, "eval", "--checkpoint", ckpt, "--data", data, "--max-windows", str(WINDOWS),
                          "--seq-len", str(T), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["loss"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--mor", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    vocab = json.load(open(os.path.join(a.data, "manifest.json")))["vocab_size"]
    batch = read_windows(os.path.join(a.data, "val"), WINDOWS, T)
    variants = [("f32", torch.float32, None, True), ("bf16-sharded", torch.bfloat16, "40KB", True),
                ("f16", torch.float16, None, True), ("f32-untied", torch.float32, None, False)]
    for name, dtype, shard, tied in variants:
        torch.manual_seed(7)
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=T,
                          rms_norm_eps=1e-5, rope_theta=10000.0, initializer_range=0.2, tie_word_embeddings=tied)
        model = LlamaForCausalLM(cfg).to(dtype)
        out = os.path.join(a.work, name)
        kw = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(out, safe_serialization=True, **kw)
        files = sorted(os.listdir(out))
        ref = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()  # the stored values, in f32
        with torch.no_grad():
            logits = ref(batch[:, :-1]).logits
            hf = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)).item()
        direct = mor_loss(a.mor, out, a.data)
        subprocess.run([a.mor, "import", "--hf", out, "--out", out + ".h5"], check=True, capture_output=True)
        imported = mor_loss(a.mor, out + ".h5", a.data)
        print(f"{name:13s} files {files}: transformers {hf:.6f} | mor eval {direct:.6f} | imported {imported:.6f}")
        assert abs(hf - direct) < 1e-4 and direct == imported, name
    print("ok: mor imports transformers-written Llama checkpoints and matches transformers' loss")


if __name__ == "__main__":
    main()
