#!/usr/bin/env python3
"""The table of bench/gpu_generate.sh (standard library only).

    gen_table.py RESULTS CONFIG_DIR PROMPT NEW

RESULTS holds lines "impl<TAB>config<TAB>batch<TAB>JSON or a message"
(pic-nograph: the exact mode without the decode step's CUDA graphs,
measured at batch 1 only, where launches cost most; pic-nopdl: the same
without programmatic dependent launch (PIC_CUDA_PDL=0), batch 1 only;
pic-head: the decode
attention a block per query head, reading a kv head's keys once per head
of its group, at batch 64 and 256; pic-short: the exact mode again with
fewer new tokens, whose difference from pic's run is the steady decode
rate, free of what pic-rollout's seconds also hold (the KV cache's
allocation, graph captures, the prefill); "-" elsewhere); the
"copy" line's copy_tbps (tests/gpu/torch_bench.py matmul) is the bandwidth of
the floor. The floor of a decode step reads every weight that multiplies an
activation once (a tied lm_head once: tests/gpu/flops.py's count) and every
sequence's keys and values once, in bf16; over NEW steps after PROMPT tokens
the mean context is PROMPT + (NEW + 1) / 2 positions. floor tokens/s =
B / ((weights + B x context x kv bytes per position) / bandwidth). The
steady rate's floor is the same over the steps it covers (short to NEW)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flops  # noqa: E402

IMPLS = ("pic", "pic-fast", "pic-nograph", "pic-nopdl", "pic-head", "torch-graph", "transformers")


def main(argv):
    results, cdir, P, N = argv[1], argv[2], int(argv[3]), int(argv[4])
    rate, cell = None, {}
    with open(results) as f:
        for line in f:
            impl, config, batch, rest = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
            try:
                j = json.loads(rest)
            except ValueError:
                j = {"error": rest}
            if impl == "copy":
                rate = j.get("copy_tbps")
            else:
                cell[(impl, config, batch)] = j
    print(f"copy rate {rate} TB/s (the floor's bandwidth)" if rate else "copy rate: not measured (no floor)")
    print("| config | batch | " + " | ".join(IMPLS) + " | floor | pic / floor | graph / floor "
          "| pic steady | steady / floor |")
    print("|---" * (len(IMPLS) + 7) + "|")
    for config, batch in sorted({(c, b) for _, c, b in cell}, key=lambda x: (x[0], int(x[1]) if x[1].isdigit() else 0)):
        if not batch.isdigit():  # a config that failed before any batch (pic-init): its error, not nothing
            for i in IMPLS:
                if (i, config, batch) in cell:
                    print(f"| {config} | - | {i}: {(cell[(i, config, batch)].get('error') or '-')[:80]} |")
            continue
        with open(os.path.join(cdir, config)) as f:
            cfg = json.load(f)
        s = flops.shape(cfg)
        weights = 2 * flops.params(cfg)[0]
        kv_pos = s["L"] * 2 * s["KV"] * s["hd"] * 2
        B = int(batch)
        floor = B / ((weights + B * (P + (N + 1) / 2) * kv_pos) / (rate * 1e12)) if rate else None
        tps = {i: cell.get((i, config, batch), {}).get("tokens_per_s") for i in IMPLS}
        shown = [f"{tps[i]:,.0f}" if tps[i] else (cell.get((i, config, batch), {}).get("error") or "-")[:40]
                 for i in IMPLS]
        ratio = lambda x: f"{x / floor:.2f}" if x and floor else "-"  # noqa: E731
        # the steady rate: the tokens and seconds pic's run has beyond pic-short's
        full, short = cell.get(("pic", config, batch), {}), cell.get(("pic-short", config, batch), {})
        steady, steady_cell, steady_ratio = None, "-", "-"
        if all(k in j for j in (full, short) for k in ("tokens", "seconds")):
            dt, dn = full["seconds"] - short["seconds"], full["tokens"] - short["tokens"]
            steady = dn / dt if dt > 0 and dn > 0 else None
            steady_cell = f"{steady:,.0f}" if steady else "-"
            S = short["tokens"] / B  # new tokens a sequence in the short run
            if steady and rate:
                steady_floor = B / ((weights + B * (P + (S + N + 1) / 2) * kv_pos) / (rate * 1e12))
                steady_ratio = f"{steady / steady_floor:.2f}"
        elif short.get("error"):
            steady_cell = "pic-short: " + short["error"][:40]
        tail = f" | {steady_cell} | {steady_ratio} |"
        print(f"| {config} | {B} | " + " | ".join(shown) +
              f" | {floor:,.0f} | {ratio(tps['pic'])} | {ratio(tps['torch-graph'])}" + tail if floor else
              f"| {config} | {B} | " + " | ".join(shown) + " | - | - | -" + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
