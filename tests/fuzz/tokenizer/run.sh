#!/usr/bin/env bash
# Builds the libFuzzer target and runs it on one worker for SECONDS (default
# 600), merging what it finds into the kept corpus. Usage: run.sh [SECONDS | --build]
# (--build: the target alone, built, nothing run)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/fuzz
mkdir -p "$out/tokenizer-new" tests/fuzz/tokenizer/regress
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc -Wl,--wrap=exit \
  tests/fuzz/tokenizer/fuzz_tokenizer.c src/tokenizer/*.c \
  src/common/cli.c src/common/json.c src/common/dtoa.cc src/common/stream.c src/common/utf8.c src/common/atomic.c src/common/progress.c \
  -lpcre2-8 -lutf8proc -ljansson -lzstd -l:libdouble-conversion.a -lsupc++ -lm -o "$out/fuzz_tokenizer"
[ "${1:-}" = --build ] && exit 0
# the seeds: every small tokenizer.json of the fixtures
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
for f in tests/fixtures/tokenizers/synthetic/*.json tests/fixtures/tokenizers/tiny/tokenizer.json \
         tests/fixtures/tokenizers/stories260K/tokenizer.json; do
    cp "$f" "$seeds/$(echo "$f" | tr / _)"
done
# A load that dies leaves what it had built (the loaders are written to
# exit, not to unwind), about a gigabyte in a few minutes: the target runs
# in 30-second rounds, each a fresh process that goes on from the corpus,
# so that the memory limit still catches one input's runaway allocation.
end=$((SECONDS + ${1:-600}))
while [ "$SECONDS" -lt "$end" ]; do
    round=$((end - SECONDS < 30 ? end - SECONDS : 30))
    ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_tokenizer" -max_total_time="$round" -max_len=32768 -timeout=10 \
      -rss_limit_mb=2048 -detect_leaks=0 -dict=tests/fuzz/tokenizer/json.dict -artifact_prefix=tests/fuzz/tokenizer/regress/ \
      "$out/tokenizer-new" tests/fuzz/tokenizer/corpus "$seeds" 2>&1 | grep -av '^pic: ' | tail -n 3 || true
    if [ -n "$(ls tests/fuzz/tokenizer/regress)" ]; then echo "run.sh: a finding in tests/fuzz/tokenizer/regress" >&2; exit 1; fi
done
# keep the corpus small: only inputs that add coverage
rm -rf "$out/tokenizer-min" && mkdir -p "$out/tokenizer-min"
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_tokenizer" -merge=1 -detect_leaks=0 "$out/tokenizer-min" tests/fuzz/tokenizer/corpus "$out/tokenizer-new" \
  "$seeds" >/dev/null 2>&1
rm -rf tests/fuzz/tokenizer/corpus && mv "$out/tokenizer-min" tests/fuzz/tokenizer/corpus
