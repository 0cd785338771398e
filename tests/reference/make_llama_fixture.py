#!/usr/bin/env python3
"""Regenerates the reference fixtures in tests/reference/*.safetensors, computed in float64 by the
from-scratch PyTorch models in torch_llama.py and torch_mor.py:

  llama_tiny       vanilla Llama                 tokens, weights, logits, loss, every gradient
  recursive_tiny   Middle-Cycle Recursive, N_r=2 same
  mor_expert_tiny  Middle-Cycle MoR expert-choice, N_r=3: + total loss, BCE, selected rows per step
  mor_token_tiny   Middle-Cycle MoR token-choice, N_r=3:  + total loss, balance, z, depth per token
  mor_expert_none_min     expert-choice, router_func None (raw logit gate, no alpha), N_r=1,
                          capacity [1], B=1 layer per step, batch 1 x T=8 (the minimal case of issue 14)
  mor_expert_none_tiny    as mor_expert_tiny with router_func None
  mor_expert_warmup_tiny  as mor_expert_tiny inside upstream's capacity warm-up: cap_warmup_step 4
                          forward calls, this is call 2 (the C++ side: cap_warmup_steps 2 x grad_accum 2)

Run from the repo root with Debian's torch:   /usr/bin/python3 tests/reference/make_llama_fixture.py
(or the reference environment: bash launch/install_reference_env.sh; .venv-ref/bin/python ...)
CI never runs this; the C++ tests (tests/unit/test_reference_*.cpp) only read the files.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402
import torch_llama  # noqa: E402
import torch_mor  # noqa: E402

BASE = dict(vocab_size=61, d_model=32, n_heads=4, n_kv_heads=2, d_ff=40, rope_theta=10000.0, norm_eps=1e-5)
CASES = {
    "llama_tiny": (dict(BASE, n_layers=3, sharing="none", num_recursions=1), None),
    "recursive_tiny": (dict(BASE, n_layers=6, sharing="middle_cycle", num_recursions=2), None),
    "mor_expert_tiny": (dict(BASE, n_layers=5, sharing="middle_cycle", num_recursions=3),
                        dict(type="expert", alpha=0.1, temp=1.0, aux_coeff=0.05, router_std=0.5)),
    "mor_token_tiny": (dict(BASE, n_layers=5, sharing="middle_cycle", num_recursions=3),
                       dict(type="token", alpha=1.0, temp=1.0, bal_coeff=0.1, z_coeff=1e-3, router_std=0.5)),
    "mor_expert_none_min": (dict(BASE, n_layers=3, sharing="middle_cycle", num_recursions=1),
                            dict(type="expert", router_func="none", alpha=0.1, temp=1.0, aux_coeff=0.001,
                                 capacity=[1.0], router_std=0.1, batch=1, seq_len=8)),
    "mor_expert_none_tiny": (dict(BASE, n_layers=5, sharing="middle_cycle", num_recursions=3),
                             dict(type="expert", router_func="none", alpha=0.1, temp=1.0, aux_coeff=0.05,
                                  router_std=0.1)),
    "mor_expert_warmup_tiny": (dict(BASE, n_layers=5, sharing="middle_cycle", num_recursions=3),
                               dict(type="expert", alpha=0.1, temp=1.0, aux_coeff=0.05, router_std=0.5,
                                    cap_warmup_step=4, training_step=2, grad_accum=2)),
}


def make(name, cfg, mor):
    gen = torch.Generator().manual_seed(1234)
    params = torch_llama.make_params(cfg, gen, std=0.2, dtype=torch.float64)
    if mor:
        torch_mor.add_router_params(params, cfg, mor, gen, torch.float64)
    for t in params.values():
        t.requires_grad_(True)
    shape = (mor.get("batch", 2), mor.get("seq_len", 9) + 1) if mor else (2, 10)
    tokens = torch.randint(0, cfg["vocab_size"], shape, generator=gen)
    extra, aux = {}, {}
    if mor is None:
        logits, lm = torch_llama.forward_llama(tokens, params, cfg)
        total = lm
    elif mor["type"] == "expert":
        logits, lm, total, aux, extra = torch_mor.expert_forward(tokens, params, cfg, mor)
    else:
        logits, lm, total, aux, extra = torch_mor.token_forward(tokens, params, cfg, mor)
    total.backward()
    out = {"tokens": tokens.to(torch.int32), "logits": logits.detach(), "loss": lm.detach().reshape(1),
           "total_loss": total.detach().reshape(1)}
    for k, v in aux.items():
        out["aux." + k] = v.detach().reshape(1)
    out.update(extra)
    for k, t in params.items():
        out["param." + k] = t.detach()
        out["grad." + k] = t.grad.detach()
    path = os.path.join(os.path.dirname(__file__), name + ".safetensors")
    meta = {"config": json.dumps(cfg), "torch": torch.__version__}
    if mor:
        meta["mor"] = json.dumps(mor)
    safetensors_io.save(path, out, meta)
    print(f"wrote {path}: lm {lm.item():.6f} total {total.item():.6f}")


if __name__ == "__main__":
    for n, (c, m) in CASES.items():
        make(n, c, m)
