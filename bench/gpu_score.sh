#!/usr/bin/env bash
# Scoring throughput on the GPU (forward plus fused log-prob and entropy, 16 x
# 2048 tokens, random weights) for the Qwen2.5-0.5B, 1.5B and 7B architectures
# (bench/configs): pic-model-bench beside transformers (bf16, sdpa) and beside
# the bf16 matrix rate, all measured in this run (docs/gpu-checks.md); pic with
# cuBLASLt (the programs' --fast) first, then with the fixed-order products
# the programs use by default (--exact), whose cost the table shows; after the
# table, as the budget allows, the second config's GPU time by phase in both
# (PIC_CUDA_PROFILE=1, src/model/cuda/prof.cuh).
#
#   bench/gpu_score.sh [--train] [--budget SECONDS] [--rows FILE] [--results FILE] [CONFIG...]
#
# --train measures one training step instead (bench/gpu_train.sh: 8 x 2048
# tokens, 0.5B and 1.5B by default, beside transformers with bf16 autocast,
# fp32 master weights and fused AdamW; 3 x the forward's FLOPs).
# --budget bounds the whole run (default 300 s; each step also has its own
# cap); --rows appends tests/gpu/run.sh's summary rows; --results keeps the raw
# measurements (one line each: impl, config, JSON). Without a CUDA device it
# says so and exits 0 (make bench runs every bench/*.sh; PIC_GPU_FORCE=1 runs
# it anyway, PIC_GPU_FORCE=0 skips it). pic's binaries come
# from $PIC_BIN (default bin/), their library path from $PIC_LD_PATH.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=${PIC_BIN:-$ROOT/bin}
budget=300 rows='' results='' mode=score shape=16x2048
while [ $# -gt 0 ]; do
    case $1 in
    --train) mode=train shape=8x2048; shift ;;
    --budget) budget=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu_score.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
case $budget in '' | *[!0-9]*) echo "gpu_score.sh: --budget wants whole seconds, got '$budget'" >&2; exit 2 ;; esac
if [ $# -eq 0 ] && [ $mode = train ]; then
    set -- bench/configs/qwen2.5-0.5b.json bench/configs/qwen2.5-1.5b.json
elif [ $# -eq 0 ]; then
    set -- bench/configs/qwen2.5-0.5b.json bench/configs/qwen2.5-1.5b.json bench/configs/qwen2.5-7b.json
fi
# shellcheck source=bench/gpu_common.sh
. bench/gpu_common.sh
no_gpu && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=${results:-$work/results}
: >"$results"
deadline=$((SECONDS + budget))

measure $'matmul\t-' 60 python3 tests/gpu/torch_bench.py matmul
for config in "$@"; do
    name=$(basename "$config")
    measure "pic"$'\t'"$name" 150 env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} \
        "$BIN/pic-model-bench" --device cuda --dtype bf16 --config "$config" --$mode $shape
    measure "transformers"$'\t'"$name" 120 python3 tests/gpu/torch_bench.py $mode "$config" --batch "${shape%x*}" \
        --seq "${shape#*x}"
done
# the programs' default products (batch-invariant) after the rest: what exactness costs
for config in "$@"; do
    measure "pic-exact"$'\t'"$(basename "$config")" 150 env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} \
        "$BIN/pic-model-bench" --device cuda --dtype bf16 --config "$config" --$mode $shape --exact
done
echo
python3 tests/gpu/bench_table.py $([ $mode = train ] && echo --train) "$results" "$(dirname "$1")" ${rows:+"$rows"}
status=$?
# After the table, with what the budget leaves: where pic's time goes, GPU
# time by phase (PIC_CUDA_PROFILE, src/model/cuda/prof.cuh), in the fast and
# the exact products, for the second config (1.5B by default), the first
# when there is one.
config=${2:-$1}
rates=$(profile_rates)
for exact in "" --exact; do
    left=$((deadline - SECONDS))
    [ "$left" -lt 20 ] && break
    echo
    echo "# profile: pic-model-bench --$mode $shape ${exact:-(fast)} $(basename "$config"), GPU time by phase (both passes)"
    timeout -k 5 "$left" env PIC_CUDA_PROFILE=1 ${rates:+PIC_CUDA_PROFILE_RATES="$rates"} \
        ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-model-bench" \
        --device cuda --dtype bf16 --config "$config" --$mode $shape $exact 2>&1 | grep -v '^{'
done
exit $status
