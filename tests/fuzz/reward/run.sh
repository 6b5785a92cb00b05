#!/usr/bin/env bash
# Builds the libFuzzer target and runs it on one worker for SECONDS (default
# 600), merging what it finds into the kept corpus. Usage: run.sh [SECONDS | --build]
# (--build: the target alone, built, nothing run)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/fuzz
mkdir -p "$out/new"
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
  tests/fuzz/reward/fuzz_reward.c src/reward/ast.c src/reward/lex.c src/reward/parse.c src/reward/primary.c src/reward/bigop.c \
  src/reward/gcd.c src/reward/eval.c src/reward/numeq.c src/reward/realset.c src/reward/equiv.c src/reward/extract.c src/reward/extract_env.c src/reward/extract_plain.c src/reward/extract_anchored.c src/reward/extract_boxed.c src/reward/textsearch.c src/reward/units.c src/reward/normalize.c src/reward/choice.c src/reward/reward.c \
  -lmpfr -lgmp -o "$out/fuzz_reward"
[ "${1:-}" = --build ] && exit 0
"$out/fuzz_reward" -max_total_time="${1:-600}" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=tests/fuzz/reward/regress/ "$out/new" tests/fuzz/reward/corpus
# keep the corpus small: only inputs that add coverage
mkdir -p "$out/min"
"$out/fuzz_reward" -merge=1 "$out/min" tests/fuzz/reward/corpus "$out/new" >/dev/null 2>&1
rm -rf tests/fuzz/reward/corpus && mv "$out/min" tests/fuzz/reward/corpus
