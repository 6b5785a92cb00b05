#!/usr/bin/env python3
"""st_close.py A B REL [ABS]: every F32 tensor of safetensors files A and B
(the same names and shapes) agrees entry by entry: |a - b| <= REL * max|a|
+ ABS, max|a| the largest magnitude of that tensor in A. Prints the worst
|a - b| / max|a| seen, and exits 1 naming the first tensor beyond the bound.
Standard library only (the test machines have no numpy)."""
import json, struct, sys
from array import array


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit(f"{path}: tensor '{name}' is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        x = array("f")
        x.frombytes(data[a:b])
        if sys.byteorder != "little":
            x.byteswap()
        out[name] = (t["shape"], x)
    return out


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: st_close.py A B REL [ABS]")
    A, B, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    abs_tol = float(sys.argv[4]) if len(sys.argv) == 5 else 0.0
    if sorted(A) != sorted(B):
        sys.exit(f"tensor names differ: {sorted(set(A) ^ set(B))}")
    worst = 0.0
    for name in sorted(A):
        (sa, a), (sb, b) = A[name], B[name]
        if sa != sb:
            sys.exit(f"{name}: shape {sa} against {sb}")
        # a NaN compares false with everything, so max() would pass it by
        for side, x in (("A", a), ("B", b)):
            if any(v != v for v in x):
                print(f"{name}: NaN in {side}")
                sys.exit(1)
        scale = max((abs(v) for v in a), default=0.0)
        diff = max((abs(u - v) for u, v in zip(a, b)), default=0.0)
        r = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        worst = max(worst, r)
        if diff > tol * scale + abs_tol:
            print(f"{name}: max |a - b| = {diff:g} > {tol:g} * max |a| ({scale:g}) + {abs_tol:g}")
            sys.exit(1)
    print(f"worst |a - b| / max |a|: {worst:g}")


main()
