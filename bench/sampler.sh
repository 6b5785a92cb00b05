#!/usr/bin/env bash
# What choosing tokens costs over a real vocabulary: pic-rollout decode
# tokens/s of a random model with Qwen2.5's tokenizer (151,665 tokens;
# hidden 256, 4 layers, so that the head and the sampler weigh as they do in
# a real model's step), batch 16, at T 0.6 with top-p 0.95 (eval.sh's and
# train.sh's validation setting) against the same run untruncated, which
# sorts nothing. The ratio is what top-p costs on top of a draw. Extra
# arguments go to pic-rollout (--threads N, ...). Best of PIC_BENCH_REPS
# runs (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xz -dc tests/fixtures/tokenizers/qwen2.5/tokenizer.json.xz >"$tmp/tokenizer.json"
bin/pic-init -q -o "$tmp/m" --tokenizer "$tmp/tokenizer.json" --hidden 256 --layers 4 --heads 8 --kv-heads 4 \
    --intermediate 688 --max-position 1024
echo '{"id": 0, "problem": "Once upon a time"}' >"$tmp/p"
reps=${PIC_BENCH_REPS:-3}
best() { # tokens/s of the best of $reps runs with these options
    local b=0 t
    for ((r = 0; r < reps; r++)); do
        t=$(bin/pic-rollout -m "$tmp/m" -n 16 --max-batch-size 16 --max-new-tokens 32 --ignore-eos --seed 1 \
            --temperature 0.6 --plain -o "$tmp/out" "$@" "$tmp/p" 2>&1 | sed -nE 's/.*\(([0-9]+) tokens\/s\).*/\1/p')
        [ "${t:-0}" -le "$b" ] || b=$t
    done
    echo "$b"
}
top_p=$(best --top-p 0.95 "$@")
plain=$(best "$@")
printf 'decode batch 16 x 32, vocabulary 151665, T 0.6: top-p 0.95 %s tokens/s | untruncated %s tokens/s | ratio %.2f\n' \
    "$top_p" "$plain" "$(awk -v a="$top_p" -v b="$plain" 'BEGIN { print a / b }')"
