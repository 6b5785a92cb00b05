#!/usr/bin/env bash
# The end-to-end check that closes issues 11 and 12: pipelines/train.sh with
# --device cuda (pic-rollout generates and pic-update trains on the GPU) for
# 20 RL steps of the demo's model, built as make demo builds it: a
# byte-level BPE tokenizer learned from pic-task's text and random weights
# (pic-init), a short SFT warm-up (on the same device), then EntroPIC at the
# demo's settings. Prints one JSON line: the device asked for and the one
# pic-update's stats name, the dtype, steps, seconds (the RL steps' wall
# time) and seconds_per_step, the first and last steps' entropy and reward,
# the target, and the largest logp_diff_max of any step: 0 when the
# log-probs pic-update recomputes are the rollout's bit for bit (exact
# on-policy, issue 12). With --serve-steps M, the first M steps again as
# `train.sh --serve --state-every 3` (one pic-update holding its state on
# the device, docs/update.md): serve_same is whether their records equal
# the first run's but for the clocks (bit for bit, printed to 17 digits),
# and serve_seconds_per_step their pace.
#
#   tests/gpu/pipeline.sh DIR [--device D] [--steps N] [--serve-steps M]
#
# DIR is made (it must not exist). --device as train.sh's (default cuda),
# --steps the RL steps (default 20). Exit 0 when train.sh ran to the end and
# wrote one record per step with finite entropy and alpha, trained on the
# device asked for; else 1 with what failed. tests/gpu/run.sh runs it in its "pipe" section; tests/gpu_harness.bats
# on the CPU.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "pipeline.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: tests/gpu/pipeline.sh DIR [--device D] [--steps N]"
dir=$1 device=cuda steps=20 serve_steps=0
shift
while [ $# -gt 0 ]; do
    case $1 in
    --device) device=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --serve-steps) serve_steps=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done
[ ! -e "$dir" ] || die "$dir exists"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# the programs are bin/'s or PATH's (run.sh puts the carry's first), and
# train.sh calls zstdcat, which a machine with only the zstd program lacks
command -v zstdcat >/dev/null || {
    command -v zstd >/dev/null || die "neither zstdcat nor zstd on PATH"
    mkdir -p "$dir/tools" && printf '#!/bin/sh\nexec zstd -dcq "$@"\n' >"$dir/tools/zstdcat" &&
        chmod +x "$dir/tools/zstdcat" && PATH=$PATH:$dir/tools
}
for p in pic-task pic-init pic-rollout pic-reward pic-update pictl pic-batch jq flock; do
    command -v "$p" >/dev/null || [ -x "$ROOT/bin/$p" ] || die "$p is not on PATH (nor in bin/)"
done
export PATH="$PATH:$ROOT/bin"

# The demo's model (pipelines/demo.sh, stages 1 and 2, at a smaller SFT).
pic-task -q --solutions -n 2000 --seed 7 -d 1 -o "$dir/corpus.jsonl.zst"
pic-init -q -o "$dir/init" --corpus "$dir/corpus.jsonl.zst" --merges 64
pic-task -q --plain --solutions -n 1024 --seed 11 -d 1 |
    jq -c '{id, problem, answer, response: (.solution + "<|im_end|>")}' |
    pic-rollout -q --score -m "$dir/init" --template chatml --device "$device" -o "$dir/sft.jsonl.zst" ||
    die "pic-rollout --score --device $device failed"
pic-update -q -m "$dir/init" -o "$dir/sft" --loss sft --lr 3e-3 --warmup 10 --mini-batches 32 --device "$device" \
    "$dir/sft.jsonl.zst" >"$dir/sft.stats.json" || die "pic-update --loss sft --device $device failed"

# RL at the demo's settings (tau 0.5, Kp 20, Ki 0.5, lr 5e-4), fewer prompts.
# A step is ~4k tokens: one micro-batch of 8192, the arena --serve needs on a GPU.
TRAIN=(--model "$dir/sft" --device "$device" --prompts 16 --n 4 --max-new-tokens 32 --template chatml
       --tau 0.5 --kp 20 --ki 0.5 --lr 5e-4 --target 0.3 --seed 1 --update-args '--micro-tokens 8192')
t0=$(date +%s.%N)
"$ROOT/pipelines/train.sh" -q --run "$dir/run" --steps "$steps" "${TRAIN[@]}" >"$dir/train.log" 2>&1 ||
    die "train.sh --device $device failed: $(tail -3 "$dir/train.log")"
t1=$(date +%s.%N)
serve_same=null serve_secs=0
if [ "$serve_steps" -gt 0 ]; then
    "$ROOT/pipelines/train.sh" -q --run "$dir/serve" --steps "$serve_steps" --serve --state-every 3 "${TRAIN[@]}" \
        >"$dir/serve.log" 2>&1 || die "train.sh --serve --device $device failed: $(tail -3 "$dir/serve.log")"
    t2=$(date +%s.%N)
    serve_secs=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
    clockless='del(.tokens_per_s, .seconds, .load_seconds, .save_seconds, .optimizer_state)'
    serve_same=false
    cmp -s <(head -n "$serve_steps" "$dir/run/log.jsonl" | jq -c "$clockless") \
        <(jq -c "$clockless" "$dir/serve/log.jsonl") && serve_same=true
fi
jq -sc --arg device "$device" --argjson steps "$steps" --argjson secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    --argjson serve_same "$serve_same" --argjson serve_steps "$serve_steps" --argjson serve_secs "$serve_secs" '
    {device: $device, trained_on: .[-1].device, dtype: .[-1].dtype, steps: length, seconds: $secs,
     seconds_per_step: ($secs / ([length, 1] | max)),
     entropy_first: .[0].entropy, entropy_last: .[-1].entropy, target: .[-1].target,
     reward_first: .[0].reward, reward_last: .[-1].reward, logp_diff_max: (map(.logp_diff_max) | max)}
    + (if $serve_steps > 0 then {serve_steps: $serve_steps, serve_same: $serve_same,
                                  serve_seconds_per_step: ($serve_secs / $serve_steps)} else {} end)
    + {ok: (length == $steps and all(.[]; (.entropy | isnormal or . == 0) and (.alpha | type) == "number")
            and .[-1].device == $device and $serve_same != false)}' \
    "$dir/run/log.jsonl" | tee "$dir/summary.json"
jq -e .ok "$dir/summary.json" >/dev/null ||
    die "log.jsonl: not $steps records with finite entropy and alpha$([ "$serve_same" != false ] || echo ", or --serve's records differ")"
