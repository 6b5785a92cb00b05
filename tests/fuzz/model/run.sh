#!/usr/bin/env bash
# Builds the libFuzzer target and runs it on one worker for SECONDS (default
# 600), merging what it finds into the kept corpus. Usage: run.sh [SECONDS | --build]
# (--build: the target alone, built, nothing run)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/fuzz
mkdir -p "$out/model-new" tests/fuzz/model/regress
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
  tests/fuzz/model/fuzz_model.c src/model/config.c src/model/safetensors.c src/model/error.c src/model/dtype.c \
  src/common/cli.c src/common/json.c src/common/dtoa.cc src/common/stream.c src/common/utf8.c src/common/atomic.c src/common/progress.c -ljansson -lzstd -l:libdouble-conversion.a -lsupc++ -lm -o "$out/fuzz_model"
[ "${1:-}" = --build ] && exit 0
"$out/fuzz_model" -max_total_time="${1:-600}" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -dict=tests/fuzz/model/json.dict -artifact_prefix=tests/fuzz/model/regress/ "$out/model-new" tests/fuzz/model/corpus
# keep the corpus small: only inputs that add coverage
rm -rf "$out/model-min" && mkdir -p "$out/model-min"
"$out/fuzz_model" -merge=1 "$out/model-min" tests/fuzz/model/corpus "$out/model-new" >/dev/null 2>&1
rm -rf tests/fuzz/model/corpus && mv "$out/model-min" tests/fuzz/model/corpus
