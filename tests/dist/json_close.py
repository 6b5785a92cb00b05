#!/usr/bin/env python3
"""json_close.py A B TOL [KEY]...: two JSON values (files) agree: integers,
strings and booleans exactly, real numbers within TOL of the larger
magnitude (|a - b| <= TOL * max(|a|, |b|)), arrays and objects member by
member, the KEYs (at any depth) left out of both. Prints the first
disagreement and exits 1."""
import json, sys


def close(a, b, tol, skip, where):
    if isinstance(a, dict) and isinstance(b, dict):
        ka, kb = set(a) - skip, set(b) - skip
        if ka != kb:
            return f"{where}: keys differ: {sorted(ka ^ kb)}"
        for k in sorted(ka):
            e = close(a[k], b[k], tol, skip, f"{where}.{k}")
            if e:
                return e
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} against {len(b)} elements"
        for i, (x, y) in enumerate(zip(a, b)):
            e = close(x, y, tol, skip, f"{where}[{i}]")
            if e:
                return e
        return None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if abs(a - b) <= tol * max(abs(a), abs(b)):
                return None
        return f"{where}: {a!r} against {b!r} (tolerance {tol:g} relative)"
    return None if a == b and type(a) is type(b) else f"{where}: {a!r} against {b!r}"


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: json_close.py A B TOL [KEY]...")
    with open(sys.argv[1]) as f:
        a = json.load(f)
    with open(sys.argv[2]) as f:
        b = json.load(f)
    e = close(a, b, float(sys.argv[3]), set(sys.argv[4:]), "$")
    if e:
        print(e)
        sys.exit(1)


main()
