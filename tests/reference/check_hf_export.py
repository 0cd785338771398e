#!/usr/bin/env python3
"""Checks that a vanilla model exported by `mor export --format hf` loads in Hugging Face
`transformers` (LlamaForCausalLM.from_pretrained, unchanged) and computes the same thing as
`mor`: the mean next-token loss over the first windows of a dataset split must match
`mor eval` on the same windows to 1e-4 (any difference in weights, names, RoPE convention or
norms would show).

Needs torch + transformers: the reference environment of launch/install_reference_env.sh, under
which tests/cli/test_reference_env.sh runs it in CI (vanilla and --unrolled Recursive exports; skipped
without the environment). By hand, from the repo root:
  bash launch/install_reference_env.sh
  build/src/cli/mor train --config configs/tiny-llama.yaml --set train.steps=20 --run-dir runs/hf-check
  build/src/cli/mor export --checkpoint runs/hf-check/ckpt-00000020.h5 --out runs/hf-check/hf
  .venv-ref/bin/python tests/reference/check_hf_export.py --export runs/hf-check/hf --data datasets/pydocs --mor build/src/cli/mor
"""
import argparse
import json
import os
import struct
import subprocess

import torch
from transformers import LlamaForCausalLM


def read_windows(split_dir, n, T):
    """The first n windows of T+1 tokens of a split (shards in manifest order), as mor reads them."""
    manifest = json.load(open(os.path.join(os.path.dirname(split_dir.rstrip("/")), "manifest.json")))
    name = os.path.basename(split_dir.rstrip("/"))
    tokens = []
    for sh in manifest["splits"][name]["shards"]:
        raw = open(os.path.join(split_dir, sh["file"]), "rb").read()
        width = struct.unpack("<I", raw[12:16])[0]
        count = struct.unpack("<Q", raw[24:32])[0]
        fmt = "<%d%s" % (count, "H" if width == 2 else "I")
        tokens.extend(struct.unpack(fmt, raw[64:64 + count * width]))
        if len(tokens) > n * T + 1:
            break
    return torch.tensor([tokens[w * T: w * T + T + 1] for w in range(n)], dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--data", required=True, help="dataset directory (its val split is used)")
    ap.add_argument("--mor", default="build/src/cli/mor")
    ap.add_argument("--windows", type=int, default=4)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.export, "config.json")))
    T = 256
    model = LlamaForCausalLM.from_pretrained(a.export, torch_dtype=torch.float32).eval()
    batch = read_windows(os.path.join(a.data, "val"), a.windows, T)
    with torch.no_grad():
        logits = model(batch[:, :-1]).logits
        hf_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)).item()
    out = subprocess.run([a.mor, "eval", "--checkpoint", a.export, "--data", a.data, "--max-windows", str(a.windows),
                          "--seq-len", str(T), "--json"], check=True, capture_output=True, text=True).stdout
    mor_loss = json.loads(out)["loss"]
    print(f"transformers loss {hf_loss:.6f} | mor loss {mor_loss:.6f} | diff {abs(hf_loss - mor_loss):.2e}")
    assert abs(hf_loss - mor_loss) < 1e-4, "losses differ"
    print("ok: transformers loads the export unchanged and matches mor")


if __name__ == "__main__":
    main()
