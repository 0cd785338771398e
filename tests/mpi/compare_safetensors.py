"""Largest absolute difference between the f32 tensors of two safetensors files (same names and
shapes required). Pure Python (struct + array): CI has no numpy.
usage: compare_safetensors.py A.safetensors B.safetensors  -> prints "max_abs_diff NAME"
"""
import array
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (name, meta["dtype"])
        a, b = meta["data_offsets"]
        vals = array.array("f")
        vals.frombytes(data[a:b])
        out[name] = (meta["shape"], vals)
    return out


def main():
    x, y = load(sys.argv[1]), load(sys.argv[2])
    if sorted(x) != sorted(y):
        sys.exit("tensor names differ: %s" % sorted(set(x) ^ set(y)))
    worst, where = 0.0, ""
    for name in x:
        (sa, va), (sb, vb) = x[name], y[name]
        if sa != sb:
            sys.exit("%s: shape %s vs %s" % (name, sa, sb))
        d = max((abs(p - q) for p, q in zip(va, vb)), default=0.0)
        if d > worst or not where:
            worst, where = d, name
    print("%.3e %s" % (worst, where))


main()
