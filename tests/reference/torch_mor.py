"""From-scratch PyTorch Mixture-of-Recursions forwards (MOR.md sections 3 and 4, as the upstream
code does them) on top of torch_llama.py, used to produce reference fixtures.

Expert-choice: per step r its own linear router; gate g = alpha * sigmoid(logit) (router_func
sigmoid, the default), alpha * tanh(logit) (tanh) or the raw logit with no alpha (None, as
upstream); top k_r = max(1, floor(c_r T)) among the previous step's survivors, per sequence, sorted
by position; c_r from `capacity` or (N_r - r + 1) / N_r, with upstream's cosine capacity warm-up
when `cap_warmup_step` > 0 (progress = training_step / cap_warmup_step, both in forward calls,
training_step counting this call from 1); the shared block runs on the selected tokens only (causal
among them, RoPE at original positions); h_sel += g * f(h_sel); BCE auxiliary loss on the router
logits, mean over candidates, summed over steps.
Token-choice: one softmax router on H^1, depth = argmax, nested active sets, exit output
H^1 + g F at the exit step; balancing loss sum_j f_j P_j; router z-loss mean(logsumexp(z)^2).
"""
import math

import torch

import torch_llama as tl


def block(x, pos, p, cfg, step_layers, smap):
    for l in step_layers:
        x = tl.layer(x, pos, p, f"layers.{smap[l]}.", cfg)
    return x


def steps(cfg):
    """Effective layer indices of each recursion step (Middle-Cycle/Cycle)."""
    middle = cfg["sharing"].startswith("middle")
    nr = cfg["num_recursions"]
    B = (cfg["n_layers"] - (2 if middle else 0)) // nr
    first = 1 if middle else 0
    return [list(range(first + r * B, first + (r + 1) * B)) for r in range(nr)], middle


def expert_forward(tokens, p, cfg, mor):
    Bsz, T1 = tokens.shape
    T = T1 - 1
    inp, tgt = tokens[:, :T], tokens[:, 1:]
    smap = tl.sharing_map(cfg["sharing"], cfg["n_layers"], cfg["num_recursions"])
    step_layers, middle = steps(cfg)
    nr = cfg["num_recursions"]
    caps = mor.get("capacity") or [(nr - r) / nr for r in range(nr)]
    if mor.get("cap_warmup_step", 0) > 0:  # upstream: training forward calls, counted from 1
        decay = 0.5 * (1.0 + math.cos(math.pi * min(1.0, mor["training_step"] / mor["cap_warmup_step"])))
        caps = [c + (1.0 - c) * decay for c in caps]
    alpha = mor["alpha"]
    func = mor.get("router_func", "sigmoid")
    pos_all = torch.arange(T)
    outs, bce_terms, selections = [], [[] for _ in range(nr)], [[] for _ in range(nr)]
    for b in range(Bsz):
        h = p["embed_tokens"][inp[b]]
        if middle:
            h = tl.layer(h, pos_all, p, f"layers.{smap[0]}.", cfg)
        cand = pos_all
        for r in range(nr):
            xc = h[cand]
            logit = (xc / mor["temp"]) @ p[f"routers.{r}.weight"].T  # [m, 1]
            logit = logit[:, 0]
            if func == "sigmoid":
                g = alpha * torch.sigmoid(logit)
            elif func == "tanh":
                g = alpha * torch.tanh(logit)
            else:  # None: the raw logit is the gate, alpha unused
                g = logit
            k = max(1, int(math.floor(caps[r] * T)))
            top = torch.topk(g.detach(), k).indices.sort().values  # local indices, by position
            sel = cand[top]
            y = torch.zeros_like(logit)
            y[top] = 1.0
            bce_terms[r].append(torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="sum"))
            f = block(h[sel], sel, p, cfg, step_layers[r], smap)
            h = h.index_add(0, sel, g[top][:, None] * f)
            selections[r].append(sel + b * T)
            cand = sel
        if middle:
            h = tl.layer(h, pos_all, p, f"layers.{smap[cfg['n_layers'] - 1]}.", cfg)
        outs.append(tl.rmsnorm(h, p["norm"], cfg["norm_eps"]))
    hidden = torch.cat(outs, 0)
    logits = hidden @ p["embed_tokens"].T
    lm = torch.nn.functional.cross_entropy(logits, tgt.reshape(-1))
    # BCE: mean over all candidates of the batch at that step, summed over steps.
    bce = sum(sum(terms) / (Bsz * len(selections[r - 1][0]) if r > 0 else Bsz * T) for r, terms in enumerate(bce_terms))
    total = lm + mor["aux_coeff"] * bce
    sel = {f"selected.{r}": torch.cat(selections[r]).to(torch.int32) for r in range(nr)}
    return logits, lm, total, {"bce": bce}, sel


def token_forward(tokens, p, cfg, mor):
    Bsz, T1 = tokens.shape
    T = T1 - 1
    inp, tgt = tokens[:, :T], tokens[:, 1:]
    smap = tl.sharing_map(cfg["sharing"], cfg["n_layers"], cfg["num_recursions"])
    step_layers, middle = steps(cfg)
    nr = cfg["num_recursions"]
    pos_all = torch.arange(T)
    h1s = []
    for b in range(Bsz):
        h = p["embed_tokens"][inp[b]]
        if middle:
            h = tl.layer(h, pos_all, p, f"layers.{smap[0]}.", cfg)
        h1s.append(h)
    H1 = torch.stack(h1s)  # [B, T, d]
    z = (H1 / mor["temp"]) @ p["router.weight"].T  # [B, T, N_r]
    prob = torch.softmax(z, -1) * mor["alpha"]
    depth = prob.detach().argmax(-1)  # [B, T]
    gate = prob.gather(-1, depth[..., None])[..., 0]
    outs = []
    for b in range(Bsz):
        out = H1[b]
        x = H1[b]
        active = pos_all
        for r in range(nr):
            f = block(x, active, p, cfg, step_layers[r], smap)
            d = depth[b, active]
            ex = (d == r).nonzero()[:, 0]
            if len(ex):
                rows = active[ex]
                out = out.index_add(0, rows, gate[b, rows][:, None] * f[ex])
            co = (d > r).nonzero()[:, 0]
            if len(co) == 0:
                break
            x, active = f[co], active[co]
        if middle:
            out = tl.layer(out, pos_all, p, f"layers.{smap[cfg['n_layers'] - 1]}.", cfg)
        outs.append(tl.rmsnorm(out, p["norm"], cfg["norm_eps"]))
    hidden = torch.cat(outs, 0)
    logits = hidden @ p["embed_tokens"].T
    lm = torch.nn.functional.cross_entropy(logits, tgt.reshape(-1))
    n = Bsz * T
    counts = torch.stack([(depth == j).sum() for j in range(nr)]).to(prob.dtype)
    fj = nr * counts / n
    Pj = prob.reshape(n, nr).mean(0)
    bal = (fj * Pj).sum()
    zl = (torch.logsumexp(z.reshape(n, nr), -1) ** 2).mean()
    total = lm + mor["bal_coeff"] * bal + mor["z_coeff"] * zl
    return logits, lm, total, {"balance": bal, "z": zl}, {"depth": depth.reshape(-1).to(torch.int32)}


def add_router_params(p, cfg, mor, gen, dtype):
    d, nr = cfg["d_model"], cfg["num_recursions"]
    if mor["type"] == "expert":
        for r in range(nr):
            p[f"routers.{r}.weight"] = torch.randn(1, d, generator=gen, dtype=dtype) * mor["router_std"]
    else:
        p["router.weight"] = torch.randn(nr, d, generator=gen, dtype=dtype) * mor["router_std"]
