#!/usr/bin/env bash
# Builds the libFuzzer target and runs it on one worker for SECONDS (default
# 600), merging what it finds into the kept corpus. Usage: run.sh [SECONDS | --build]
# (--build: the target alone, built, nothing run)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/fuzz
mkdir -p "$out/samples-new" tests/fuzz/samples/regress
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc -Wl,--wrap=exit \
  tests/fuzz/samples/fuzz_samples.c src/update/batch.c src/update/advantage.c \
  src/common/cli.c src/common/json.c src/common/dtoa.cc src/common/stream.c src/common/utf8.c src/common/atomic.c src/common/progress.c \
  -ljansson -lzstd -l:libdouble-conversion.a -lsupc++ -lm -o "$out/fuzz_samples"
[ "${1:-}" = --build ] && exit 0
# A read that dies leaves what it had built (the readers are written to
# exit, not to unwind), about a gigabyte in a few minutes: the target runs
# in 30-second rounds, each a fresh process that goes on from the corpus,
# so that the memory limit still catches one input's runaway allocation.
end=$((SECONDS + ${1:-600}))
while [ "$SECONDS" -lt "$end" ]; do
    round=$((end - SECONDS < 30 ? end - SECONDS : 30))
    ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_samples" -max_total_time="$round" -max_len=8192 -timeout=10 \
      -rss_limit_mb=2048 -detect_leaks=0 -dict=tests/fuzz/samples/json.dict -artifact_prefix=tests/fuzz/samples/regress/ \
      "$out/samples-new" tests/fuzz/samples/corpus 2>&1 | grep -av '^pic: ' | tail -n 3 || true
    if [ -n "$(ls tests/fuzz/samples/regress)" ]; then echo "run.sh: a finding in tests/fuzz/samples/regress" >&2; exit 1; fi
done
# keep the corpus small: only inputs that add coverage
rm -rf "$out/samples-min" && mkdir -p "$out/samples-min"
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_samples" -merge=1 -detect_leaks=0 "$out/samples-min" \
  tests/fuzz/samples/corpus "$out/samples-new" >/dev/null 2>&1
rm -rf tests/fuzz/samples/corpus && mv "$out/samples-min" tests/fuzz/samples/corpus
