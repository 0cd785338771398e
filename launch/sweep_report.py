#!/usr/bin/env python3
"""Report of a scaling-law sweep (`mor sweep report DIR` runs this).

  sweep_report.py DIR [--params non_embedding|unique] [--bootstrap 2000]
  sweep_report.py --results results.json --out OUTDIR [...]     (fit a results file, e.g. synthetic)

Collects every point of DIR/plan.json into DIR/results.csv and results.json (variant, size,
parameters, budget, tokens, seed, final validation loss, wall time, routing statistics, state),
then fits, on the finished points:
  * per variant and budget, the isoFLOP profile: validation loss (mean over seeds) against
    log10(parameters), a least-squares parabola; its vertex is the compute-optimal size N_opt and
    loss L_opt, and the tokens D_opt there come from a log-log line through the points' tokens;
  * per variant, across budgets C, power laws N_opt = k C^a, D_opt = k C^b, L_opt = k C^c
    (least squares in log-log space);
  * seed variation: every number gets a 95% interval from a bootstrap over seeds (each resample
    draws, for every point, its seeds with replacement and refits everything), and every
    comparison of two variants says whether its interval excludes zero ("larger than the seed
    noise") or not ("within noise").
Pictures (PNG at 100 dpi + SVG; sizes in README): isoflop (one panel per budget, one colour per
variant), frontier (best loss vs compute), routing (final-depth histograms of the MoR variants).
Writes fits.json (every fitted number) and report.md (tables + pictures).
Exit 2 on bad input or missing Python packages, with the command that installs them.
"""
import argparse
import csv
import json
import math
import os
import sys

try:
    import numpy as np
    from scipy import stats
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:
    sys.stderr.write(f"error: the sweep report needs numpy, scipy and matplotlib ({e}). Hint: "
                     "apt-get install python3-numpy python3-scipy python3-matplotlib "
                     "(or bash launch/install_deps.sh).\n")
    sys.exit(2)

DPI = 100
PANEL_W, PANEL_H = 4.5, 4.0     # inches per panel of isoflop / routing: 450 x 400 px each
FRONTIER_W, FRONTIER_H = 6.0, 4.5  # 600 x 450 px
TAIL = 0.1  # routing statistics: mean over the last 10% of a point's steps


def fail(msg):
    sys.stderr.write(f"error: {msg}\n")
    sys.exit(2)


# ---------------------------------------------------------------- collection
def read_jsonl_tail(path, frac):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip().startswith("{")]
    n = max(1, int(round(len(recs) * frac)))
    return recs[-n:]


def routing_stats(point_dir, n_r):
    tail = read_jsonl_tail(os.path.join(point_dir, "metrics.jsonl"), TAIL)
    hist = np.zeros(n_r)
    dead = []
    for r in tail:
        if "route_depth" in r and len(r["route_depth"]) == n_r:
            hist += np.array(r["route_depth"], dtype=float)
        if "dead_ratio" in r:
            dead.append(r["dead_ratio"])
    out = {}
    if hist.sum() > 0:
        out["depth_fractions"] = list(hist / hist.sum())
        out["mean_depth"] = float((hist / hist.sum()) @ np.arange(1, n_r + 1))
    if dead:
        out["dead_ratio"] = float(np.mean(dead))
    return out


def last_error(log):
    if not os.path.exists(log):
        return ""
    lines = [l.rstrip() for l in open(log, errors="replace") if l.strip()]
    errs = [l for l in lines if l.startswith("error")]
    return (errs[-1] if errs else (lines[-1] if lines else ""))[:300]


def collect(sweep_dir):
    plan_path = os.path.join(sweep_dir, "plan.json")
    if not os.path.exists(plan_path):
        fail(f"{sweep_dir}: holds no plan.json. Hint: mor sweep plan SWEEP.yaml --out {sweep_dir}")
    plan = json.load(open(plan_path))
    rows = []
    for p in plan["points"]:
        d = os.path.join(sweep_dir, "points", p["id"])
        row = {k: p[k] for k in ("id", "variant", "variant_kind", "size", "seed", "budget", "unique_params",
                                 "non_embedding_params", "num_recursions", "steps", "tokens", "flops_per_token")}
        summ = os.path.join(d, "summary.json")
        code_path = os.path.join(d, "exit_code")
        code = open(code_path).read().strip() if os.path.exists(code_path) else ""
        if os.path.exists(summ):
            s = json.load(open(summ))
            row.update(state="finished", val_loss=s["val_loss"], wall_s=s["train_seconds"], flops_spent=s["flops"],
                       tokens=s["tokens"])
            if p["variant_kind"].startswith("mor"):
                row.update(routing_stats(d, p["num_recursions"]))
        elif code and code != "0":
            row.update(state="failed", exit_code=int(code), error=last_error(os.path.join(d, "train.log")))
        else:
            row.update(state="started" if os.path.exists(os.path.join(d, "metrics.jsonl")) else "pending")
        rows.append(row)
    return plan.get("name", os.path.basename(sweep_dir.rstrip("/"))), rows


def write_results(out, rows):
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    cols = ["id", "variant", "variant_kind", "size", "seed", "budget", "unique_params", "non_embedding_params",
            "tokens", "steps", "val_loss", "wall_s", "mean_depth", "dead_ratio", "depth_fractions", "state", "error"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([";".join(f"{v:.4f}" for v in r[c]) if isinstance(r.get(c), list) else r.get(c, "") for c in cols])


# ---------------------------------------------------------------- fitting
class Grid:
    """Finished points as loss[variant][budget][size] = array over seeds (seeds in a fixed order)."""

    def __init__(self, rows, param_key):
        fin = [r for r in rows if r.get("state") == "finished" and math.isfinite(r.get("val_loss", float("nan")))]
        self.variants = list(dict.fromkeys(r["variant"] for r in fin))
        self.kind = {r["variant"]: r["variant_kind"] for r in fin}
        self.budgets = sorted(set(r["budget"] for r in fin))
        self.cells = {}  # (variant, budget) -> list of (params, tokens, size, seeds array of losses)
        for v in self.variants:
            for b in self.budgets:
                by_size = {}
                for r in fin:
                    if r["variant"] == v and r["budget"] == b:
                        by_size.setdefault(r["size"], []).append(r)
                cell = []
                for size, rs in by_size.items():
                    rs.sort(key=lambda r: r["seed"])
                    cell.append((float(rs[0][param_key]), float(rs[0]["tokens"]), size,
                                 np.array([r["val_loss"] for r in rs])))
                cell.sort(key=lambda c: c[0])
                if cell:
                    self.cells[(v, b)] = cell


def parabola_opt(x, y):
    """Vertex of the least-squares parabola y(x); None when there is no minimum (a <= 0 or < 3 sizes)."""
    if len(x) < 3:
        return None
    a, b, c = np.polyfit(x, y, 2)
    if not a > 0:
        return None
    xv = -b / (2 * a)
    return xv, a * xv * xv + b * xv + c, (a, b, c)


def cell_fit(cell, means):
    x = np.log10([c[0] for c in cell])
    opt = parabola_opt(x, np.asarray(means))
    best = int(np.argmin(means))
    out = {"best_loss": float(means[best]), "best_size": cell[best][2], "best_params": cell[best][0]}
    if opt is not None:
        xv, lv, coef = opt
        lt = np.polyfit(x, np.log10([c[1] for c in cell]), 1) if len(x) >= 2 else None
        out.update(n_opt=float(10 ** xv), l_opt=float(lv), coef=[float(v) for v in coef],
                   d_opt=float(10 ** np.polyval(lt, xv)) if lt is not None else None,
                   inside=bool(x.min() <= xv <= x.max()))
    return out


def power_law(budgets, values):
    """log10(value) = exp * log10(C) + k over the budgets with a value; None with fewer than 2."""
    pts = [(b, v) for b, v in zip(budgets, values) if v is not None and v > 0]
    if len(pts) < 2:
        return None
    fit = stats.linregress(np.log10([p[0] for p in pts]), np.log10([p[1] for p in pts]))
    return float(fit.slope), float(fit.intercept)


def interval(samples):
    s = np.array([v for v in samples if v is not None and np.isfinite(v)])
    if len(s) < 10:
        return None
    return [float(np.percentile(s, 2.5)), float(np.percentile(s, 97.5))]


def fit_all(grid, n_boot, seed=0):
    rng = np.random.default_rng(seed)

    def means_of(cell, resample):
        if not resample:
            return [float(np.mean(c[3])) for c in cell]
        return [float(np.mean(rng.choice(c[3], size=len(c[3]), replace=True))) for c in cell]

    def one_pass(resample):
        fits = {k: cell_fit(cell, means_of(cell, resample)) for k, cell in grid.cells.items()}
        laws = {}
        for v in grid.variants:
            bs = [b for b in grid.budgets if (v, b) in fits]
            laws[v] = {q: power_law(bs, [fits[(v, b)].get(q) if fits[(v, b)].get("inside") else None for b in bs])
                       for q in ("n_opt", "d_opt", "l_opt")}
        return fits, laws

    fits, laws = one_pass(False)
    boots = [one_pass(True) for _ in range(n_boot)]
    # a cell whose points all have one seed has no seed interval (resampling one value shows no noise)
    multi = {k: all(len(c[3]) >= 2 for c in cell) for k, cell in grid.cells.items()}
    boots_ok = all(multi.values())
    # intervals of the per-cell numbers and of the exponents
    for k, f in fits.items():
        for q in ("n_opt", "l_opt", "d_opt", "best_loss"):
            f[q + "_ci"] = interval([b[0][k].get(q) for b in boots]) if multi[k] else None
    for v, law in laws.items():
        for q in list(law):
            if law[q] is not None:
                law[q] = {"exponent": law[q][0], "log10_k": law[q][1],
                          "exponent_ci": interval([b[1][v][q][0] if b[1][v][q] else None for b in boots])
                          if boots_ok else None}
    # comparisons: best observed loss per budget (the isoFLOP frontier), A - B, bootstrapped over seeds
    comps = []
    vanillas = [v for v in grid.variants if grid.kind[v] == "vanilla"]
    recursives = [v for v in grid.variants if grid.kind[v] == "recursive"]
    pairs = [(v, base) for base in vanillas for v in grid.variants if v != base]
    pairs += [(v, base) for base in recursives for v in grid.variants if grid.kind[v].startswith("mor")]
    for b in grid.budgets:
        for a, base in pairs:
            if (a, b) not in fits or (base, b) not in fits:
                continue
            d = fits[(a, b)]["best_loss"] - fits[(base, b)]["best_loss"]
            ci = interval([bt[0][(a, b)]["best_loss"] - bt[0][(base, b)]["best_loss"] for bt in boots])
            verdict = "within seed noise"
            if not (multi[(a, b)] and multi[(base, b)]):
                ci, verdict = None, "one seed: noise unknown"
            elif ci and ci[1] < 0:
                verdict = "lower (beyond seed noise)"
            elif ci and ci[0] > 0:
                verdict = "higher (beyond seed noise)"
            comps.append({"budget": b, "variant": a, "baseline": base, "delta": float(d), "delta_ci": ci,
                          "verdict": verdict})
    # seed spread: the range of a point's seeds, over all points with >= 2 seeds
    spreads = [float(np.ptp(c[3])) for cell in grid.cells.values() for c in cell if len(c[3]) >= 2]
    noise = {"points": len(spreads), "median_range": float(np.median(spreads)) if spreads else None,
             "max_range": float(np.max(spreads)) if spreads else None}
    return fits, laws, comps, noise


# ---------------------------------------------------------------- plots
def colours(variants):
    cmap = plt.get_cmap("tab10")
    return {v: cmap(i % 10) for i, v in enumerate(variants)}


def save(fig, out, stem):
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out, f"{stem}.{ext}"), dpi=DPI)
    plt.close(fig)
    return [f"{stem}.png", f"{stem}.svg"]


def plot_isoflop(grid, fits, out, xlabel):
    nb = len(grid.budgets)
    fig, axes = plt.subplots(1, nb, figsize=(PANEL_W * nb, PANEL_H), squeeze=False)
    col = colours(grid.variants)
    for ax, b in zip(axes[0], grid.budgets):
        for v in grid.variants:
            cell = grid.cells.get((v, b))
            if not cell:
                continue
            xs = np.array([c[0] for c in cell])
            for c in cell:
                ax.scatter([c[0]] * len(c[3]), c[3], s=10, color=col[v], alpha=0.45)
            ax.plot(xs, [np.mean(c[3]) for c in cell], "o", color=col[v], label=v)
            f = fits[(v, b)]
            if "coef" in f:
                xx = np.linspace(np.log10(xs.min()) - 0.1, np.log10(xs.max()) + 0.1, 100)
                ax.plot(10 ** xx, np.polyval(f["coef"], xx), "-", color=col[v], lw=1)
                if f["inside"]:
                    ax.plot([f["n_opt"]], [f["l_opt"]], "*", color=col[v], ms=11, mec="k", mew=0.5)
        ax.set_xscale("log")
        ax.set_title(f"{b:.3g} FLOPs")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation loss")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out, "isoflop")


def plot_frontier(grid, fits, out):
    fig, ax = plt.subplots(figsize=(FRONTIER_W, FRONTIER_H))
    col = colours(grid.variants)
    for v in grid.variants:
        bs = [b for b in grid.budgets if (v, b) in fits]
        ys = np.array([fits[(v, b)]["best_loss"] for b in bs])
        err = np.array([[y - (fits[(v, b)]["best_loss_ci"] or [y, y])[0], (fits[(v, b)]["best_loss_ci"] or [y, y])[1] - y]
                        for y, b in zip(ys, bs)]).T
        ax.errorbar(bs, ys, yerr=np.maximum(err, 0), fmt="o-", color=col[v], capsize=3, label=v)
    ax.set_xscale("log")
    ax.set_xlabel("training budget (forward FLOPs, MOR.md 6)")
    ax.set_ylabel("best validation loss over sizes (95% seed interval)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out, "frontier")


def plot_routing(rows, out):
    fin = [r for r in rows if r.get("state") == "finished" and "depth_fractions" in r]
    variants = list(dict.fromkeys(r["variant"] for r in fin))
    if not variants:
        return []
    budget = max(r["budget"] for r in fin)
    fig, axes = plt.subplots(1, len(variants), figsize=(PANEL_W * len(variants), PANEL_H), squeeze=False)
    for ax, v in zip(axes[0], variants):
        rs = [r for r in fin if r["variant"] == v and r["budget"] == budget]
        sizes = list(dict.fromkeys(r["size"] for r in sorted(rs, key=lambda r: r["non_embedding_params"])))
        n_r = len(rs[0]["depth_fractions"]) if rs else 1
        width = 0.8 / max(1, len(sizes))
        for i, s in enumerate(sizes):
            fr = np.mean([r["depth_fractions"] for r in rs if r["size"] == s], axis=0)
            ax.bar(np.arange(1, n_r + 1) + (i - (len(sizes) - 1) / 2) * width, fr, width, label=s)
        ax.set_xticks(range(1, n_r + 1))
        ax.set_xlabel("final recursion depth")
        ax.set_title(f"{v} at {budget:.3g} FLOPs")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("share of tokens (last 10% of steps)")
    fig.tight_layout()
    return save(fig, out, "routing")


# ---------------------------------------------------------------- report
def si(v, unit=""):
    if v is None:
        return "-"
    for p, s in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= p:
            return f"{v / p:.3g}{s}{unit}"
    return f"{v:.3g}{unit}"


def ci_text(ci, fmt):
    return f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else ""


def write_report(out, name, rows, grid, fits, laws, comps, noise, pictures, param_label, n_boot):
    L = []
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("finished", "failed", "started", "pending")}
    L.append(f"# Sweep report: {name}\n")
    L.append(f"{len(rows)} points: {counts['finished']} finished, {counts['failed']} failed, "
             f"{counts['started']} started, {counts['pending']} pending. Fits use the finished points; intervals are "
             f"95% bootstrap intervals over seeds ({n_boot} resamples). Parameters: {param_label}.\n")
    for p in pictures:
        if p.endswith(".png"):
            L.append(f"![{p[:-4]}]({p})\n")
    L.append("## isoFLOP optima (parabola in log10 parameters)\n")
    L.append("| variant | budget | best observed (size, loss) | N_opt | L_opt | D_opt (tokens) | note |")
    L.append("|---|---|---|---|---|---|---|")
    for (v, b), f in sorted(fits.items(), key=lambda kv: (grid.variants.index(kv[0][0]), kv[0][1])):
        note = "" if "coef" not in f else ("" if f["inside"] else "vertex outside the sizes (extrapolated)")
        if "coef" not in f:
            note = "no parabola minimum (needs >= 3 sizes and upward curvature)"
        L.append(f"| {v} | {b:.3g} | {f['best_size']}, {f['best_loss']:.4f}{ci_text(f.get('best_loss_ci'), lambda x: f'{x:.4f}')} | "
                 f"{si(f.get('n_opt'))}{ci_text(f.get('n_opt_ci'), si)} | "
                 f"{f['l_opt']:.4f}{ci_text(f.get('l_opt_ci'), lambda x: f'{x:.4f}')} | {si(f.get('d_opt'))} | {note} |"
                 if "coef" in f else
                 f"| {v} | {b:.3g} | {f['best_size']}, {f['best_loss']:.4f}{ci_text(f.get('best_loss_ci'), lambda x: f'{x:.4f}')} | - | - | - | {note} |")
    L.append("\n## Power laws across budgets (value = k C^exponent, vertices inside the sizes only)\n")
    L.append("| variant | N_opt exponent | D_opt exponent | L_opt exponent |")
    L.append("|---|---|---|---|")
    for v in grid.variants:
        cells = []
        for q in ("n_opt", "d_opt", "l_opt"):
            law = laws[v][q]
            cells.append("-" if law is None else f"{law['exponent']:.3f}{ci_text(law['exponent_ci'], lambda x: f'{x:.3f}')}")
        L.append(f"| {v} | " + " | ".join(cells) + " |")
    L.append("\n## Comparisons (best observed loss per budget, variant minus baseline)\n")
    if noise["points"]:
        L.append(f"Seed noise: over {noise['points']} points with several seeds, the range between seeds has median "
                 f"{noise['median_range']:.4f} and maximum {noise['max_range']:.4f}.\n")
    L.append("| budget | variant | baseline | difference | 95% interval | verdict |")
    L.append("|---|---|---|---|---|---|")
    for c in comps:
        L.append(f"| {c['budget']:.3g} | {c['variant']} | {c['baseline']} | {c['delta']:+.4f} | "
                 f"{ci_text(c['delta_ci'], lambda x: f'{x:+.4f}').strip() or '-'} | {c['verdict']} |")
    L.append("\n## Every point\n")
    L.append("| point | variant | size | params | non-emb. | budget | tokens | seed | val loss | mean depth | wall | state |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        state = r["state"] + (f" (exit {r.get('exit_code')}: {r.get('error', '')})" if r["state"] == "failed" else "")
        L.append(f"| {r['id']} | {r['variant']} | {r['size']} | {si(r['unique_params'])} | {si(r['non_embedding_params'])} | "
                 f"{r['budget']:.3g} | {si(r['tokens'])} | {r['seed']} | "
                 f"{r['val_loss']:.4f} | " if "val_loss" in r else
                 f"| {r['id']} | {r['variant']} | {r['size']} | {si(r['unique_params'])} | {si(r['non_embedding_params'])} | "
                 f"{r['budget']:.3g} | {si(r['tokens'])} | {r['seed']} | - | ")
        L[-1] += (f"{r['mean_depth']:.2f} | " if "mean_depth" in r else "- | ") + \
            (f"{r['wall_s']:.0f} s | " if "wall_s" in r else "- | ") + state.replace("|", "/") + " |"
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", help="sweep directory (mor sweep plan --out)")
    ap.add_argument("--results", help="fit this results.json instead of collecting a sweep directory")
    ap.add_argument("--out", help="output directory (default: the sweep directory)")
    ap.add_argument("--params", choices=("non_embedding", "unique"), default="non_embedding")
    ap.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples over seeds")
    a = ap.parse_args()
    if bool(a.dir) == bool(a.results):
        fail("pass a sweep directory or --results FILE (not both). Hint: mor sweep report DIR")
    if a.results:
        if not a.out:
            fail("--results needs --out DIR")
        rows = json.load(open(a.results))
        name = os.path.splitext(os.path.basename(a.results))[0]
    else:
        name, rows = collect(a.dir)
    out = a.out or a.dir
    os.makedirs(out, exist_ok=True)
    write_results(out, rows)
    key = "non_embedding_params" if a.params == "non_embedding" else "unique_params"
    label = "unique non-embedding parameters" if a.params == "non_embedding" else "unique parameters (embedding included)"
    grid = Grid(rows, key)
    if not grid.cells:
        fail(f"{out}: no finished point to fit yet (results.csv lists the states). Hint: mor sweep run {a.dir or ''}")
    fits, laws, comps, noise = fit_all(grid, a.bootstrap)
    pictures = plot_isoflop(grid, fits, out, label) + plot_frontier(grid, fits, out) + plot_routing(rows, out)
    json.dump({"params": a.params, "isoflop": [dict(variant=v, budget=b, **f) for (v, b), f in fits.items()],
               "power_laws": laws, "comparisons": comps, "seed_noise": noise, "pictures": pictures},
              open(os.path.join(out, "fits.json"), "w"), indent=1)
    write_report(out, name, rows, grid, fits, laws, comps, noise, pictures, label, a.bootstrap)
    done = sum(1 for r in rows if r["state"] == "finished")
    print(f"report: {done}/{len(rows)} points finished; wrote results.csv, results.json, fits.json, report.md, "
          f"{', '.join(pictures)} in {out}")


if __name__ == "__main__":
    main()
