#!/usr/bin/env bash
# What one RL step of pic-update costs outside the arithmetic (issue 11), at
# the Qwen2.5-1.5B architecture: a random bf16 checkpoint (pic-init on every
# CPU), a step file of B sequences of T tokens (64 of prompt), then two
# `pic-update --device cuda` runs in a row, each its own process as
# pipelines/train.sh runs them: the first starts from weights alone (a
# fresh run), the second from weights and optimizer state (every later
# step). For each: the process's wall time, its peak host memory (resident
# set, getrusage) and its stats line's seconds,
# load_seconds (checkpoint, samples and optimizer state onto the device)
# and save_seconds (the next checkpoint and optimizer state), so that
#   start and exit = wall - seconds, arithmetic = seconds - load - save,
# and the share of a step outside the arithmetic at the paper's batch (512
# prompts x 8 samples x ~5k tokens, 2e7 tokens) at the arithmetic's
# tokens/s measured here. Then the same step as requests to one
# `pic-update --serve` (docs/update.md) started from the second's output:
# its second request, weights only ("state": false), is the `serve` row,
# what a step of `train.sh --serve --state-every K` costs between its
# states (no process start, no checkpoint or optimizer state read, the
# weights alone written). docs/gpu.md, Training, has the proposal the
# numbers are for.
#
#   bench/gpu_rlstep.sh [--budget S] [--results FILE] [--seqs B] [--len T] [--device D] [CONFIG]
#
# The two checkpoints with optimizer state need 14 bytes a parameter each
# (43 GB at 1.5B) on the scratch disk ($TMPDIR); with less free there it
# measures bench/configs/qwen2.5-0.5b.json instead and says so (the
# costs outside the arithmetic scale with the bytes). --device cpu runs the
# same on the CPU (the harness's test, with a small CONFIG). Without a CUDA
# device it says so and exits 0 (PIC_GPU_FORCE as in gpu_score.sh); a
# pic-update that fails is a row of the table and exit 1.
# Binaries from $PIC_BIN (default bin/), libraries from $PIC_LD_PATH.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=${PIC_BIN:-$ROOT/bin}
budget=300 results='' seqs=64 len=512 device=cuda
while [ $# -gt 0 ]; do
    case $1 in
    --budget) budget=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --seqs) seqs=$2; shift 2 ;;
    --len) len=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu_rlstep.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
for v in budget seqs len; do
    case ${!v} in '' | *[!0-9]*) echo "gpu_rlstep.sh: --$v wants a whole number, got '${!v}'" >&2; exit 2 ;; esac
done
[ "$len" -gt 64 ] || { echo "gpu_rlstep.sh: --len must exceed the 64 prompt tokens" >&2; exit 2; }
config=${1:-bench/configs/qwen2.5-1.5b.json}
# shellcheck source=bench/gpu_common.sh
. bench/gpu_common.sh
[ "$device" = cpu ] || ! no_gpu || exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=${results:-$work/results}
: >"$results"
deadline=$((SECONDS + budget))
run() { env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$@"; }

# parameters of a config (stdlib python: tests/gpu/flops.py counts them)
params() { python3 -c 'import json, sys
sys.path.insert(0, "tests/gpu")
import flops
print(flops.params(json.load(open(sys.argv[1]))))' "$1"; }
need=$(($(params "$config") * 14 * 2 / 1000000000 + 2))
avail=$(df -P --block-size=1G "$work" | awk 'NR == 2 { print $4 }')
if [ "$avail" -lt "$need" ]; then
    echo "gpu_rlstep.sh: $config needs ~$need GB of scratch, $avail free in $work: measuring qwen2.5-0.5b instead"
    config=bench/configs/qwen2.5-0.5b.json
fi
name=$(basename "$config" .json)

echo "== pic-init --config $config --bf16"
t=$SECONDS
run "$BIN/pic-init" -q --config "$config" --bf16 -o "$work/m0" || { echo "gpu_rlstep.sh: pic-init failed"; exit 1; }
echo "   $((SECONDS - t)) s"
# The floor of a save: the scratch disk's own write rate, 4 GiB of random
# bytes (not zeros, which a filesystem may store as holes) written and
# flushed as pic's atomic writer does (fsync before the rename)
echo "== the disk: 4 GiB written with dd conv=fsync"
head -c $((64 << 20)) /dev/urandom >"$work/block"
t0=$(date +%s.%N)
if for _ in $(seq 64); do cat "$work/block"; done | dd of="$work/probe" bs=64M iflag=fullblock conv=fsync status=none; then
    t1=$(date +%s.%N)
    printf 'disk\t-\t{"write_gbps": %s}\n' "$(python3 -c 'import sys; print(4 * 2**30 / 1e9 / (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")" >>"$results"
fi
rm -f "$work/block" "$work/probe"
python3 -c 'import json, random, sys
seqs, n, vocab = int(sys.argv[1]), int(sys.argv[2]), 256  # byte ids: every config has them
rng = random.Random(1)
for i in range(seqs):
    print(json.dumps({"id": "p%d" % (i // 8), "sample": i % 8,
                      "prompt_ids": [rng.randrange(vocab) for _ in range(64)],
                      "response_ids": [rng.randrange(vocab) for _ in range(n - 64)],
                      "logprobs": [-2.0] * (n - 64), "temperature": 1.0, "advantage": 1.0 if i % 2 else -1.0}))' \
    "$seqs" "$len" >"$work/step.jsonl"

# peak FILE CMD...: runs CMD and writes to FILE the largest resident set
# (kB, getrusage) of it and its children: pic-update's host memory at its peak
peak() {
    python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc if rc >= 0 else 128 - rc)' "$@"
}
# step LABEL IN OUT: one pic-update process, its wall time beside its stats
step() {
    local label=$1 in=$2 out=$3 t0 t1 cap
    cap=$((deadline - SECONDS))
    if [ "$cap" -lt 5 ]; then
        printf '%s\t%s\t%s\n' "$label" "$name" "not run: out of time" >>"$results"
        return 1
    fi
    echo "== $label: pic-update -m $(basename "$in") -o $(basename "$out") --device $device (at most ${cap}s)"
    t0=$(date +%s.%N)
    peak "$work/rss" timeout -k 5 "$cap" env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-update" -q \
        -m "$in" -o "$out" --device "$device" --lr 1e-6 "$work/step.jsonl" >"$work/stats" 2>"$work/err"
    local rc=$?
    t1=$(date +%s.%N)
    cat "$work/err"
    if [ $rc -ne 0 ]; then
        printf '%s\t%s\t%s\n' "$label" "$name" "exit $rc: $(tail -1 "$work/err")" >>"$results"
        return 1
    fi
    printf '%s\t%s\t%s\n' "$label" "$name" "$(python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
s["wall"] = float(sys.argv[3]) - float(sys.argv[2])
s["bytes"] = int(sys.argv[4])
s["host_peak"] = int(sys.argv[5]) * 1024
print(json.dumps(s))' "$work/stats" "$t0" "$t1" "$(du -sb "$out" | cut -f1)" "$(cat "$work/rss")")" >>"$results"
}
# serve IN: two requests to one pic-update --serve from IN, weights only;
# the second's stats line is the row (its wall: the request's seconds)
serve() {
    local in=$1 cap
    cap=$((deadline - SECONDS))
    if [ "$cap" -lt 5 ]; then
        printf '%s\t%s\t%s\n' serve "$name" "not run: out of time" >>"$results"
        return 1
    fi
    echo "== serve: pic-update -m $(basename "$in") --serve --device $device, two requests (at most ${cap}s)"
    printf '{"samples": "%s", "output": "%s", "state": false}\n' "$work/step.jsonl" "$work/s1" \
        "$work/step.jsonl" "$work/s2" >"$work/requests"
    peak "$work/rss" timeout -k 5 "$cap" env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-update" -q \
        -m "$in" --serve --device "$device" --micro-tokens $((seqs * len)) --lr 1e-6 <"$work/requests" \
        >"$work/stats" 2>"$work/err"
    local rc=$?
    cat "$work/err"
    if [ $rc -ne 0 ] || [ "$(wc -l <"$work/stats")" -ne 2 ]; then
        printf '%s\t%s\t%s\n' serve "$name" "exit $rc: $(tail -1 "$work/err")" >>"$results"
        return 1
    fi
    printf '%s\t%s\t%s\n' serve "$name" "$(python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
s["wall"] = s["seconds"]
s["bytes"] = int(sys.argv[2])
s["host_peak"] = int(sys.argv[3]) * 1024
print(json.dumps(s))' "$work/stats" "$(du -sb "$work/s1" | cut -f1)" "$(cat "$work/rss")")" >>"$results"
}
status=0
if step first "$work/m0" "$work/m1"; then
    rm -rf "$work/m0"
    step steady "$work/m1" "$work/m2" || status=1
    rm -rf "$work/m2"
    serve "$work/m1" || status=1
else
    status=1
fi
echo
python3 - "$results" <<'EOF'
import json, sys
PAPER = 2e7  # tokens of one step at the paper's batch: 512 prompts x 8 samples x ~5k tokens
lines = [line.rstrip("\n").split("\t", 2) for line in open(sys.argv[1])]
disk = next((json.loads(p)["write_gbps"] for label, _, p in lines if label == "disk"), None)
print("| run | wall s | start and exit s | load s | arithmetic s | save s | written GB | save at the disk's rate s "
      "| arithmetic tokens/s | outside the arithmetic at 2e7 tokens | host peak GB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for label, name, payload in lines:
    if label == "disk":
        continue
    try:
        s = json.loads(payload)
    except ValueError:
        print(f"| {label} ({name}) | {payload} |")
        continue
    arith = s["seconds"] - s["load_seconds"] - s["save_seconds"]
    outside = s["wall"] - arith
    tps = s["tokens_total"] / arith if arith > 0 else float("nan")
    share = outside / (outside + PAPER / tps) if arith > 0 else float("nan")
    print(f"| {label} ({name}, {s['device']} {s['dtype']}) | {s['wall']:.1f} | {s['wall'] - s['seconds']:.1f} "
          f"| {s['load_seconds']:.1f} | {arith:.1f} | {s['save_seconds']:.1f} | {s['bytes'] / 1e9:.1f} "
          f"| {s['bytes'] / 1e9 / disk if disk else float('nan'):.1f} "
          f"| {tps:,.0f} | {100 * share:.1f}% | {s['host_peak'] / 1e9:.1f} |")
print(f"the disk writes {disk:.2f} GB/s (dd, fsync): a save's floor" if disk else "the disk: not measured")
EOF
# after the table: on the H200 (2026-12-04) removing these 40 GB outlasted
# the budget and took the table with it
rm -rf "$work/m1" "$work/m2" "$work/s1" "$work/s2"
exit $status
