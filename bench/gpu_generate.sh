#!/usr/bin/env bash
# Generation throughput on the GPU: output tokens/s of B samples of 256 new
# tokens after 128 random prompt tokens at T 0.6 (--ignore-eos: every sample
# runs to the end), B = 1, 64, 256, for the Qwen2.5-0.5B and 1.5B
# architectures with random bf16 weights (bench/configs). Beside pic-rollout
# (exact, the default, and --fast; at batch 1 also without the decode
# step's CUDA graphs, and without programmatic dependent launch):
# transformers' generate and a static-cache CUDA-graph PyTorch decode loop
# (tests/gpu/torch_generate.py), and the
# memory floor: weights plus the KV cache read once per step at the copy rate
# measured in the same run (tests/gpu/gen_table.py, docs/gpu.md). Times
# cover prefill and decode, and pic-rollout's its setup too (KV cache, graph
# captures), which the PyTorch loop times outside: pic's exact run again
# with 32 new tokens gives, by difference, the steady decode rate. After
# the table, as the budget allows, the last config's GPU time by phase at
# batch 1 and 256 (PIC_CUDA_PROFILE=1, src/model/cuda/prof.cuh; without the
# decode step's graphs, so each phase holds its launch gaps too).
#
#   bench/gpu_generate.sh [--budget SECONDS] [--results FILE] [CONFIG...]
#
# --budget bounds the whole run (default 540 s: one device call); --results
# keeps the raw lines (impl, config, batch, JSON). Without a CUDA device it
# says so and exits 0 (PIC_GPU_FORCE as in gpu_score.sh). pic's binaries
# come from $PIC_BIN (default bin/), their library path from $PIC_LD_PATH.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=${PIC_BIN:-$ROOT/bin}
budget=540 results=''
while [ $# -gt 0 ]; do
    case $1 in
    --budget) budget=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu_generate.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
case $budget in '' | *[!0-9]*) echo "gpu_generate.sh: --budget wants whole seconds, got '$budget'" >&2; exit 2 ;; esac
[ $# -eq 0 ] && set -- bench/configs/qwen2.5-0.5b.json bench/configs/qwen2.5-1.5b.json
# shellcheck source=bench/gpu_common.sh
. bench/gpu_common.sh
no_gpu && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=${results:-$work/results}
: >"$results"
deadline=$((SECONDS + budget))
PROMPT=128 NEW=256 TEMP=0.6

# pic B CKPT [--fast]: pic-rollout's summary line as JSON
pic() {
    local b=$1 ck=$2
    shift 2
    env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-rollout" --device cuda --dtype bf16 -m "$ck" \
        -n 1 -t $TEMP --max-new-tokens $NEW --ignore-eos --max-batch-size "$b" --plain -o /dev/null "$@" \
        "$work/prompts.$b" 2>&1 |
        sed -n 's/.*generated \([0-9]*\) samples*, \([0-9]*\) tokens*,.* in \([0-9.]*\) s (\([0-9]*\) tokens\/s).*/{"samples":\1,"tokens":\2,"seconds":\3,"tokens_per_s":\4}/p;/error\|pic-rollout:/p'
}

measure $'copy\t-\t-' 60 python3 tests/gpu/torch_bench.py matmul
# python3's lzma, not the xz program, which a bare GPU image may lack
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' \
    tests/fixtures/tokenizers/qwen2.5/tokenizer.json.xz >"$work/tokenizer.json"
for b in 1 64 256; do
    python3 -c 'import json, random, sys
r = random.Random(int(sys.argv[1]))
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "prompt_ids": [r.randrange(3, 150000) for _ in range(int(sys.argv[2]))]}))' \
        $b $PROMPT >"$work/prompts.$b"
done
export -f pic
export BIN PIC_LD_PATH TEMP NEW work
for config in "$@"; do
    name=$(basename "$config")
    ck=$work/ckpt.$name
    if ! env ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-init" -q --config "$config" --tokenizer "$work/tokenizer.json" --bf16 -o "$ck" >"$work/out" 2>&1; then
        printf '%s\t%s\t%s\t%s\n' pic "$name" - "pic-init: $(tail -1 "$work/out")" >>"$results"
        continue
    fi
    for b in 1 64 256; do
        measure "pic"$'\t'"$name"$'\t'$b 120 bash -c 'pic "$@"' _ $b "$ck"
        measure "pic-fast"$'\t'"$name"$'\t'$b 120 bash -c 'pic "$@"' _ $b "$ck" --fast
        # the same with 32 new tokens (the later option wins): the difference is the steady decode rate
        measure "pic-short"$'\t'"$name"$'\t'$b 120 bash -c 'pic "$@"' _ $b "$ck" --max-new-tokens 32
        # what the decode step's CUDA graphs save, where launches cost most
        [ $b = 1 ] && measure "pic-nograph"$'\t'"$name"$'\t'$b 120 env PIC_CUDA_GRAPHS=0 bash -c 'pic "$@"' _ $b "$ck"
        # what programmatic dependent launch saves (common.cuh's launch_pdl), where kernels are smallest
        [ $b = 1 ] && measure "pic-nopdl"$'\t'"$name"$'\t'$b 120 env PIC_CUDA_PDL=0 bash -c 'pic "$@"' _ $b "$ck"
        # what reading a kv head's keys once per query group (not per head) saves, where the cache is read most
        [ $b != 1 ] && measure "pic-head"$'\t'"$name"$'\t'$b 120 env PIC_CUDA_DECODE_ATTN=head bash -c 'pic "$@"' _ $b "$ck"
        measure "torch-graph"$'\t'"$name"$'\t'$b 90 python3 tests/gpu/torch_generate.py graph "$config" --batch $b \
            --prompt $PROMPT --new $NEW --temperature $TEMP
        measure "transformers"$'\t'"$name"$'\t'$b 120 python3 tests/gpu/torch_generate.py hf "$config" --batch $b \
            --prompt $PROMPT --new $NEW --temperature $TEMP
    done
    [ "$config" = "${*: -1}" ] || rm -rf "$ck" # the last one stays for the profile
done
echo
python3 tests/gpu/gen_table.py "$results" "$(dirname "$1")" $PROMPT $NEW
status=$?
last=$work/ckpt.$(basename "${*: -1}")
rates=$(profile_rates)
for b in 1 256; do
    left=$((deadline - SECONDS))
    [ "$left" -lt 30 ] && break
    [ -d "$last" ] || break
    echo
    echo "# profile: pic-rollout --max-batch-size $b $(basename "$last" | sed 's/^ckpt\.//'), GPU time by phase"
    timeout -k 5 "$left" env PIC_CUDA_PROFILE=1 ${rates:+PIC_CUDA_PROFILE_RATES="$rates"} \
        ${PIC_LD_PATH:+LD_LIBRARY_PATH="$PIC_LD_PATH"} "$BIN/pic-rollout" \
        --device cuda --dtype bf16 -m "$last" -n 1 -t $TEMP --max-new-tokens $NEW --ignore-eos --max-batch-size "$b" \
        --plain -o /dev/null "$work/prompts.$b" 2>&1 | grep -v '^{'
done
exit $status
