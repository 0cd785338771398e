"""A from-scratch PyTorch Llama (MOR.md section 1.1) used to produce reference fixtures.

Written independently of the C++ code: RMSNorm (mean in fp32-or-better, w * x / rms), rotate-half
RoPE with theta^(-2i/D), causal GQA attention with scale 1/sqrt(D), SwiGLU MLP, tied embeddings,
and the four sharing strategies of MOR.md section 2 (effective layer -> unique weights).
Parameter names follow the C++ parameter table (HF Llama names per unique layer).
"""
import math

import torch


def sharing_map(strategy, n_layers, n_rec):
    middle = strategy.startswith("middle")
    body = n_layers - (2 if middle else 0)
    B = body // n_rec
    out = []
    for l in range(n_layers):
        if strategy == "none":
            out.append(l)
        elif strategy == "cycle":
            out.append(l % B)
        elif strategy == "sequence":
            out.append(l // n_rec)
        elif l == 0:
            out.append(0)
        elif l == n_layers - 1:
            out.append(B + 1)
        elif strategy == "middle_cycle":
            out.append(1 + (l - 1) % B)
        else:
            out.append(1 + (l - 1) // n_rec)
    return out


def make_params(cfg, gen, std, dtype):
    d, V, f = cfg["d_model"], cfg["vocab_size"], cfg["d_ff"]
    D = d // cfg["n_heads"]
    hq, hkv = cfg["n_heads"] * D, cfg["n_kv_heads"] * D
    smap = sharing_map(cfg["sharing"], cfg["n_layers"], cfg["num_recursions"])
    p = {"embed_tokens": torch.randn(V, d, generator=gen, dtype=dtype) * std}
    for u in range(max(smap) + 1):
        pre = f"layers.{u}."
        p[pre + "input_layernorm"] = 1 + 0.1 * torch.randn(d, generator=gen, dtype=dtype)
        p[pre + "self_attn.q_proj"] = torch.randn(hq, d, generator=gen, dtype=dtype) * std
        p[pre + "self_attn.k_proj"] = torch.randn(hkv, d, generator=gen, dtype=dtype) * std
        p[pre + "self_attn.v_proj"] = torch.randn(hkv, d, generator=gen, dtype=dtype) * std
        p[pre + "self_attn.o_proj"] = torch.randn(d, hq, generator=gen, dtype=dtype) * std
        p[pre + "post_attention_layernorm"] = 1 + 0.1 * torch.randn(d, generator=gen, dtype=dtype)
        p[pre + "mlp.gate_proj"] = torch.randn(f, d, generator=gen, dtype=dtype) * std
        p[pre + "mlp.up_proj"] = torch.randn(f, d, generator=gen, dtype=dtype) * std
        p[pre + "mlp.down_proj"] = torch.randn(d, f, generator=gen, dtype=dtype) * std
    p["norm"] = 1 + 0.1 * torch.randn(d, generator=gen, dtype=dtype)
    return p


def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, pos, theta):
    # x [..., T, H, D], pos [T]
    D = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=x.dtype) / D))
    ang = pos.to(x.dtype)[:, None] * inv[None, :]  # [T, D/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    rot = torch.cat([-x2, x1], -1)
    return x * cos + rot * sin


def attention(q, k, v, qpos, kpos):
    # q [Tq, Hq, D], k/v [Tk, Hkv, D] -> [Tq, Hq, D]; query i sees key j iff kpos[j] <= qpos[i]
    Hq, Hkv, D = q.shape[1], k.shape[1], q.shape[2]
    k = k.repeat_interleave(Hq // Hkv, dim=1)
    v = v.repeat_interleave(Hq // Hkv, dim=1)
    s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(D)
    mask = kpos[None, :] <= qpos[:, None]
    s = s.masked_fill(~mask[None], float("-inf"))
    return torch.einsum("hqk,khd->qhd", torch.softmax(s, -1), v)


def layer(x, pos, p, pre, cfg):
    d = cfg["d_model"]
    H, Hkv = cfg["n_heads"], cfg["n_kv_heads"]
    D = d // H
    h = rmsnorm(x, p[pre + "input_layernorm"], cfg["norm_eps"])
    q = (h @ p[pre + "self_attn.q_proj"].T).view(-1, H, D)
    k = (h @ p[pre + "self_attn.k_proj"].T).view(-1, Hkv, D)
    v = (h @ p[pre + "self_attn.v_proj"].T).view(-1, Hkv, D)
    q, k = rope(q, pos, cfg["rope_theta"]), rope(k, pos, cfg["rope_theta"])
    a = x + attention(q, k, v, pos, pos).reshape(-1, H * D) @ p[pre + "self_attn.o_proj"].T
    h = rmsnorm(a, p[pre + "post_attention_layernorm"], cfg["norm_eps"])
    g = h @ p[pre + "mlp.gate_proj"].T
    u = h @ p[pre + "mlp.up_proj"].T
    return a + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj"].T


def forward_llama(tokens, p, cfg):
    """tokens [B, T+1] -> (logits [B*T, V], mean CE loss)."""
    B, T1 = tokens.shape
    T = T1 - 1
    inp, tgt = tokens[:, :T], tokens[:, 1:]
    smap = sharing_map(cfg["sharing"], cfg["n_layers"], cfg["num_recursions"])
    pos = torch.arange(T)
    outs = []
    for b in range(B):
        x = p["embed_tokens"][inp[b]]
        for l in range(cfg["n_layers"]):
            x = layer(x, pos, p, f"layers.{smap[l]}.", cfg)
        outs.append(rmsnorm(x, p["norm"], cfg["norm_eps"]))
    h = torch.cat(outs, 0)
    logits = h @ p["embed_tokens"].T
    loss = torch.nn.functional.cross_entropy(logits, tgt.reshape(-1))
    return logits, loss
