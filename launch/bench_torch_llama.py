#!/usr/bin/env python3
"""PyTorch reference for `mor bench train`: the same Llama (RMSNorm, RoPE, causal MHA/GQA,
SwiGLU, tied embeddings), the same AdamW, fp32, on random tokens; prints one JSON object with
tokens_per_s and step_s_median. Written for Debian's python3-torch (1.13, no SDPA), so attention
is the plain matmul-softmax-matmul a PyTorch user would write.

  /usr/bin/python3 launch/bench_torch_llama.py --config configs/bench-llama-small.yaml --threads 1
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(T, D, theta):
    inv = 1.0 / (theta ** (torch.arange(0, D, 2).float() / D))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    return emb.cos(), emb.sin()


def rotate(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.H, self.Hkv = c["d_model"], c["n_heads"], c.get("n_kv_heads") or c["n_heads"]
        self.D = d // self.H
        self.ln1, self.ln2 = RMSNorm(d, 1e-5), RMSNorm(d, 1e-5)
        self.q = nn.Linear(d, self.H * self.D, bias=False)
        self.k = nn.Linear(d, self.Hkv * self.D, bias=False)
        self.v = nn.Linear(d, self.Hkv * self.D, bias=False)
        self.o = nn.Linear(self.H * self.D, d, bias=False)
        self.gate = nn.Linear(d, c["d_ff"], bias=False)
        self.up = nn.Linear(d, c["d_ff"], bias=False)
        self.down = nn.Linear(c["d_ff"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self.v(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if self.Hkv != self.H:
            k = k.repeat_interleave(self.H // self.Hkv, 1)
            v = v.repeat_interleave(self.H // self.Hkv, 1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
        a = torch.softmax(s.masked_fill(mask, float("-inf")), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, -1))
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c, T):
        super().__init__()
        self.emb = nn.Embedding(c["vocab_size"], c["d_model"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["n_layers"]))
        self.norm = RMSNorm(c["d_model"], 1e-5)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        cos, sin = rope_tables(T, c["d_model"] // c["n_heads"], 10000.0)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1))

    def forward(self, idx, tgt):
        x = self.emb(idx)
        for l in self.layers:
            x = l(x, self.cos, self.sin, self.mask)
        logits = self.norm(x) @ self.emb.weight.T  # tied lm_head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    cfg = yaml.safe_load(open(a.config))
    m, t = cfg["model"], cfg["train"]
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T = t["micro_batch"], t["seq_len"]
    model = Llama(m, T)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    tok = torch.randint(0, m["vocab_size"], (B, T + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(tok[:, :-1], tok[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "threads": a.threads, "tokens_per_s": B * T / med,
                      "step_s_median": med, "step_s": times}))


if __name__ == "__main__":
    main()
