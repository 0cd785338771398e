#!/usr/bin/env python3
"""Synthetic sweep results from a known scaling law, for tests/cli/test_sweep_report.sh.

  sweep_synthetic_law.py OUT/results.json      writes the rows and OUT/truth.json (the known values)

Loss L(N, D) = A N^-alpha + B D^-beta (no constant term, so the optimum loss is an exact power
law) with D = C / (6 N) tokens at budget C. Minimising over N at fixed C gives
  N_opt = G (C/6)^(beta/(alpha+beta)),  G = (alpha A / (beta B))^(1/(alpha+beta)),
  D_opt = C / (6 N_opt)  ~ C^(alpha/(alpha+beta)),   L_opt ~ C^(-alpha beta/(alpha+beta)).
Seven sizes per budget, spaced 0.25 decades around N_opt, three seeds with Gaussian noise
(sd 0.003); a second variant is the same law shifted by +0.05 (worse beyond the noise), a third
by +0.0005 (well within it).
"""
import json
import os
import sys

import numpy as np

A, B, ALPHA, BETA, SD = 400.0, 1800.0, 0.30, 0.40, 0.003
BUDGETS = [1e17, 1e18, 1e19, 1e20]
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))


def n_opt(c):
    return G * (c / 6) ** (BETA / (ALPHA + BETA))


def loss(n, c):
    return A * n ** -ALPHA + B * (c / (6 * n)) ** -BETA


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    rows = []
    for variant, shift in (("law", 0.0), ("law-worse", 0.05), ("law-same", 0.0005)):
        for c in BUDGETS:
            for i, k in enumerate(np.linspace(-0.75, 0.75, 7)):
                n = n_opt(c) * 10 ** k
                for seed in (1, 2, 3):
                    rows.append({"id": f"{c:.0e}-n{i}-{variant}-s{seed}", "variant": variant,
                                 "variant_kind": "vanilla" if variant == "law" else "recursive", "size": f"n{i}",
                                 "seed": seed, "budget": c, "unique_params": n * 1.5, "non_embedding_params": n,
                                 "num_recursions": 1, "steps": 1, "tokens": c / (6 * n), "flops_per_token": 6 * n,
                                 "state": "finished", "wall_s": 1.0,
                                 "val_loss": loss(n, c) + shift + rng.normal(0, SD)})
    truth = {"n_opt_exponent": BETA / (ALPHA + BETA), "d_opt_exponent": ALPHA / (ALPHA + BETA),
             "l_opt_exponent": -ALPHA * BETA / (ALPHA + BETA),
             "n_opt": {str(c): n_opt(c) for c in BUDGETS}, "l_opt": {str(c): loss(n_opt(c), c) for c in BUDGETS},
             "points": len(rows)}
    json.dump(rows, open(out, "w"))
    json.dump(truth, open(os.path.join(os.path.dirname(out), "truth.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
