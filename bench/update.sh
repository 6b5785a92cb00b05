#!/usr/bin/env bash
# Training tokens/s on the CPU (forward, PPO-clip + EntroPIC loss, backward,
# AdamW) of a ~9.4M-parameter random model, against the FLOP floor
# 6 x params x tokens at the sgemm rate measured in the same run
# (docs/update.md). Extra arguments go to pic-update-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bin/pic-update-bench --seqs 16 --prompt 64 --response 192 --steps 3 "$@"
