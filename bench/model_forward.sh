#!/usr/bin/env bash
# Forward-pass tokens/s of a ~9.4M-parameter model (random init, built-in
# config) for prefill and decode at batch 1 and 32, each against the floor
# that OpenBLAS sgemm alone reaches on the same shapes in the same run
# (docs/model.md). Extra arguments go to pic-model-bench (--threads N, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
exec bin/pic-model-bench --batch 1,32 --prompt 128 --decode 32 "$@"
