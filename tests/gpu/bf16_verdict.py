#!/usr/bin/env python3
"""pic's bf16 error against golden beside PyTorch's own bf16 error on the same
inputs (standard library only).

    bf16_verdict.py TORCH_ERRORS [--score PIC_ERRORS] [--test-model LOG] [--grads LOG] [--rows FILE]

TORCH_ERRORS and PIC_ERRORS hold golden.py's error lines (label, model,
quantity, max |error|, rms error, n): torch_bf16.py's, and golden.py errors
on pic-rollout --score --dtype bf16 output. LOG is test_model's output under
PIC_TEST_DTYPE=bf16, whose lines '# bf16 MODEL QUANTITY max_abs_err X' are
read; with --grads, TORCH_ERRORS is torch_grads.py's and LOG test_backward's
under PIC_TEST_DTYPE=bf16, whose lines '# bf16 MODEL grad.LOSS rel_err X'
are read.

The rules (docs/gpu-checks.md says why):
- pic-rollout's scores: pic's rms error <= 1.5 x PyTorch's, per model and
  quantity (86 positions each);
- test_model's lines: pic's max |error| <= 2 x PyTorch's max over the same
  model and quantity;
- test_backward's gradients: pic's worst per-tensor relative error <= 2 x
  PyTorch autocast's (bf16 products, fp32 master weights) per model and
  loss, both against the same fp32 golden gradients.
An implementation whose errors are distributed as PyTorch's passes both with
probability above 99.9% per comparison; a real defect (bf16 accumulation,
bf16 softmax or norm statistics) multiplies the error.

Prints one detail line per comparison (tab-separated: check, model, quantity,
pic, PyTorch, ratio, limit, result) and appends run.sh's summary rows (check,
result, number, goal) to FILE, one per model and source."""
import argparse
import math
import re
import sys

RMS_FACTOR, MAX_FACTOR = 1.5, 2.0
LINE = re.compile(r"^#\s*bf16\s+(\S+)\s+(\S+)\s+max_abs_err\s+(\S+)")
GRAD_LINE = re.compile(r"^#\s*bf16\s+(\S+)\s+(grad\.\S+)\s+rel_err\s+(\S+)")


def canonical(quantity):
    """logprob_t1, logprobs.t1.0 and logprobs.t1 are one name; t0.6 likewise"""
    q = quantity.lower().replace("_", ".")
    q = re.sub(r"^logprob\b", "logprobs", q)
    q = re.sub(r"^entropies\b", "entropy", q)
    q = re.sub(r"\.t1\.0+$", ".t1", q)
    q = re.sub(r"\.t0\.60+$", ".t0.6", q)
    return q


def failures(path):
    """the '# failed: WHY' lines run.sh adds where the reference did not run"""
    with open(path) as f:
        return [line[len("# failed:"):].strip() for line in f if line.startswith("# failed:")]


def read_errors(path):
    """{(model, quantity): (max, rms, n)}"""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 6 or line.startswith("#"):
                continue
            try:
                out[(p[1], canonical(p[2]))] = (float(p[3]), float(p[4]), int(p[5]))
            except ValueError:
                continue
    return out


def read_test_model(path, line_re=LINE):
    """{(model, quantity): max} from test_model's '# bf16' lines (test_backward's
    with GRAD_LINE)"""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = line_re.match(line.strip())
            if m:
                try:
                    out[(m.group(1), canonical(m.group(2)))] = float(m.group(3))
                except ValueError:
                    out[(m.group(1), canonical(m.group(2)))] = math.inf
    return out


def judge(pic, ref, factor):
    """(ratio, passed): NaN or inf never passes; a zero reference admits only zero"""
    if not math.isfinite(pic):
        return math.inf, False
    if ref <= 0:
        return (0.0 if pic == 0 else math.inf), pic == 0
    return pic / ref, pic <= factor * ref


def compare(check, pics, torch, factor, what):
    """detail lines and {model: [(quantity, ratio, passed)]} for one source"""
    per_model = {}
    for (model, quantity), pic in sorted(pics.items()):
        ref = torch.get((model, quantity))
        if ref is None:
            print(f"{check}\t{model}\t{quantity}\t{pic:.4g}\t-\t-\t-\tFAIL (no PyTorch number)")
            per_model.setdefault(model, []).append((quantity, math.inf, False))
            continue
        r = ref[1] if what == "rms" else ref[0]
        ratio, ok = judge(pic, r, factor)
        print(f"{check}\t{model}\t{quantity}\t{pic:.4g}\t{r:.4g}\t{ratio:.3g}\t<= {factor}\t{'PASS' if ok else 'FAIL'}")
        per_model.setdefault(model, []).append((quantity, ratio, ok))
    return per_model


def rows_for(check, per_model, factor, what):
    rows = []
    for model, results in sorted(per_model.items()):
        worst = max(results, key=lambda r: r[1])
        bad = [q for q, _, ok in results if not ok]
        number = f"worst pic/torch {what} {worst[1]:.2f} ({worst[0]})"
        if bad:
            number += "; over: " + ",".join(bad)
        rows.append((f"{check} {model}", "FAIL" if bad else "PASS", number, f"<= {factor} x PyTorch bf16"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("torch_errors")
    ap.add_argument("--score")
    ap.add_argument("--test-model")
    ap.add_argument("--grads")
    ap.add_argument("--rows")
    a = ap.parse_args()
    torch = read_errors(a.torch_errors)
    rows = []
    failed = failures(a.torch_errors)
    if failed or not torch:
        rows.append(("bf16 PyTorch reference", "FAIL", "; ".join(failed) or "no error lines from the PyTorch script",
                     "errors for every model"))
    print("check\tmodel\tquantity\tpic\tPyTorch\tratio\tlimit\tresult")
    if a.score:
        pics = {k: v[1] for k, v in read_errors(a.score).items()}
        rows += rows_for("bf16 score", compare("bf16 score rms", pics, torch, RMS_FACTOR, "rms"), RMS_FACTOR, "rms")
    if a.test_model:
        pics = read_test_model(a.test_model)
        if not pics:
            rows.append(("bf16 test_model lines", "FAIL", "no '# bf16 MODEL QUANTITY max_abs_err X' lines",
                         "one per model and quantity"))
        rows += rows_for("bf16 test_model", compare("bf16 test_model max", pics, torch, MAX_FACTOR, "max"),
                         MAX_FACTOR, "max")
    if a.grads:
        pics = read_test_model(a.grads, GRAD_LINE)
        if not pics:
            rows.append(("bf16 gradient lines", "FAIL", "no '# bf16 MODEL grad.LOSS rel_err X' lines",
                         "one per model and loss"))
        rows += rows_for("bf16 grads", compare("bf16 grads worst tensor", pics, torch, MAX_FACTOR, "max"),
                         MAX_FACTOR, "max")
    if a.rows:
        with open(a.rows, "a") as f:
            for r in rows:
                f.write("\t".join(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
