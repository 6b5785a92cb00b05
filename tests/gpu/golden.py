#!/usr/bin/env python3
"""The golden fixtures (tests/fixtures/models/<model>/golden.*, written by
transformers in fp32) as score records for pic-rollout --score, and the errors
of a scored output against them. Standard library only, so it runs anywhere.

    golden.py records MODEL_DIR                write score records (stdout)
    golden.py errors MODEL_DIR SCORED [LABEL]  error lines of a scored output
    golden.py fp32 MODEL_DIR SCORED            check against float32's bound

Each golden sequence becomes one record per temperature (1 and 0.6) with its
first token as the prompt and the rest as the response, so every position is
scored: logprobs[j] is golden logprobs.t<T>.<i>[j] (the log-prob of token j+1)
and entropy[j] is golden entropy.t<T>.<i>[j] (the distribution at position j).

An error line is tab-separated: LABEL model quantity max_abs rms n, with
quantity logprobs.t1, logprobs.t0.6, entropy.t1 or entropy.t0.6 (the stems of
golden.safetensors' keys)."""
import json
import math
import os
import struct
import sys

TEMPS = ((1.0, "t1"), (0.6, "t0.6"))


def read_safetensors(path, want=None):
    """{name: (shape, [floats])} of the F32 tensors of a safetensors file
    (those whose name passes want, when given)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, t in header.items():
            if name == "__metadata__" or (want and not want(name)):
                continue
            if t["dtype"] != "F32":
                raise ValueError(f"{path}: {name}: dtype {t['dtype']}, expected F32")
            start, end = t["data_offsets"]
            f.seek(base + start)
            raw = f.read(end - start)
            out[name] = (t["shape"], list(struct.unpack(f"<{len(raw) // 4}f", raw)))
        return out


def golden(model_dir):
    """(ids of each sequence, {tensor name: (shape, values)}) of a fixture model"""
    with open(os.path.join(model_dir, "golden.json")) as f:
        ids = json.load(f)["ids"]
    tensors = read_safetensors(os.path.join(model_dir, "golden.safetensors"),
                               lambda k: k.split(".")[0] in ("logits", "logprobs", "entropy"))
    return ids, tensors


def records(model_dir):
    ids, _ = golden(model_dir)
    for i, seq in enumerate(ids):
        for T, tag in TEMPS:
            yield {"id": f"{i}.{tag}", "prompt_ids": seq[:1], "response_ids": seq[1:], "temperature": T}


def expected(model_dir):
    """{record id: (golden log-probs, golden entropies)} for the records above"""
    ids, g = golden(model_dir)
    out = {}
    for i, seq in enumerate(ids):
        for _, tag in TEMPS:
            lp = g[f"logprobs.{tag}.{i}"][1]
            ent = g[f"entropy.{tag}.{i}"][1][: len(seq) - 1]
            out[f"{i}.{tag}"] = (lp, ent)
    return out


def read_jsonl(path):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not JSON: {e}")


def pairs(model_dir, scored):
    """{quantity: [(got, want)]} over every scored position; raises on a missing
    or short record"""
    want = expected(model_dir)
    seen = {}
    for r in read_jsonl(scored):
        seen[str(r.get("id"))] = r
    out = {}
    for rid, (lp, ent) in want.items():
        if rid not in seen:
            raise SystemExit(f"{scored}: no record with id {rid}")
        r = seen[rid]
        tag = rid.split(".", 1)[1]
        for field, ref, quantity in (("logprobs", lp, "logprobs." + tag), ("entropy", ent, "entropy." + tag)):
            got = r.get(field)
            if not isinstance(got, list) or len(got) != len(ref):
                raise SystemExit(f"{scored}: record {rid}: field '{field}' has "
                                 f"{len(got) if isinstance(got, list) else 'no'} values, expected {len(ref)}")
            out.setdefault(quantity, []).extend(zip(got, ref))
    return out


def stats(pairs_):
    """(max |error|, rms error, n); NaN never passes: a non-finite value makes both infinite"""
    worst, sq = 0.0, 0.0
    for got, want in pairs_:
        if got is None or not math.isfinite(got):
            return math.inf, math.inf, len(pairs_)
        d = abs(got - want)
        worst, sq = max(worst, d), sq + d * d
    return worst, math.sqrt(sq / max(1, len(pairs_))), len(pairs_)


RHO = 1.5e-6  # relative float32 rounding of these models' logits (docs/model.md)


def tolerances(z, T, target):
    """(log-prob bound, entropy bound) at one position with golden logits z:
    what float32 rounding of the logits (RHO relative, in golden's forward
    and in ours) can move log p(target) and the entropy at temperature T,
    1e-5 below that. With u = z / T, d log p_k = du_k - E_p du and
    dH = -Cov_p(u, du), so |d log p_k| <= 2 RHO / T (|z_k| + E_p |z|) and
    |dH| <= 2 RHO / T E_p[|u - E_p u| |z|] (the second is
    tests/unit/test_model.c's entropy_tol)."""
    u = [x / T for x in z]
    top = max(u)
    e = [math.exp(x - top) for x in u]
    total = sum(e)
    p = [x / total for x in e]
    mean = sum(pj * uj for pj, uj in zip(p, u))
    spread = sum(pj * abs(uj - mean) * abs(zj) for pj, uj, zj in zip(p, u, z))
    mean_abs = sum(pj * abs(zj) for pj, zj in zip(p, z))
    lp = max(1e-5, 2 * RHO / T * (abs(z[target]) + mean_abs)) if target is not None else None
    return lp, max(1e-5, 2 * RHO / T * spread)


def fp32_check(model_dir, scored):
    """Every log-prob and entropy within the bound float32 rounding of the
    logits gives at its position (tolerances()). Prints one line; 0 when
    every value holds."""
    ids, g = golden(model_dir)
    want = expected(model_dir)
    pairs(model_dir, scored)  # every record there and whole
    seen = {str(r.get("id")): r for r in read_jsonl(scored)}
    bad, n, worst = 0, 0, {}
    for i, seq in enumerate(ids):
        shape, logits = g[f"logits.{i}"]
        V = shape[1]
        for T, tag in TEMPS:
            r, (lp, ent) = seen[f"{i}.{tag}"], want[f"{i}.{tag}"]
            for t in range(len(seq) - 1):
                tol_lp, tol_h = tolerances(logits[t * V:(t + 1) * V], T, seq[t + 1])
                for q, x, ref, tol in (("logprobs." + tag, r["logprobs"][t], lp[t], tol_lp),
                                       ("entropy." + tag, r["entropy"][t], ent[t], tol_h)):
                    n += 1
                    d = abs(x - ref) if x is not None and math.isfinite(x) else math.inf
                    worst[q] = max(worst.get(q, 0.0), d / tol)
                    bad += d > tol
    summary = " ".join(f"{q} {v:.2f}" for q, v in sorted(worst.items()))
    print(f"{n - bad}/{n} within tolerance; worst |err| / bound: {summary}")
    return 1 if bad else 0


def main(argv):
    if len(argv) < 3 or argv[1] not in ("records", "errors", "fp32"):
        sys.stderr.write(__doc__)
        return 2
    what, model_dir = argv[1], argv[2]
    if what == "records":
        for r in records(model_dir):
            print(json.dumps(r))
        return 0
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    if what == "fp32":
        return fp32_check(model_dir, argv[3])
    label = argv[4] if len(argv) > 4 else "pic"
    model = os.path.basename(os.path.normpath(model_dir))
    for quantity, ps in sorted(pairs(model_dir, argv[3]).items()):
        mx, rms, n = stats(ps)
        print(f"{label}\t{model}\t{quantity}\t{mx:.6g}\t{rms:.6g}\t{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
