#!/usr/bin/env bash
# Builds the libFuzzer target of pic-reward --task countdown and runs it on
# one worker for SECONDS (default 300), merging what it finds into the kept
# corpus; crashes land in regress/, which tests/unit/test_countdown.c
# replays. Usage: run.sh [SECONDS | --build]
# (--build: the target alone, built, nothing run)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/fuzz-countdown
mkdir -p "$out/new"
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
  tests/fuzz/countdown/fuzz_countdown.c src/reward/countdown.c src/reward/textsearch.c -lgmp -o "$out/fuzz_countdown"
[ "${1:-}" = --build ] && exit 0
"$out/fuzz_countdown" -max_total_time="${1:-300}" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=tests/fuzz/countdown/regress/ "$out/new" tests/fuzz/countdown/corpus
# keep the corpus small: only inputs that add coverage
rm -rf "$out/min" && mkdir -p "$out/min"
"$out/fuzz_countdown" -merge=1 "$out/min" tests/fuzz/countdown/corpus "$out/new" >/dev/null 2>&1
rm -rf tests/fuzz/countdown/corpus && mv "$out/min" tests/fuzz/countdown/corpus
