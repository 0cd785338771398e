#!/usr/bin/env python3
"""Regenerates tests/reference/llama_tiny.safetensors: a tiny Llama (and a Middle-Cycle
Recursive variant) with fixed weights and batch; stores tokens, weights, logits, loss and the
gradient of every parameter, all computed in float64 by the from-scratch model in torch_llama.py.

Run from the repo root with Debian's torch:   /usr/bin/python3 tests/reference/make_llama_fixture.py
CI never runs this; the C++ test (tests/unit/test_reference_llama.cpp) only reads the files.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402
import torch_llama  # noqa: E402

CASES = {
    "llama_tiny": dict(vocab_size=61, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2, d_ff=40,
                       sharing="none", num_recursions=1),
    "recursive_tiny": dict(vocab_size=61, d_model=32, n_layers=6, n_heads=4, n_kv_heads=2, d_ff=40,
                           sharing="middle_cycle", num_recursions=2),
}


def make(name, cfg):
    cfg = dict(cfg, rope_theta=10000.0, norm_eps=1e-5)
    gen = torch.Generator().manual_seed(1234)
    params = torch_llama.make_params(cfg, gen, std=0.2, dtype=torch.float64)
    for t in params.values():
        t.requires_grad_(True)
    tokens = torch.randint(0, cfg["vocab_size"], (2, 10), generator=gen)
    logits, loss = torch_llama.forward_llama(tokens, params, cfg)
    loss.backward()
    out = {"tokens": tokens.to(torch.int32), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for k, t in params.items():
        out["param." + k] = t.detach()
        out["grad." + k] = t.grad.detach()
    path = os.path.join(os.path.dirname(__file__), name + ".safetensors")
    safetensors_io.save(path, out, {"config": json.dumps(cfg), "torch": torch.__version__})
    print(f"wrote {path}: loss {loss.item():.6f}")


if __name__ == "__main__":
    for n, c in CASES.items():
        make(n, c)
