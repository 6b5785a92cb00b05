#!/usr/bin/env bash
# What a stream costs the programs that pass it through: records of 8192
# response tokens with a log-prob and an entropy each (float32 values, as
# pic-rollout writes them), read and written again by pic-cat (parse and
# print) and pic-reward (the same, plus a check per record), beside jq's
# `jq -c .` over the same bytes (the user's tool; it prints 17 digits).
# Reported as microseconds a token and tokens/s; pic-rollout's writer and
# pic-update's reader pay the same per-real costs. Usage: streams.sh [RECORDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIC_BIN:-$root/bin}"
n="${1:-100}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# float32 values with 9-digit texts, of a log-prob's and an entropy's sizes
awk -v n="$n" 'BEGIN {
  srand(1)
  for (r = 0; r < n; r++) {
    printf "{\"id\":\"p%d\",\"sample\":0,\"answer\":\"2\",\"response\":\"so \\\\boxed{2}\",\"response_ids\":[", r
    for (i = 0; i < 8192; i++) printf "%s%d", (i ? "," : ""), int(rand() * 150000)
    printf "],\"logprobs\":["
    for (i = 0; i < 8192; i++) printf "%s%.8e", (i ? "," : ""), 0.5 * log(rand() + 1e-12)
    printf "],\"entropy\":["
    for (i = 0; i < 8192; i++) printf "%s%.8e", (i ? "," : ""), 3 * rand()
    printf "],\"temperature\":0.6}\n"
  }
}' > "$tmp/raw.jsonl"
# as float32 (what a pic program writes): one pass through pic-cat
"$bin/pic-cat" -q --plain "$tmp/raw.jsonl" > "$tmp/s.jsonl"
tokens=$((n * 8192))
best_of() {
  local b=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null
    t1=$(date +%s%N)
    local t=$(((t1 - t0) / 1000))
    if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
  done
  echo "$b"
}
cat_us=$(best_of taskset -c 0 "$bin/pic-cat" -q --plain "$tmp/s.jsonl")
rew_us=$(best_of taskset -c 0 "$bin/pic-reward" -q --plain "$tmp/s.jsonl")
jq_us=$(best_of taskset -c 0 jq -c . "$tmp/s.jsonl")
printf '%d records, %d tokens, %d MB on one core\n' "$n" "$tokens" "$(($(stat -c %s "$tmp/s.jsonl") / 1000000))"
printf '%-12s %12s %12s %14s\n' program "us/token" "tokens/s" "vs jq -c ."
for p in pic-cat:$cat_us pic-reward:$rew_us "jq -c .:$jq_us"; do
  name=${p%:*} us=${p##*:}
  awk -v name="$name" -v us="$us" -v tok="$tokens" -v jq="$jq_us" \
    'BEGIN { printf "%-12s %12.3f %12.0f %13.2fx\n", name, us / tok, tok / (us / 1e6), jq / us }'
done
