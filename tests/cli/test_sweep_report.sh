#!/usr/bin/env bash
# `mor sweep report`'s fitting and plotting (launch/sweep_report.py) on synthetic results drawn from
# a known law with seed noise (tests/cli/sweep_synthetic_law.py): the fits must recover the known
# exponents and optima within the tolerances below, the comparisons must tell a real difference
# from noise, the pictures must exist with their documented pixel sizes, and report.md must list
# every point. Tolerances: exponents +-0.02 (seen: within 0.001), N_opt within 10% (the parabola
# in log N sits ~4% low on this law), L_opt within 1% (seen 0.1%).
source "$(dirname "$0")/common.sh"
PY="${MOR_PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY=python3
"$PY" "$SRC_DIR/tests/cli/sweep_synthetic_law.py" "$WORK/results.json"
"$PY" "$SRC_DIR/launch/sweep_report.py" --results "$WORK/results.json" --out "$WORK/rep" --bootstrap 300 >"$WORK/out" ||
  { cat "$WORK/out"; fail "sweep_report.py failed"; }
"$PY" - "$WORK" <<'PY' || fail "fits do not recover the known law"
import json, struct, sys
w = sys.argv[1]
t = json.load(open(f"{w}/truth.json"))
f = json.load(open(f"{w}/rep/fits.json"))
bad = []
law = f["power_laws"]["law"]
for q in ("n_opt", "d_opt", "l_opt"):
    got, want = law[q]["exponent"], t[q + "_exponent"]
    if abs(got - want) > 0.02: bad.append(f"{q} exponent {got:.4f}, expected {want:.4f}")
    lo, hi = law[q]["exponent_ci"]
    if not lo <= got <= hi: bad.append(f"{q} exponent outside its own interval")
for c in f["isoflop"]:
    if c["variant"] != "law": continue
    n, l = t["n_opt"][str(c["budget"])], t["l_opt"][str(c["budget"])]
    if abs(c["n_opt"] / n - 1) > 0.10: bad.append(f"N_opt at {c['budget']}: {c['n_opt']:.4g}, expected {n:.4g}")
    if abs(c["l_opt"] / l - 1) > 0.01: bad.append(f"L_opt at {c['budget']}: {c['l_opt']:.4g}, expected {l:.4g}")
    if not c["inside"]: bad.append(f"vertex at {c['budget']} outside the sizes")
for c in f["comparisons"]:
    want = {"law-worse": "higher (beyond seed noise)", "law-same": "within seed noise"}[c["variant"]]
    if c["verdict"] != want: bad.append(f"{c['variant']} vs law at {c['budget']}: {c['verdict']}, expected {want}")
def png_size(p):
    with open(p, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", p
    return struct.unpack(">II", head[16:24])
for name, size in (("isoflop", (450 * 4, 400)), ("frontier", (600, 450))):
    if png_size(f"{w}/rep/{name}.png") != size: bad.append(f"{name}.png is {png_size(f'{w}/rep/{name}.png')}, expected {size}")
    svg = open(f"{w}/rep/{name}.svg").read()
    if "<svg" not in svg or len(svg) < 5000: bad.append(f"{name}.svg is not a drawing")
report = open(f"{w}/rep/report.md").read()
rows = json.load(open(f"{w}/results.json"))
missing = [r["id"] for r in rows if f"| {r['id']} |" not in report]
if missing: bad.append(f"report.md misses {len(missing)} points, e.g. {missing[0]}")
if "![isoflop](isoflop.png)" not in report: bad.append("report.md does not show isoflop.png")
csv_rows = open(f"{w}/rep/results.csv").read().strip().split("\n")
if len(csv_rows) != len(rows) + 1: bad.append(f"results.csv has {len(csv_rows) - 1} rows, expected {len(rows)}")
print("\n".join(bad) if bad else "fits ok")
sys.exit(1 if bad else 0)
PY
# A directory without a plan is refused with the hint.
expect_exit 2 "$MOR" sweep report "$WORK/nowhere"
grep -q "holds no sweep plan" "$WORK/err" || fail "missing plan not named: $(cat "$WORK/err")"
echo "PASS"
