#!/usr/bin/env python3
"""Generation checks of tests/gpu/run.sh (the gen section), standard library
only: prompt records, and comparisons of pic-rollout outputs.

    gen_check.py greedy MODEL_DIR         golden.json's greedy prompts as records
    gen_check.py prompts N                N prompts of 3..3+N token ids (stdout)
    gen_check.py golden MODEL_DIR OUT     OUT's response_ids = golden's new_ids
    gen_check.py same A B                 every record's response_ids and
                                          logprobs equal, in order
    gen_check.py logp A B FIELD [MAX]     max |A's logprobs - B's FIELD| over
                                          every token (B: A rescored); fails
                                          above MAX when given, and where a
                                          record's two lists differ in length
                                          or hold a NaN

Each comparison prints one line and exits 1 when the check fails."""
import json
import math
import sys


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "greedy":
        with open(f"{argv[2]}/golden.json") as f:
            g = json.load(f)["greedy"]
        for k, v in g.items():
            print(json.dumps({"id": k, "prompt_ids": v["prompt_ids"]}))
        return 0
    if cmd == "prompts":
        for i in range(int(argv[2])):
            print(json.dumps({"id": i, "prompt_ids": [(7 * j + 3 * i + 1) % 250 + 3 for j in range(3 + i)]}))
        return 0
    if cmd == "golden":
        with open(f"{argv[2]}/golden.json") as f:
            want = [v["new_ids"] for v in json.load(f)["greedy"].values()]
        got = [r["response_ids"] for r in records(argv[3])]
        ok = got == want
        print(f"{len(got)} greedy sequences {'equal' if ok else 'DIFFER from'} golden's "
              f"({sum(map(len, want))} tokens)")
        return 0 if ok else 1
    if cmd == "same":
        a, b = records(argv[2]), records(argv[3])
        for i, (x, y) in enumerate(zip(a, b)):
            if x.get("response_ids") != y.get("response_ids") or x.get("logprobs") != y.get("logprobs"):
                print(f"record {i} differs")
                return 1
        if len(a) != len(b):
            print(f"{len(a)} records against {len(b)}")
            return 1
        print(f"{len(a)} records, {sum(len(r['response_ids']) for r in a)} tokens identical")
        return 0
    if cmd == "logp":
        a, b, field = records(argv[2]), records(argv[3]), argv[4]
        d, n, short = 0.0, 0, 0
        for x, y in zip(a, b):
            # zip alone would judge a record by the shorter list's tokens
            short += len(x["logprobs"]) != len(y[field])
            for p, q in zip(x["logprobs"], y[field]):
                # max() passes over a NaN (nan > d is false): count it as infinite
                e = abs(p - q)
                d, n = max(d, e if math.isfinite(e) else math.inf), n + 1
        bound = float(argv[5]) if len(argv) > 5 else float("inf")
        print(f"max |logp diff| {d:.3g} over {n} tokens" + (f"; {short} records' lists differ in length" if short else ""))
        return 0 if len(a) == len(b) and n and not short and d <= bound else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
