#!/usr/bin/env bash
# pic-rollout generation tokens/s at batch 1, 8 and 64 on a random ~7M
# parameter Llama (hidden 256, 10 layers, 8/4 heads, FFN 688, made by
# pic-init), each against the floor of the same run measured by
# pic-rollout-floor: every step reads the weights and the KV cache it attends
# to at this machine's read rate, and does its matrix and attention FLOPs at
# the sgemm rate (docs/rollout.md), and against PyTorch's CPU build on the
# same model when /usr/bin/python3 has torch (bench/torch_peer.sh).
# PIC_ISA=avx2 (or scalar) shows what a CPU without AVX-512 gets. Extra
# arguments go to pic-rollout (--threads N, ...). Each figure is the best of
# PIC_BENCH_REPS runs (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin/pic-init -q -o "$tmp/m" --model-type llama --hidden 256 --layers 10 --heads 8 --kv-heads 4 \
    --intermediate 688 --max-position 1024
echo '{"id": 0, "problem": "Once upon a time"}' >"$tmp/p"
new=128
# the floor runs on as many threads as generation (--threads N or --threads=N)
threads=
prev=
for a in "$@"; do
    [ "$prev" = --threads ] && threads=$a
    case $a in --threads=*) threads=${a#--threads=} ;; esac
    prev=$a
done
peer_threads=${threads#0}
peer=$(bench/torch_peer.sh "${peer_threads:-$(nproc)}")
echo "matmul_bi kernel: ${PIC_ISA:-the best this CPU has}"
# On a shared machine one run of either swings by tens of percent (the floor's
# read rate with how much of a step the L3 holds at that moment): each figure
# is the best of $reps runs, generation and floor in turn, so the ratio is
# the best generation against the highest floor.
reps=${PIC_BENCH_REPS:-3}
for b in 1 8 64; do
    tps=0 ftps=0 floor=
    for ((r = 0; r < reps; r++)); do
        line=$(bin/pic-rollout -m "$tmp/m" -n "$b" --max-batch-size "$b" --max-new-tokens "$new" --ignore-eos \
            --seed 1 --plain -o "$tmp/out" "$@" "$tmp/p" 2>&1)
        t=$(sed -E 's/.*\(([0-9]+) tokens\/s\).*/\1/' <<<"$line")
        [ "$t" -le "$tps" ] || tps=$t
        # the prompt's length as pic-rollout tokenized it
        prompt_tokens=$(jq -s '.[0].prompt_ids | length' "$tmp/out")
        f=$(bin/pic-rollout-floor --prompt-tokens "$prompt_tokens" --new-tokens "$new" "$tmp/m" "$b" ${threads#0})
        ft=$(sed -E 's/^floor ([0-9]+) tokens.*/\1/' <<<"$f")
        [ "$ft" -le "$ftps" ] || { ftps=$ft; floor=$f; }
    done
    printf 'decode batch %3d x %d: %6d tokens/s | %s | ratio %.2f' "$b" "$new" "$tps" "$floor" \
        "$(awk -v a="$tps" -v b="$ftps" 'BEGIN { print a / b }')"
    torch=$(sed -nE "s/^torch decode batch +$b x [0-9]+: ([0-9]+) tokens\/s.*/\1/p" <<<"$peer")
    [ -z "$torch" ] || printf ' | PyTorch %s tokens/s (pic / PyTorch %.2f)' "$torch" \
        "$(awk -v a="$tps" -v b="$torch" 'BEGIN { print a / b }')"
    echo
done
