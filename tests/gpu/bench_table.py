#!/usr/bin/env python3
"""bench/gpu_score.sh's table: pic beside transformers and beside the bf16
matrix rate measured in the same run (standard library only).

    bench_table.py [--train] RESULTS CONFIG_DIR [ROWS]

RESULTS holds one line per measurement, 'IMPL<TAB>CONFIG<TAB>PAYLOAD': IMPL is
pic (cuBLASLt, the programs' --fast), pic-exact (the fixed-order products
the programs use by default: reported, INFO, with its ratio to pic),
transformers or matmul; PAYLOAD the program's JSON line, or anything else
(the error that stopped it). Prints a Markdown table; ROWS, when given,
receives run.sh's summary rows (check, result, number, goal). The goals are
issue 10's, on 1.5B and 7B: pic >= 1.5 x transformers' tokens/s and pic's
model-FLOP rate >= 50% of the measured matrix rate: MET or MISS (INFO on
0.5B); FAIL where pic gave no number or one above 110% of the matrix rate
(an 8192^3 product is as fast as bf16 products get: more means a wrong timing
or skipped work), NONE where a reference is missing.
Both rates use the same
FLOP count (flops.py: matrix products plus causal attention), so pic's own
model_flops is only cross-checked.

--train: bench/gpu_train.sh's training steps (3 x the forward's FLOPs) and
issue 11's goals: on 0.5B >= 2 x transformers and >= 50% of the matrix rate,
on 1.5B >= 45% (transformers' number where it has one)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flops  # noqa: E402

GOAL_SPEEDUP, GOAL_FRACTION = 1.5, 0.5
IMPLAUSIBLE = 1.1  # of the measured matrix rate
GOAL_CONFIGS = ("qwen2.5-1.5b.json", "qwen2.5-7b.json")


def read(path):
    got = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) < 3:
                continue
            impl, config, payload = parts
            try:
                r = json.loads(payload)
                if not isinstance(r, dict):
                    raise ValueError
            except ValueError:
                r = {"error": payload.strip()[:160] or "no output"}
            got[(impl, config)] = r
    return got


def gib(b):
    return f"{b / 2 ** 30:.1f}" if isinstance(b, (int, float)) else "-"


# (speedup over transformers, fraction of the matrix rate) by config
SCORE_GOALS = {c: (GOAL_SPEEDUP, GOAL_FRACTION) for c in GOAL_CONFIGS}
TRAIN_GOALS = {"qwen2.5-0.5b.json": (2.0, 0.5), "qwen2.5-1.5b.json": (None, 0.45)}


def main(argv):
    train = len(argv) > 1 and argv[1] == "--train"
    if train:
        argv = argv[:1] + argv[2:]
    goals, factor, kind = (TRAIN_GOALS, 3, "train ") if train else (SCORE_GOALS, 1, "")
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    got = read(argv[1])
    rows = []
    mm = got.get(("matmul", "-"), {})
    rate = mm.get("tflops")
    print(f"bf16 matrix rate (torch.matmul {mm.get('n', '?')}^3): "
          + (f"{rate:.0f} TFLOP/s; device copy {mm.get('copy_tbps', 0):.2f} TB/s" if rate
             else f"not measured ({mm.get('error', 'no result')})"))
    rows.append(("bench matmul bf16", "INFO" if rate else "NONE",
                 f"{rate:.0f} TFLOP/s" if rate else mm.get("error", "no result"), "measured"))
    print()
    print("| config | pic tokens/s | transformers tokens/s | pic / transformers | pic % of matmul "
          "| transformers % of matmul | pic peak GiB | transformers peak GiB | pic exact tokens/s "
          "| exact / fast |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    configs = list(dict.fromkeys(c for (impl, c) in got if impl != "matmul"))  # in the order measured
    for config in configs:
        with open(os.path.join(argv[2], config)) as f:
            cfg = json.load(f)
        pic, tf = got.get(("pic", config), {"error": "not run"}), got.get(("transformers", config), {"error": "not run"})
        seq = pic.get("seq") or tf.get("seq") or 2048
        per_token = factor * sum(flops.flops_per_token(cfg, seq))
        exact = got.get(("pic-exact", config), {"error": "not run"})
        p, t, e = pic.get("tokens_per_s"), tf.get("tokens_per_s"), exact.get("tokens_per_s")
        ratio = p / t if p and t else None
        frac_p = p * per_token / (rate * 1e12) if p and rate else None
        frac_t = t * per_token / (rate * 1e12) if t and rate else None
        print(f"| {config} | {p and f'{p:,.0f}' or pic.get('error', '-')} | {t and f'{t:,.0f}' or tf.get('error', '-')} "
              f"| {ratio and f'{ratio:.2f}' or '-'} | {frac_p and f'{100 * frac_p:.0f}%' or '-'} "
              f"| {frac_t and f'{100 * frac_t:.0f}%' or '-'} | {gib(pic.get('peak_bytes'))} | {gib(tf.get('peak_bytes'))} "
              f"| {e and f'{e:,.0f}' or exact.get('error', '-')} | {e and p and f'{e / p:.2f}' or '-'} |")
        if p and pic.get("model_flops") and pic.get("tokens"):
            mine = per_token * pic["tokens"]
            if abs(pic["model_flops"] / mine - 1) > 0.01:
                print(f"  note: pic-model-bench counts {pic['model_flops']:.4g} FLOPs per pass, flops.py {mine:.4g}")
        speedup, fraction = goals.get(config, (None, None))
        goal = config in goals
        if not p:
            result, number = "FAIL", "pic: " + pic.get("error", "no result")
        elif not rate or (not t and speedup):
            result, number = "NONE", "no " + ("transformers number: " + tf.get("error", "") if not t else "matrix rate")
        else:
            met = (not speedup or ratio >= speedup) and frac_p >= fraction if goal else False
            result = ("MET" if met else "MISS") if goal else "INFO"
            number = (f"{p:,.0f} tok/s = {f'{ratio:.2f}x' if ratio else 'no'} transformers, "
                      f"{100 * frac_p:.0f}% of matmul, peak {gib(pic.get('peak_bytes'))} GiB")
            if frac_p > IMPLAUSIBLE:  # the model's products cannot outrun one large product by much
                result, number = "FAIL", number + ": faster than the matrix rate, so the timing or the work is wrong"
        rows.append((f"bench {kind}{config.replace('.json', '')}", result, number,
                     (f">= {speedup}x, " if speedup else "") + f">= {100 * fraction:.0f}%" if goal else "(no goal)"))
        if ("pic-exact", config) in got:
            number = (f"{e:,.0f} tok/s = {f'{e / p:.2f}x' if p else 'no'} cuBLASLt's"
                      + (f", {100 * e * per_token / (rate * 1e12):.0f}% of matmul" if rate else "")
                      if e else "pic --exact: " + exact.get("error", "no result"))
            result = "INFO" if e else "FAIL"
            if e and rate and e * per_token / (rate * 1e12) > IMPLAUSIBLE:
                result, number = "FAIL", number + ": faster than the matrix rate"
            rows.append((f"bench {kind}exact {config.replace('.json', '')}", result, number, "reported (docs/gpu.md)"))
    if len(argv) > 3:
        with open(argv[3], "a") as f:
            for r in rows:
                f.write("\t".join(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
