#!/usr/bin/env bash
# Every GPU check and benchmark of pic in one call on a lent GPU machine
# (docs/gpu-checks.md): GPU and libraries, the CUDA unit tests, the device
# sampler against the CPU's (test_cuda_sampler, ~15 s), the golden
# fixtures in fp32 and in bf16 beside PyTorch's own bf16 error, generation
# on the GPU (greedy = golden, batch and shard invariance, generation's
# log-probs = --score's), training (golden gradients and AdamW on the GPU,
# resume bit for bit, GPU against CPU over 50 steps; ~60 s), 20 steps of
# pipelines/train.sh --device cuda on the demo's model (tests/gpu/pipeline.sh,
# ~60 s), and bench/gpu_score.sh. Each step runs under `timeout` inside one budget
# (PIC_GPU_BUDGET seconds, default 440: with the machine's start, a few
# minutes, the call fits a 10-minute share of device time); each CUDA unit
# test gets 45 s of it. One small CUDA test runs first as a canary: when it
# times out, or sees no CUDA device on a GPU machine, the GPU sections are
# SKIP rows that say so instead of each waiting out its caps. Under $OUT:
# info.log, results.tsv, summary.tsv (a row appended as each check ends) and
# sections.tar.gz, the section logs (unit.log, fp32.log, bf16.log, gen.log,
# train.log, bench.log), packed again after every step: the device tool
# brings back at most 8 files from $OUT, and a call killed at its timeout
# still brings back every step's log so far. The summary table is printed
# last. Exit 1 when a check FAILs, else 0.
#
# PIC_GPU_SECTIONS picks sections for a rerun (default "unit sample fp32
# bf16 gen train pipe bench"; GPU, libraries and binaries are always checked). "genbench",
# "trainbench" and "stepcost", never in the default, run bench/gpu_generate.sh,
# bench/gpu_train.sh and bench/gpu_rlstep.sh with this setup (each its own call:
# PIC_GPU_SECTIONS=genbench PIC_GPU_BUDGET=560 tests/gpu/run.sh,
# PIC_GPU_SECTIONS=trainbench PIC_GPU_BUDGET=300 tests/gpu/run.sh,
# PIC_GPU_SECTIONS=stepcost PIC_GPU_BUDGET=240 tests/gpu/run.sh). "sanitize",
# also by name, runs the CUDA unit tests under compute-sanitizer (memcheck,
# racecheck) and test_cuda_backward with attention on the CUDA cores
# (PIC_GPU_SECTIONS=sanitize PIC_GPU_BUDGET=300 tests/gpu/run.sh).
#
# Without a GPU every GPU step is a SKIP row and the script still runs to the
# end. PIC_GPU_FORCE=1 runs them anyway and PIC_GPU_FORCE=0 skips them on a
# GPU machine (the harness's own tests). Binaries come from tests/gpu/carry/
# when tests/gpu/prepare.sh made it, else bin/ and build/tests/ (PIC_GPU_BIN
# and PIC_GPU_TESTS override both).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case ${OUT:-} in
'') OUT=$ROOT/gpu-out ;;
/*) ;;
*) OUT=$PWD/$OUT ;;
esac
cd "$ROOT" || exit 1
# The GPU machine reaches no network: transformers and huggingface_hub must
# not wait on one (every model they load here is a local folder or a config).
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
# NCCL bootstraps over a socket even as one rank (test_cuda_dist_nccl), and on
# a machine without network its search for an interface can hang: loopback,
# and no InfiniBand.
export NCCL_SOCKET_IFNAME=lo NCCL_IB_DISABLE=1
BUDGET=${PIC_GPU_BUDGET:-440}
RESERVE=10 # seconds kept for the summary
SECTIONS=" ${PIC_GPU_SECTIONS:-unit sample fp32 bf16 gen train pipe bench} "
MODELS=(qwen2-tiny qwen3-tiny llama-tiny)
# not FIXTURES: test_model reads that one as the fixtures' parent folder
GPU_FIXTURES=tests/fixtures/models
case $BUDGET in '' | *[!0-9]*) echo "run.sh: PIC_GPU_BUDGET wants whole seconds, got '$BUDGET'" >&2; exit 2 ;; esac
mkdir -p "$OUT" || exit 1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SUMMARY=$OUT/summary.tsv RESULTS=$OUT/results.tsv
# the section logs grow here and reach $OUT only packed (log, below)
LOGS=$WORK/logs
mkdir "$LOGS" || exit 1
: >"$SUMMARY"
: >"$RESULTS"
# (loose section logs are an earlier run.sh's, in a reused $OUT)
rm -f "$OUT"/info.log "$OUT"/unit.log "$OUT"/fp32.log "$OUT"/bf16.log "$OUT"/gen.log "$OUT"/train.log "$OUT"/bench.log \
    "$OUT"/sections.tar.gz "$OUT"/sections.tar.gz.part
START=$SECONDS

# wanted SECTION: true when PIC_GPU_SECTIONS names it
wanted() { [[ $SECTIONS == *" $1 "* ]]; }

# row CHECK RESULT NUMBER GOAL: one line of the summary
row() { printf '%s\t%s\t%s\t%s\n' "${1//$'\t'/ }" "$2" "${3//$'\t'/ }" "${4//$'\t'/ }" >>"$SUMMARY"; }

# within CAP FILE CMD...: CMD's output into FILE, under a timeout of CAP
# seconds or what the budget has left; 125 when nothing is left
within() {
    local cap=$1 file=$2 left
    shift 2
    left=$((BUDGET - RESERVE - (SECONDS - START)))
    [ "$cap" -gt "$left" ] && cap=$left
    if [ "$cap" -lt 5 ]; then
        echo "not run (budget spent): $*" >"$file"
        return 125
    fi
    timeout -k 5 "$cap" "$@" >"$file" 2>&1
}

# log SECTION FILE STATUS CMD...: append a command's output to a section's
# log (info.log lives in $OUT; the others in $LOGS, packed again at once)
log() {
    local section=$1 file=$2 status=$3
    shift 3
    if [ "$section" = info ]; then
        { echo "## [$((SECONDS - START))s] exit $status: $*"; cat "$file"; echo; } >>"$OUT/info.log"
    else
        { echo "## [$((SECONDS - START))s] exit $status: $*"; cat "$file"; echo; } >>"$LOGS/$section.log"
        pack
    fi
}

# pack: $LOGS into $OUT/sections.tar.gz, replaced whole (tar into .part, then
# mv), so that a call killed at any moment leaves the logs of every step
# before it and $OUT never more than five files: info.log, results.tsv,
# summary.tsv, sections.tar.gz and, for an instant, its .part. The device
# tool brings back at most 8; seven loose section logs beside the others
# would be 10, and packed only at the end they were lost with a killed call.
pack() {
    local logs
    logs=$(cd "$LOGS" && ls)
    [ -n "$logs" ] || return 0
    # shellcheck disable=SC2086 # the names are run.sh's own: section.log
    tar -C "$LOGS" -czf "$OUT/sections.tar.gz.part" $logs && mv -f "$OUT/sections.tar.gz.part" "$OUT/sections.tar.gz"
}

# timed_out STATUS: true for timeout's and SIGKILL's statuses, and budget spent
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ] || [ "$1" -eq 125 ]; }

# why STATUS FILE: what stopped a step, in a few words
why() {
    if timed_out "$1"; then
        echo "timed out"
    else
        echo "exit $1: $(grep -v -e '^[[:space:]]*$' -e "^Try '.* --help'" "$2" | tail -1 | cut -c1-160)"
    fi
}

# torch_errors SECTION CAP OUT SCRIPT ARGS...: a PyTorch reference script's
# error lines into OUT, or a '# failed: ...' line there that bf16_verdict.py
# turns into a FAIL row (no torch, or the script failed)
torch_errors() {
    local section=$1 cap=$2 out=$3 script=$4 st
    shift 4
    if [ "$HAVE_TORCH" != 1 ]; then
        echo "# failed: python3 cannot import torch and transformers" >"$out"
        return
    fi
    within "$cap" "$f" env PYTHONUNBUFFERED=1 python3 "tests/gpu/$script" "$@"
    st=$?
    log "$section" "$f" $st "$script"
    cp "$f" "$out"
    if [ $st -ne 0 ]; then echo "# failed: $script $(why $st "$f")" >>"$out"; fi
}

# tap CHECK FILE STATUS GOAL: one row from a TAP test's output. On a GPU
# machine a test that saw no device FAILs, however its host-only checks went:
# test_cuda_sampler and test_cuda_layers print "# no CUDA device: ..." and
# still pass those, the others plan "1..0 # SKIP no CUDA device"; either
# means the runtime could not reach the driver, and every GPU row after it
# is hollow.
tap() {
    local check=$1 file=$2 status=$3 goal=$4 counts ok bad plan skipped
    counts=$(awk '/^ok /{ok++} /^not ok /{bad++}
                  /^1\.\.[0-9]+/{split($1, a, "\\.\\."); plan = a[2]; if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skipall = 1}
                  END {printf "%d %d %d %d", ok, bad, plan == "" ? -1 : plan, skipall}' "$file")
    read -r ok bad plan skipped <<<"$counts"
    if timed_out "$status"; then
        row "$check" FAIL "timed out ($ok ok before it)" "$goal"
    elif [ "$skipped" = 1 ] && [ "$plan" -eq 0 ] && [ "$status" -eq 0 ] && [ "$HAVE_GPU" = 1 ]; then
        row "$check" FAIL "skipped on a GPU machine: $(grep -m1 '^1\.\.0' "$file" | sed 's/^1\.\.0 *# *\(SKIP\)\{0,1\} *//')" "$goal"
    elif [ "$HAVE_GPU" = 1 ] && grep -qi 'no CUDA device' "$file"; then
        row "$check" FAIL "saw no CUDA device on a GPU machine ($ok/$plan host-only checks ok): $(grep -m1 -i 'no CUDA device' "$file" | cut -c1-100)" "$goal"
    elif [ "$skipped" = 1 ] && [ "$plan" -eq 0 ] && [ "$status" -eq 0 ]; then
        row "$check" SKIP "$(grep -m1 '^1\.\.0' "$file" | sed 's/^1\.\.0 *# *\(SKIP\)\{0,1\} *//')" "$goal"
    elif [ "$status" -ne 0 ] || [ "$bad" -gt 0 ] || [ "$plan" -lt 0 ] || [ "$ok" -ne "$plan" ]; then
        row "$check" FAIL "$ok/$plan ok, $bad not ok, exit $status" "$goal"
    else
        row "$check" PASS "$ok/$plan ok" "$goal"
    fi
}

# ---- what this machine has -------------------------------------------------
CARRY=${PIC_GPU_CARRY:-tests/gpu/carry} # the harness's tests give another
# prepare.sh packs the binaries into one xz stream (they share their CUDA
# kernels, and eleven raw copies would not fit the carry). They unpack into
# the scratch folder, never into the carry: unpacked there (79 MB) the carry
# would no longer fit a device call. Python's tarfile reads xz, so the xz
# program need not be on the GPU machine.
UNTAR='import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))'
if [ -f "$CARRY/bin.tar.xz" ] && timeout 120 python3 -c "$UNTAR" "$CARRY/bin.tar.xz" "$WORK" 2>>"$OUT/info.log"; then
    BIN=$WORK/bin TESTS=$WORK/tests
else
    [ -f "$CARRY/bin.tar.xz" ] && echo "run.sh: could not unpack $CARRY/bin.tar.xz" >>"$OUT/info.log"
    BIN=bin TESTS=build/tests
fi
BIN=${PIC_GPU_BIN:-$BIN} TESTS=${PIC_GPU_TESTS:-$TESTS}
HAVE_GPU=0
# the driver's folder may hold nvidia-smi without PATH naming it
command -v nvidia-smi >/dev/null || { [ -x /usr/local/nvidia/bin/nvidia-smi ] && PATH=$PATH:/usr/local/nvidia/bin; }
if [ "${PIC_GPU_FORCE:-}" = 0 ]; then
    echo "PIC_GPU_FORCE=0" >"$WORK/gpus"
elif ! command -v nvidia-smi >/dev/null; then
    echo "no nvidia-smi on PATH or in /usr/local/nvidia/bin" >"$WORK/gpus"
elif timeout 20 nvidia-smi -L >"$WORK/gpus" 2>&1 && grep -q '^GPU ' "$WORK/gpus"; then
    HAVE_GPU=1
fi
[ "${PIC_GPU_FORCE:-}" = 1 ] && HAVE_GPU=1
f=$WORK/step
{
    echo "date: $(date -u +%FT%TZ)  host: $(uname -srm)  budget: ${BUDGET}s"
    echo "binaries: $BIN, $TESTS  sections:$SECTIONS"
    [ -f "$CARRY/VERSION" ] && cat "$CARRY/VERSION"
    echo "this machine: $(ldd --version 2>&1 | head -1)"
    echo "inherited LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-(unset)}"
} >>"$OUT/info.log"
# The carry's binaries and libraries need the glibc prepare.sh found in them
# (its VERSION's "glibc:" line); an older one fails every step, so say so first.
need=$(sed -n 's/^glibc: *\([0-9][0-9.]*\)$/\1/p' "$CARRY/VERSION" 2>/dev/null)
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
if [ -n "$need" ] && [ -n "$have" ]; then
    if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ]; then
        row glibc PASS "$have (the carry needs $need)" "the carry's glibc or newer"
    else
        row glibc FAIL "this machine has $have, the carry needs $need: build the carry on an older system" \
            "the carry's glibc or newer"
    fi
fi
cp "$WORK/gpus" "$f"
st=1
if command -v nvidia-smi >/dev/null; then
    within 20 "$f" nvidia-smi
    st=$?
fi
log info "$f" $st nvidia-smi
if [ "$HAVE_GPU" = 1 ] && [ $st -eq 0 ]; then
    within 20 "$f" nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
    log info "$f" $? nvidia-smi --query-gpu
    row gpu PASS "$(head -1 "$f")" "a CUDA device"
elif [ "$HAVE_GPU" = 1 ]; then
    row gpu FAIL "PIC_GPU_FORCE=1 but nvidia-smi: $(tail -1 "$f")" "a CUDA device"
else
    row gpu SKIP "no GPU (nvidia-smi: $(head -1 "$WORK/gpus"))" "a CUDA device"
fi
HAVE_TORCH=0
within 60 "$f" python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "transformers", transformers.__version__)'
st=$?
log info "$f" $st python3 import torch transformers
[ $st -eq 0 ] && HAVE_TORCH=1

# Libraries: the bundle prepare.sh made (this build machine's jansson,
# OpenBLAS, ...), then each library the binaries still miss from the first
# folder that has it: the CUDA toolkit's, the driver's, then the nvidia-*
# wheels beside python3's torch (PIC_GPU_LIB_DIRS, space-separated, are
# searched first). Only pic's binaries get this path: python3 keeps its own.
PIC_LD_PATH=
if [ -f "$CARRY/lib.tar.xz" ]; then
    within 60 "$f" python3 -c "$UNTAR" "$CARRY/lib.tar.xz" "$WORK"
    log info "$f" $? unpack "$CARRY/lib.tar.xz"
    PIC_LD_PATH=$WORK/lib
fi
# then the machine's own path, which replacing would lose: images often
# reach the driver's libcuda.so.1 only through it
[ -n "${LD_LIBRARY_PATH:-}" ] && PIC_LD_PATH=${PIC_LD_PATH:+$PIC_LD_PATH:}$LD_LIBRARY_PATH
lib_dirs() {
    local d
    for d in ${PIC_GPU_LIB_DIRS:-} /usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
        [ -d "$d" ] && echo "$d"
    done
    timeout 30 python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null |
        while read -r d; do [ -d "$d/nvidia" ] && find "$d/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null; done | sort -u
}
lib_dirs >"$WORK/libdirs"
{ echo "library folders searched:"; sed 's/^/  /' "$WORK/libdirs"; } >>"$OUT/info.log"
# cuBLASLt and NCCL are opened on first use (src/model/cuda/cublaslt.cu,
# src/common/dist_nccl.cu), and the static CUDA runtime opens the driver's
# libcuda.so.1, where ldd sees none of them: a binary that names one needs
# it as if linked (libcuda only on a GPU machine: elsewhere there is no
# driver to find).
dlopened_missing() { # such sonames that neither PIC_LD_PATH, the rpath nor ld.so's cache holds
    local lib d
    for lib in $(grep -aho 'lib\(cublasLt\|nccl\)\.so\.[0-9]*' "$@" 2>/dev/null | sort -u) \
        $([ "$HAVE_GPU" = 1 ] && echo libcuda.so.1); do
        for d in ${PIC_LD_PATH//:/ } /usr/local/cuda/lib64; do [ -e "$d/$lib" ] && continue 2; done
        ldconfig -p 2>/dev/null | grep -q "[[:space:]]$lib " && continue
        echo "$lib"
    done
}
missing_libs() { # the sonames ldd cannot find for the given binaries under PIC_LD_PATH
    local b
    {
        for b in "$@"; do
            [ -x "$b" ] && LD_LIBRARY_PATH=$PIC_LD_PATH ldd "$b" 2>/dev/null | awk '/not found/ {print $1}'
        done
        dlopened_missing "$@"
    } | sort -u
}
bins=("$BIN/pic-rollout" "$BIN/pic-model-bench" "$TESTS/test_model" "$BIN/pic-init") # the first 3: the binaries row
for t in "$TESTS"/test_cuda_* "$BIN/pic-update" "$TESTS/test_backward"; do [ -e "$t" ] && bins+=("$t"); done
used=
for lib in $(missing_libs "${bins[@]}"); do
    d=$(while read -r d; do [ -e "$d/$lib" ] && { echo "$d"; break; }; done <"$WORK/libdirs")
    if [ -n "$d" ]; then
        PIC_LD_PATH=${PIC_LD_PATH:+$PIC_LD_PATH:}$d
        used="$used $lib=$d"
    fi
done
export PIC_LD_PATH
still=$(missing_libs "${bins[@]}" | tr '\n' ' ')
echo "PIC_LD_PATH=$PIC_LD_PATH (found:${used:- nothing missing})" | tee -a "$OUT/info.log"
for b in "${bins[@]}"; do
    [ -x "$b" ] && { echo "ldd $b:"; LD_LIBRARY_PATH=$PIC_LD_PATH ldd "$b"; } >>"$OUT/info.log" 2>&1
done
if [ -n "$still" ]; then
    row libraries FAIL "missing: $still" "every library the binaries need"
else
    row libraries PASS "${used:-nothing to add}" "every library the binaries need"
fi
absent=
for b in "${bins[@]:0:3}"; do [ -x "$b" ] || absent="$absent $(basename "$b")"; done
if [ -n "$absent" ]; then
    row binaries FAIL "not built:$absent" "pic-rollout, pic-model-bench, test_model"
else
    row binaries PASS "$BIN, $TESTS" "pic-rollout, pic-model-bench, test_model"
fi

# ---- the canary: one small CUDA test before the rest -----------------------
# A device the runtime cannot reach (a driver it does not match, an init that
# hangs) shows here in seconds; without this every later GPU step would wait
# out its own cap, and together they exceed the budget. When the canary times
# out, or sees no CUDA device on a GPU machine, each GPU section wanted is a
# SKIP row "skipped: canary failed" (the canary's own row FAILs). It runs
# whenever a GPU section is wanted, its row standing for its unit row.
# UNIT_CAP: the seconds each CUDA unit test gets (the slowest take ~15 s;
# test_cuda_backward computes its CPU references on the GPU machine too).
UNIT_CAP=45
UNIT_GOAL="all ok (rel. err <= 1e-5 f32, 1e-2 bf16)"
CANARY='' CANARY_FAILED=''
gpu_wanted() { local s; for s in unit sample fp32 bf16 gen train pipe bench genbench trainbench stepcost sanitize; do wanted $s && return 0; done; return 1; }
if [ "$HAVE_GPU" = 1 ] && gpu_wanted; then
    # test_cuda_logits: three logits heads against a double reference, ~1 s
    for t in test_cuda_logits test_cuda_layers; do [ -x "$TESTS/$t" ] && { CANARY=$t; break; }; done
    if [ -n "$CANARY" ]; then
        within $UNIT_CAP "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$TESTS/$CANARY"
        st=$?
        log unit "$f" $st "$TESTS/$CANARY (the canary)"
        tap "canary $CANARY" "$f" $st "$UNIT_GOAL, in ${UNIT_CAP}s"
        if timed_out $st; then
            CANARY_FAILED="$CANARY timed out"
        elif grep -qi 'no CUDA device' "$f"; then
            CANARY_FAILED="$CANARY saw no CUDA device"
        fi
    else
        echo "no canary: neither test_cuda_logits nor test_cuda_layers in $TESTS" >>"$OUT/info.log"
    fi
fi
# canary_failed SECTION: true, after its SKIP row, when the canary failed
canary_failed() {
    [ -n "$CANARY_FAILED" ] || return 1
    row "$1" SKIP "skipped: canary failed ($CANARY_FAILED)" "the canary runs on the GPU"
}

# ---- the CUDA unit tests: each layer against its CPU twin ------------------
if wanted unit && ! canary_failed "unit test_cuda_*"; then
    n=0
    for t in "$TESTS"/test_cuda_*; do
        [ -x "$t" ] || continue
        [ "$(basename "$t")" = test_cuda_sampler ] && continue # its own section, next
        n=$((n + 1))
        [ "$(basename "$t")" = "$CANARY" ] && continue # run above
        within $UNIT_CAP "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$t"
        st=$?
        log unit "$f" $st "$t"
        tap "unit $(basename "$t")" "$f" $st "$UNIT_GOAL"
        # a failure where bf16 runs tensor cores: again with the products and
        # attention on the CUDA cores, to tell whether those kernels are why
        case $(basename "$t") in test_cuda_layers | test_cuda_invariance | test_cuda_backward)
            if { [ $st -ne 0 ] || grep -q '^not ok' "$f"; } && ! timed_out $st && [ "$HAVE_GPU" = 1 ]; then
                within $UNIT_CAP "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PIC_CUDA_BI=simt PIC_CUDA_ATTN=simt "$t"
                st=$?
                log unit "$f" $st "PIC_CUDA_BI=simt PIC_CUDA_ATTN=simt $t"
                tap "unit $(basename "$t") simt" "$f" $st "PASS: the tensor-core kernels are the failure"
            fi ;;
        esac
    done
    # the GPU run needs them; elsewhere a CUDA=0 build is a choice
    [ $n -eq 0 ] && row "unit test_cuda_*" "$([ "$HAVE_GPU" = 1 ] && echo FAIL || echo SKIP)" \
        "none in $TESTS (built with CUDA=0?)" "one per CUDA layer"
fi

# ---- the device sampler against the CPU's: ~15 s -----------------------------
# Greedy always the CPU's token; sampled tokens the CPU's for the same u but
# where u (or the top-p cut) is within rounding of a cumulative-mass
# boundary, those counted and bounded; log-prob and entropy within fp32
# bounds; a row alone = the same row in a batch (tests/unit/test_cuda_sampler.cu).
SAMPLE_GOAL="greedy = CPU; sampled = CPU but at a boundary; lp 2e-6, H 2e-5; row alone = in batch"
if ! wanted sample || canary_failed "sample test_cuda_sampler"; then
    :
elif [ "$HAVE_GPU" = 1 ] && [ -x "$TESTS/test_cuda_sampler" ]; then
    within $UNIT_CAP "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$TESTS/test_cuda_sampler"
    st=$?
    log unit "$f" $st "$TESTS/test_cuda_sampler" # unit.log: what comes back from the device is few files
    tap "sample test_cuda_sampler" "$f" $st "$SAMPLE_GOAL"
    row "sample boundary draws" INFO "$(grep -m1 '^# boundary: ' "$f" | cut -c13- || echo 'no count printed')" \
        "<= 1 in 1000 draws, each within 4 n 2^-53 of a boundary"
elif [ "$HAVE_GPU" = 1 ]; then
    row "sample test_cuda_sampler" FAIL "not in $TESTS (built with CUDA=0?)" "$SAMPLE_GOAL"
else
    row "sample test_cuda_sampler" SKIP "no GPU" "$SAMPLE_GOAL"
fi

# ---- the golden fixtures: records that score every position ----------------
for m in "${MODELS[@]}"; do
    python3 tests/gpu/golden.py records "$GPU_FIXTURES/$m" >"$WORK/$m.in" 2>"$f" ||
        row "golden records $m" FAIL "$(tail -1 "$f")" "records from golden.json"
done

# score DTYPE MODEL: pic-rollout --score on the GPU, output in $WORK/DTYPE.MODEL.out
score() {
    within 60 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$BIN/pic-rollout" --score --device cuda --dtype "$1" \
        -m "$GPU_FIXTURES/$2" --plain -q -o "$WORK/$1.$2.out" "$WORK/$2.in"
}

# ---- fp32: the CPU's tolerances --------------------------------------------
if ! wanted fp32 || canary_failed "fp32 test_model, score"; then
    :
elif [ "$HAVE_GPU" = 1 ]; then
    within 120 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=f32 "$TESTS/test_model"
    st=$?
    log fp32 "$f" $st PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=f32 "$TESTS/test_model"
    tap "fp32 test_model" "$f" $st "golden within the CPU's tolerances"
    for m in "${MODELS[@]}"; do
        score f32 "$m"
        st=$?
        log fp32 "$f" $st pic-rollout --score --dtype f32 "$m"
        if [ $st -ne 0 ]; then
            row "fp32 score $m" FAIL "pic-rollout $(why $st "$f")" "golden within float32 rounding bound"
        elif python3 tests/gpu/golden.py fp32 "$GPU_FIXTURES/$m" "$WORK/f32.$m.out" >"$f" 2>&1; then
            log fp32 "$f" 0 golden.py fp32 "$m"
            row "fp32 score $m" PASS "$(tail -1 "$f")" "golden within float32 rounding bound"
        else
            log fp32 "$f" 1 golden.py fp32 "$m"
            row "fp32 score $m" FAIL "$(tail -1 "$f")" "golden within float32 rounding bound"
        fi
    done
else
    row "fp32 test_model, score" SKIP "no GPU" "golden within the CPU's tolerances"
fi

# ---- bf16: no worse than PyTorch's own bf16 on the same inputs -------------
if ! wanted bf16 || canary_failed "bf16 test_model, score"; then
    :
elif [ "$HAVE_GPU" = 1 ]; then
    within 120 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=bf16 "$TESTS/test_model"
    st=$?
    log bf16 "$f" $st PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=bf16 "$TESTS/test_model"
    tap "bf16 test_model" "$f" $st "all ok"
    cp "$f" "$WORK/test_model.bf16"
    : >"$WORK/pic.tsv"
    for m in "${MODELS[@]}"; do
        score bf16 "$m"
        st=$?
        log bf16 "$f" $st pic-rollout --score --dtype bf16 "$m"
        if [ $st -ne 0 ]; then
            row "bf16 score $m" FAIL "pic-rollout $(why $st "$f")" "<= 1.5 x PyTorch bf16"
        elif ! python3 tests/gpu/golden.py errors "$GPU_FIXTURES/$m" "$WORK/bf16.$m.out" pic >>"$WORK/pic.tsv" 2>"$f"; then
            log bf16 "$f" 1 golden.py errors "$m"
            row "bf16 score $m" FAIL "$(tail -1 "$f")" "<= 1.5 x PyTorch bf16"
        fi
    done
    torch_errors bf16 150 "$WORK/torch.tsv" torch_bf16.py "$GPU_FIXTURES" "${MODELS[@]}" stories260K
    python3 tests/gpu/bf16_verdict.py "$WORK/torch.tsv" --score "$WORK/pic.tsv" \
        --test-model "$WORK/test_model.bf16" --rows "$SUMMARY" >"$f" 2>&1
    st=$?
    log bf16 "$f" $st bf16_verdict.py
    # a verdict that dies has written no row: without this one the summary would show no FAIL
    [ $st -eq 0 ] || row "bf16 verdict" FAIL "$(why $st "$f")" "a row per model and source"
    { echo "# bf16 errors against golden (pic, PyTorch)"; cat "$f"; echo; } >>"$RESULTS"
else
    row "bf16 test_model, score" SKIP "no GPU" "<= PyTorch's bf16 error"
fi

# ---- generation on the GPU (about 90 s) --------------------------------------
# gen CAP NAME ARGS...: pic-rollout on the GPU, output in $WORK/NAME
gen() {
    local cap=$1 name=$2
    shift 2
    within "$cap" "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$BIN/pic-rollout" --plain -q -o "$WORK/$name" "$@"
    local st=$?
    log gen "$f" $st pic-rollout "$@"
    return $st
}
# gen_row CHECK GOAL CMD...: a PASS or FAIL row from gen_check.py's line
gen_row() {
    local check=$1 goal=$2
    shift 2
    if python3 tests/gpu/gen_check.py "$@" >"$f" 2>&1; then
        row "$check" PASS "$(tail -1 "$f")" "$goal"
    else
        row "$check" FAIL "$(tail -1 "$f")" "$goal"
    fi
    log gen "$f" 0 gen_check.py "$@"
}
if ! wanted gen || canary_failed "gen greedy, sampling, logprobs"; then
    :
elif [ "$HAVE_GPU" = 1 ]; then
    # greedy in f32 equals transformers' (golden, = the CPU's) on every fixture
    for m in "${MODELS[@]}"; do
        python3 tests/gpu/gen_check.py greedy "$GPU_FIXTURES/$m" >"$WORK/greedy.$m.in"
        if gen 30 "greedy.$m" --device cuda --dtype f32 -m "$GPU_FIXTURES/$m" -t 0 --max-new-tokens 24 --ignore-eos \
            "$WORK/greedy.$m.in"; then
            gen_row "gen greedy f32 $m" "= golden (the CPU's)" golden "$GPU_FIXTURES/$m" "$WORK/greedy.$m"
        else
            row "gen greedy f32 $m" FAIL "pic-rollout $(why $? "$f")" "= golden (the CPU's)"
        fi
    done
    # sampling in bf16: the same bytes at batch 1, 7, 64 and across --shard
    python3 tests/gpu/gen_check.py prompts 9 >"$WORK/prompts.in"
    S=(--device cuda -m "$GPU_FIXTURES/qwen2-tiny" -n 4 -t 0.7 --top-p 0.95 --max-new-tokens 40 --seed 3)
    ok=1
    for b in 64 7 1; do
        gen 40 "sample.b$b" "${S[@]}" --max-batch-size $b "$WORK/prompts.in" || ok=0
        # pic-rollout's warning when a capture failed and the steps ran without graphs
        [ $b != 64 ] || grep -h "without CUDA graphs" "$f" >"$WORK/graphs.off"
    done
    gen 30 sample.s0 "${S[@]}" --shard 0/2 "$WORK/prompts.in" || ok=0
    gen 30 sample.s1 "${S[@]}" --shard 1/2 "$WORK/prompts.in" || ok=0
    # a pool of 8 pages for 36 sequences: preempted and recomputed on the device, the same bytes
    gen 40 sample.kv "${S[@]}" --kv-cache-tokens 512 "$WORK/prompts.in" || ok=0
    # decode steps without their CUDA graphs: the same kernels, the same bytes
    (export PIC_CUDA_GRAPHS=0 && gen 40 sample.nograph "${S[@]}" "$WORK/prompts.in") || ok=0
    # kernels launched without programmatic dependent launch (common.cuh): the same kernels, the same bytes
    (export PIC_CUDA_PDL=0 && gen 40 sample.nopdl "${S[@]}" "$WORK/prompts.in") || ok=0
    if [ $ok = 1 ]; then
        cat "$WORK/sample.s0" "$WORK/sample.s1" >"$WORK/sample.shards"
        for v in b7 b1 shards kv nograph nopdl; do
            if [ $v = nograph ] && [ -s "$WORK/graphs.off" ]; then
                # both sides ran without graphs: the row would prove nothing
                row "gen bf16 same bytes: batch 64 = $v" FAIL "$(head -1 "$WORK/graphs.off" | cut -c1-160)" \
                    "byte-identical, with graphs"
            elif cmp -s "$WORK/sample.b64" "$WORK/sample.$v"; then
                row "gen bf16 same bytes: batch 64 = $v" PASS "$(wc -l <"$WORK/sample.b64") samples" "byte-identical"
            else
                row "gen bf16 same bytes: batch 64 = $v" FAIL "outputs differ" "byte-identical"
            fi
        done
        # exact on-policy: --score on the same device and dtype gives the generator's log-probs
        if gen 30 sample.rescored --score --device cuda -m "$GPU_FIXTURES/qwen2-tiny" --logprobs-field rescored \
            "$WORK/sample.b64"; then
            gen_row "gen bf16 logprobs = --score" "max |diff| 0" logp "$WORK/sample.b64" "$WORK/sample.rescored" rescored 0
            # the weights loaded straight onto the GPU (the default) = through host floats
            if (export PIC_LOAD_VIA_HOST=1 && gen 30 sample.rescored.host --score --device cuda \
                -m "$GPU_FIXTURES/qwen2-tiny" --logprobs-field rescored "$WORK/sample.b64") &&
                cmp -s "$WORK/sample.rescored" "$WORK/sample.rescored.host"; then
                row "gen bf16 direct load = via host floats" PASS "--score's output byte-identical" "byte-identical"
            else
                row "gen bf16 direct load = via host floats" FAIL "outputs differ, or the run failed" "byte-identical"
            fi
        else
            row "gen bf16 logprobs = --score" FAIL "pic-rollout --score $(why $? "$f")" "max |diff| 0"
        fi
        # --fast (cuBLASLt) trades that away: how far apart
        if gen 40 fast.gen "${S[@]}" --fast "$WORK/prompts.in" &&
            gen 30 fast.rescored --score --fast --device cuda -m "$GPU_FIXTURES/qwen2-tiny" --logprobs-field rescored \
                "$WORK/fast.gen"; then
            python3 tests/gpu/gen_check.py logp "$WORK/fast.gen" "$WORK/fast.rescored" rescored >"$f" 2>&1
            row "gen bf16 --fast logprobs vs --score --fast" INFO "$(tail -1 "$f")" "reported (docs/gpu.md)"
        else
            row "gen bf16 --fast" FAIL "pic-rollout $(why $? "$f")" "runs"
        fi
    else
        row "gen bf16 sampling" FAIL "pic-rollout $(why 1 "$f")" "byte-identical at batch 1, 7, 64, --shard, a short cache, no graphs and no PDL"
    fi
    # The tensor-core decode attention (heads of 64 and 128; the fixtures' are
    # smaller, so nothing above reaches it): random 2-layer models, prompts of
    # 20 to 1000 ids, so that decode rows cross segments of 512 positions. A
    # block per head, a query group per block, the split (the default) and
    # batch 1 give the same bytes, and --score the generator's log-probs.
    python3 -c 'import json, random
r = random.Random(7)
for i, n in enumerate((20, 300, 500, 505, 700, 1000)):
    print(json.dumps({"id": i, "prompt_ids": [r.randrange(3, 250) for _ in range(n)]}))' >"$WORK/long.in"
    for hd in 64 128; do
        shape=(--hidden 896 --heads 14 --kv-heads 2)
        [ $hd = 128 ] && shape=(--hidden 768 --heads 6 --kv-heads 2)
        ck=$WORK/tc$hd
        within 60 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$BIN/pic-init" -q "${shape[@]}" --layers 2 --intermediate 512 --max-position 2048 --bf16 -o "$ck"
        st=$?
        log gen "$f" $st pic-init "${shape[@]}"
        if [ $st != 0 ]; then
            row "gen bf16 decode attention, heads of $hd" FAIL "pic-init $(why $st "$f")" "byte-identical; = --score"
            continue
        fi
        D=(--device cuda -m "$ck" -n 3 -t 0.8 --max-new-tokens 48 --ignore-eos --seed 5)
        ok=1
        gen 40 "tc$hd.split" "${D[@]}" "$WORK/long.in" || ok=0
        (export PIC_CUDA_DECODE_ATTN=group && gen 40 "tc$hd.group" "${D[@]}" "$WORK/long.in") || ok=0
        (export PIC_CUDA_DECODE_ATTN=head && gen 40 "tc$hd.head" "${D[@]}" "$WORK/long.in") || ok=0
        gen 40 "tc$hd.b1" "${D[@]}" --max-batch-size 1 "$WORK/long.in" || ok=0
        if [ $ok = 0 ]; then
            row "gen bf16 decode attention, heads of $hd" FAIL "pic-rollout $(why 1 "$f")" "byte-identical; = --score"
            continue
        fi
        for v in group head b1; do
            if cmp -s "$WORK/tc$hd.split" "$WORK/tc$hd.$v"; then
                row "gen bf16 decode attention, heads of $hd: split = $v" PASS "$(wc -l <"$WORK/tc$hd.split") samples" \
                    "byte-identical"
            else
                row "gen bf16 decode attention, heads of $hd: split = $v" FAIL "outputs differ" "byte-identical"
            fi
        done
        if gen 30 "tc$hd.rescored" --score --device cuda -m "$ck" --logprobs-field rescored "$WORK/tc$hd.split"; then
            gen_row "gen bf16 heads of $hd logprobs = --score" "max |diff| 0" logp "$WORK/tc$hd.split" \
                "$WORK/tc$hd.rescored" rescored 0
        else
            row "gen bf16 heads of $hd logprobs = --score" FAIL "pic-rollout --score $(why $? "$f")" "max |diff| 0"
        fi
    done
else
    row "gen greedy, sampling, logprobs" SKIP "no GPU" "= golden; byte-identical; = --score"
fi

# ---- training (issue 11): ~90 s -------------------------------------------
# update DIR OUT FILE ARGS...: pic-update on the GPU (or --device cpu in ARGS)
update() {
    local in=$1 out=$2 data=$3
    shift 3
    env LD_LIBRARY_PATH="$PIC_LD_PATH" "$BIN/pic-update" -m "$in" -o "$out" --lr 1e-2 --threads 4 -q "$@" "$data"
}
# resume_check DTYPE MODEL: two invocations equal one of two mini-batches, bit for bit
resume_check() {
    local d=$WORK/resume.$1.$2 u=tests/fixtures/update/$2-step.jsonl
    mkdir -p "$d" && { cat "$u"; sed 's/"golden-/"again-/' "$u"; } >"$d/six" &&
        head -n "$(wc -l <"$u")" "$d/six" >"$d/a" && tail -n "$(wc -l <"$u")" "$d/six" >"$d/b" &&
        update "$GPU_FIXTURES/$2" "$d/s1" "$d/a" --device cuda --dtype "$1" >/dev/null &&
        update "$d/s1" "$d/s2" "$d/b" --device cuda --dtype "$1" >/dev/null &&
        update "$GPU_FIXTURES/$2" "$d/u" "$d/six" --device cuda --dtype "$1" --mini-batches 2 >/dev/null &&
        cmp "$d/s2/model.safetensors" "$d/u/model.safetensors" &&
        cmp "$d/s2/optimizer.safetensors" "$d/u/optimizer.safetensors"
}
# track DTYPE: 50 steps of qwen2-tiny on the GPU and on the CPU, each run one
# pic-update of 50 mini-batches (the step file's records 50 times over, ids
# renamed per copy, so each mini-batch is one copy); the largest gap of the
# loss and of the entropy over the steps (the stats line's `steps`), relative
# to their mean size. The loss is SFT's at lr 3e-4 (the later --lr wins):
# the policy loss on one batch seen 50 times saturates at PPO's clip within
# five steps, and from there the weights drift on AdamW's momentum and decay
# along a flat direction where any rounding grows: at lr 1e-2 the CUDA
# kernels on the host (the emulator) part from the CPU by 0.235 in entropy
# in f32, the H200 by 0.098 (docs/gpu-checks.md). SFT's descent has no such
# plateau: entropy 4.2 -> 0.12, the emulator within 2e-7 of the CPU in f32
# and 3.4e-3 in bf16.
track() {
    local u=tests/fixtures/update/qwen2-tiny-step.jsonl k
    for k in $(seq 1 50); do sed "s/\"golden-/\"step$k-/" "$u"; done >"$WORK/track.in"
    update "$GPU_FIXTURES/qwen2-tiny" "$WORK/track.cpu" "$WORK/track.in" --device cpu --dtype f32 --mini-batches 50 \
        --loss sft --lr 3e-4 >"$WORK/track.cpu.json" || return 1
    update "$GPU_FIXTURES/qwen2-tiny" "$WORK/track.cuda" "$WORK/track.in" --device cuda --dtype "$1" --mini-batches 50 \
        --loss sft --lr 3e-4 >"$WORK/track.cuda.json" || return 1
    python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["steps"]; b = json.load(open(sys.argv[2]))["steps"]
# every tenth step into the log: the curves, not only their gap
for i in list(range(0, len(a), 10)) + [len(a) - 1]:
    print("step %2d  loss cpu %.6g gpu %.6g  entropy cpu %.6g gpu %.6g" % (i, a[i]["loss"], b[i]["loss"], a[i]["entropy"], b[i]["entropy"]))
# the largest difference over the steps, relative to the mean size of the CPU values (a loss crosses 0)
gap = lambda k: max(abs(x[k] - y[k]) for x, y in zip(a, b)) / max(sum(abs(x[k]) for x in a) / len(a), 1e-3)
print("loss gap %.3g, entropy gap %.3g over %d steps" % (gap("loss"), gap("entropy"), len(a)))
sys.exit(0 if len(a) == len(b) == 50 and gap("loss") <= float(sys.argv[3]) and gap("entropy") <= float(sys.argv[3]) else 1)' \
        "$WORK/track.cpu.json" "$WORK/track.cuda.json" "$([ "$1" = f32 ] && echo 1e-3 || echo 5e-2)"
}
# (functions run under `within`'s timeout through a child bash)
export -f update resume_check track
export BIN WORK GPU_FIXTURES
if ! wanted train || canary_failed "train"; then
    :
elif [ "$HAVE_GPU" = 1 ] && [ -x "$TESTS/test_backward" ] && [ -x "$BIN/pic-update" ]; then
    for d in f32 bf16; do
        within 25 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=$d "$TESTS/test_backward"
        st=$?
        log train "$f" $st PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=$d "$TESTS/test_backward"
        tap "$d test_backward" "$f" $st "golden gradients (pg, entropic, entropic_all, sft) and AdamW$([ $d = f32 ] && echo " to the CPU's bounds")"
        [ $d = bf16 ] && cp "$f" "$WORK/test_backward.bf16"
    done
    # PyTorch autocast's bf16 gradients on the same models and batch: pic's
    # worst tensor within 2x of its (bf16_verdict.py)
    torch_errors train 90 "$WORK/torch_grads.tsv" torch_grads.py "$GPU_FIXTURES" "${MODELS[@]}"
    python3 tests/gpu/bf16_verdict.py "$WORK/torch_grads.tsv" --grads "$WORK/test_backward.bf16" \
        --rows "$SUMMARY" >"$f" 2>&1
    st=$?
    log train "$f" $st bf16_verdict.py --grads
    [ $st -eq 0 ] || row "bf16 grads verdict" FAIL "$(why $st "$f")" "a row per model"
    { echo "# bf16 gradient errors against golden (pic, PyTorch autocast)"; cat "$f"; echo; } >>"$RESULTS"
    for d in f32:qwen2-tiny bf16:qwen3-tiny; do
        within 25 "$f" bash -c 'resume_check "$@"' _ "${d%%:*}" "${d#*:}"
        st=$?
        log train "$f" $st resume_check "$d"
        row "train resume ${d/:/ }" "$([ $st -eq 0 ] && echo PASS || echo FAIL)" "$([ $st -eq 0 ] && echo "bit for bit" || why $st "$f")" "two runs = one of two steps, bit for bit"
    done
    for d in f32 bf16; do
        within 60 "$f" bash -c 'track "$@"' _ $d
        st=$?
        log train "$f" $st track $d
        row "train $d GPU vs CPU" "$([ $st -eq 0 ] && echo PASS || echo FAIL)" "$(tail -1 "$f")" "50 steps, loss and entropy within $([ $d = f32 ] && echo 1e-3 || echo 5e-2)"
    done
else
    row "train" SKIP "no GPU (or no test_backward / pic-update)" "golden gradients, resume, GPU vs CPU"
fi

# ---- train.sh --device cuda end to end (issues 11, 12): ~60 s ----------------
# tests/gpu/pipeline.sh: the demo's model (pic-init's tokenizer and weights,
# an SFT warm-up on the GPU), then 20 RL steps of pipelines/train.sh with
# generation and training on the GPU. The carry's programs and tools (jq,
# zstd) come first on PATH.
# (PIC_GPU_PIPE_DEVICE and PIC_GPU_PIPE_STEPS: the harness's tests, on a CPU)
# The first PIPE_SERVE of them again with train.sh --serve: the same records.
PIPE_DEVICE=${PIC_GPU_PIPE_DEVICE:-cuda} PIPE_STEPS=${PIC_GPU_PIPE_STEPS:-20} PIPE_SERVE=${PIC_GPU_PIPE_SERVE:-6}
PIPE_GOAL="$PIPE_STEPS steps, generated and trained on the GPU; logp_diff_max 0 (exact on-policy); --serve the same"
if ! wanted pipe || canary_failed "pipe train.sh --device cuda"; then
    :
elif [ "$HAVE_GPU" = 1 ] && [ -x "$BIN/pic-rollout" ] && [ -x "$BIN/pic-update" ]; then
    within 150 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PATH="$BIN:$PATH" tests/gpu/pipeline.sh "$WORK/pipe" \
        --device "$PIPE_DEVICE" --steps "$PIPE_STEPS" --serve-steps "$PIPE_SERVE"
    st=$?
    log pipe "$f" $st tests/gpu/pipeline.sh "$WORK/pipe" --device "$PIPE_DEVICE" --steps "$PIPE_STEPS" \
        --serve-steps "$PIPE_SERVE"
    { echo "# tests/gpu/pipeline.sh --device $PIPE_DEVICE"; cat "$f"; echo; } >>"$RESULTS"
    line=$(grep '^{' "$f" | tail -1)
    if [ $st -eq 0 ] && [ -n "$line" ]; then
        number=$(python3 -c 'import json, sys
r = json.loads(sys.argv[1])
serve = ""
if "serve_same" in r:
    serve = "; --serve %s, %.1f s a step" % ("the same" if r["serve_same"] else "DIFFERS", r["serve_seconds_per_step"])
print("%d steps, %.1f s a step, %s %s; entropy %.3f -> %.3f (target %s), reward %.3f -> %.3f, logp_diff_max %g%s" % (
    r["steps"], r["seconds_per_step"], r["trained_on"], r["dtype"], r["entropy_first"], r["entropy_last"],
    r["target"], r["reward_first"], r["reward_last"], r["logp_diff_max"], serve))
sys.exit(0 if r["logp_diff_max"] == 0 and r.get("serve_same", True) else 1)' "$line")
        exact=$?
        row "pipe train.sh --device cuda" "$([ $exact -eq 0 ] && echo PASS || echo FAIL)" "$number" "$PIPE_GOAL"
    else
        done_steps=$(cat "$WORK/pipe/run/log.jsonl" 2>/dev/null | wc -l)
        row "pipe train.sh --device cuda" FAIL "$(why $st "$f"); $done_steps steps done" "$PIPE_GOAL"
    fi
else
    row "pipe train.sh --device cuda" SKIP "no GPU (or no pic-rollout / pic-update)" "$PIPE_GOAL"
fi

# ---- bench/gpu_score.sh ----------------------------------------------------
if ! wanted bench || canary_failed "bench/gpu_score.sh"; then
    :
elif [ "$HAVE_GPU" = 1 ]; then
    left=$((BUDGET - RESERVE - (SECONDS - START)))
    # the benchmark's last measurement may end 5 s past its budget (its
    # timeouts' -k 5), and the table is printed after it: 15 s to spare
    if [ $left -ge 45 ]; then
        PIC_BIN=$BIN timeout -k 5 $((left + 5)) bench/gpu_score.sh --budget "$((left - 15))" --rows "$SUMMARY" \
            --results "$WORK/bench" >"$f" 2>&1
        st=$?
        log bench "$f" $st bench/gpu_score.sh --budget "$((left - 15))"
        { echo "# bench/gpu_score.sh"; sed -n '/^bf16 matrix rate/,$p' "$f"; echo "# raw"; cat "$WORK/bench" 2>/dev/null; } >>"$RESULTS"
        [ $st -ne 0 ] && row "bench/gpu_score.sh" FAIL "exit $st$(timed_out $st && echo ' (timed out)')" "runs to the end"
    else
        row "bench/gpu_score.sh" SKIP "budget spent (${left}s left)" "tokens/s beside transformers"
    fi
else
    row "bench/gpu_score.sh" SKIP "no GPU" ">= 1.5x transformers, >= 50% of matmul"
fi

# ---- bench/gpu_generate.sh (asked for by name) ------------------------------
# spent NAME GOAL: true, after a SKIP row, when under 45 s of the budget is
# left for a benchmark asked for by name (each needs that much to measure
# anything; a budget spent is a skip, not the script's refusal of a
# negative --budget)
spent() {
    local left=$((BUDGET - RESERVE - (SECONDS - START)))
    [ $left -ge 45 ] && return 1
    row "$1" SKIP "budget spent (${left}s left)" "$2"
}

if wanted genbench && canary_failed bench/gpu_generate.sh; then
    :
elif wanted genbench && [ "$HAVE_GPU" = 1 ] && spent bench/gpu_generate.sh "pic >= 50% of the floor"; then
    :
elif wanted genbench && [ "$HAVE_GPU" = 1 ]; then
    left=$((BUDGET - RESERVE - (SECONDS - START)))
    PIC_BIN=$BIN timeout -k 5 $((left + 5)) bench/gpu_generate.sh --budget "$left" --results "$WORK/genbench" >"$f" 2>&1
    st=$?
    log bench "$f" $st bench/gpu_generate.sh --budget "$left"
    { echo "# bench/gpu_generate.sh"; sed -n '/^copy rate/,$p' "$f"; echo "# raw"; cat "$WORK/genbench" 2>/dev/null; } >>"$RESULTS"
    if [ $st -ne 0 ]; then
        row "bench/gpu_generate.sh" FAIL "exit $st$(timed_out $st && echo ' (timed out)')" "runs to the end"
    else
        row "bench/gpu_generate.sh" INFO "table in results.tsv" "pic >= 50% of the floor (docs/gpu.md)"
    fi
elif wanted genbench; then
    row "bench/gpu_generate.sh" SKIP "no GPU" "pic >= 50% of the floor"
fi

# ---- bench/gpu_train.sh (asked for by name) ---------------------------------
if wanted trainbench && canary_failed bench/gpu_train.sh; then
    :
elif wanted trainbench && [ "$HAVE_GPU" = 1 ] && spent bench/gpu_train.sh ">= 50% of matmul and 2x transformers on 0.5B"; then
    :
elif wanted trainbench && [ "$HAVE_GPU" = 1 ]; then
    left=$((BUDGET - RESERVE - (SECONDS - START)))
    PIC_BIN=$BIN timeout -k 5 $((left + 5)) bench/gpu_train.sh --budget "$left" --rows "$SUMMARY" \
        --results "$WORK/trainbench" >"$f" 2>&1
    st=$?
    log bench "$f" $st bench/gpu_train.sh --budget "$left"
    { echo "# bench/gpu_train.sh"; sed -n '/^bf16 matrix rate/,$p' "$f"; echo "# raw"; cat "$WORK/trainbench" 2>/dev/null; } >>"$RESULTS"
    [ $st -ne 0 ] && row "bench/gpu_train.sh" FAIL "exit $st$(timed_out $st && echo ' (timed out)')" "runs to the end"
elif wanted trainbench; then
    row "bench/gpu_train.sh" SKIP "no GPU" ">= 50% of matmul and 2x transformers on 0.5B, >= 45% on 1.5B"
fi

# ---- bench/gpu_rlstep.sh (asked for by name) --------------------------------
# one RL step's cost outside the arithmetic at 1.5B: two pic-update processes
STEP_GOAL="outside the arithmetic < 10% of a paper-sized step (docs/gpu.md)"
if wanted stepcost && canary_failed bench/gpu_rlstep.sh; then
    :
elif wanted stepcost && [ "$HAVE_GPU" = 1 ] && spent bench/gpu_rlstep.sh "$STEP_GOAL"; then
    :
elif wanted stepcost && [ "$HAVE_GPU" = 1 ]; then
    left=$((BUDGET - RESERVE - (SECONDS - START)))
    # shellcheck disable=SC2086 # PIC_GPU_RLSTEP_ARGS: more options (the harness's tests: --device cpu)
    PIC_BIN=$BIN timeout -k 5 $((left + 5)) bench/gpu_rlstep.sh --budget "$left" --results "$WORK/stepcost" \
        ${PIC_GPU_RLSTEP_ARGS:-} >"$f" 2>&1
    st=$?
    log bench "$f" $st bench/gpu_rlstep.sh --budget "$left"
    { echo "# bench/gpu_rlstep.sh"; sed -n '/^| run/,$p' "$f"; echo "# raw"; cat "$WORK/stepcost" 2>/dev/null; } >>"$RESULTS"
    if [ $st -ne 0 ] || [ "$(grep -c '^| first\|^| steady\|^| serve' "$f")" -ne 3 ]; then
        row "bench/gpu_rlstep.sh" FAIL "$(why $st "$f")" "$STEP_GOAL"
    else
        row "bench/gpu_rlstep.sh" INFO "$(grep '^| steady\|^| serve' "$f" | awk -F' *[|] *' '{ sub(/ .*/, "", $2); printf "%s%s step: wall %s s, start and exit %s s, load %s s, save %s s; outside the arithmetic at 2e7 tokens %s; host peak %s GB", (NR > 1 ? "; " : ""), $2, $3, $4, $5, $7, $11, $12 }')" "$STEP_GOAL"
    fi
elif wanted stepcost; then
    row "bench/gpu_rlstep.sh" SKIP "no GPU" "$STEP_GOAL"
fi

# ---- compute-sanitizer (asked for by name) ---------------------------------
# The kernels' memory accesses (memcheck: out of bounds, misaligned, reads of
# uninitialised device memory with initcheck left out) and shared-memory
# races (racecheck) on the unit tests' shapes, which run 10-100x slower under
# it; and test_cuda_backward with attention on the CUDA cores (its simt
# variant runs only after a failure in the unit section). A row per tool and
# test: PASS when the test passes and the tool reports 0 errors.
SAN_GOAL="0 errors, the test passing under the tool"
SANITIZER=${PIC_GPU_SANITIZER:-}
[ -n "$SANITIZER" ] || SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if ! wanted sanitize || canary_failed "sanitize"; then
    :
elif [ "$HAVE_GPU" != 1 ]; then
    row "sanitize" SKIP "no GPU" "$SAN_GOAL"
else
    if [ -x "$TESTS/test_cuda_backward" ]; then
        within 60 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" PIC_CUDA_ATTN=simt "$TESTS/test_cuda_backward"
        st=$?
        log sanitize "$f" $st "PIC_CUDA_ATTN=simt $TESTS/test_cuda_backward"
        tap "sanitize test_cuda_backward attn simt" "$f" $st "$UNIT_GOAL"
    fi
    if [ ! -x "$SANITIZER" ]; then
        row "sanitize compute-sanitizer" FAIL "not found ($SANITIZER)" "$SAN_GOAL"
    else
        for tool in memcheck racecheck; do
            for t in test_cuda_logits test_cuda_sampler test_cuda_layers test_cuda_backward test_cuda_invariance; do
                [ -x "$TESTS/$t" ] || continue
                within 90 "$f" env LD_LIBRARY_PATH="$PIC_LD_PATH" "$SANITIZER" --tool "$tool" --error-exitcode 99 \
                    --print-limit 20 "$TESTS/$t"
                st=$?
                log sanitize "$f" $st "$SANITIZER --tool $tool $TESTS/$t"
                summary=$(grep -m1 'ERROR SUMMARY' "$f" | sed 's/^=* *//')
                if timed_out $st; then
                    row "sanitize $tool $t" FAIL "timed out" "$SAN_GOAL"
                elif [ $st -eq 0 ] && [[ $summary == *" 0 errors"* ]] && ! grep -q '^not ok' "$f"; then
                    row "sanitize $tool $t" PASS "$summary" "$SAN_GOAL"
                else
                    row "sanitize $tool $t" FAIL "exit $st: ${summary:-no error summary}; $(grep -m1 -E '^=+ (Invalid|Error|Race|Warning)|^not ok' "$f" | sed 's/^=* *//' | cut -c1-120)" "$SAN_GOAL"
                fi
            done
        done
    fi
fi

# ---- the summary, last -----------------------------------------------------
[ -s "$LOGS/bench.log" ] && sed -n '/^bf16 matrix rate/,/^## /p' "$LOGS/bench.log" | grep -v '^## '
pack
echo
echo "== tests/gpu/run.sh: $((SECONDS - START))s of ${BUDGET}s; logs in $OUT (section logs: tar -xzf sections.tar.gz)"
awk -F'\t' 'NR == FNR { for (i = 1; i <= 3; i++) if (length($i) > w[i]) w[i] = length($i); next }
            FNR == 1 { printf "%-*s  %-*s  %-*s  %s\n", w[1], "check", 6, "result", w[3], "number", "goal" }
            { printf "%-*s  %-*s  %-*s  %s\n", w[1], $1, 6, $2, w[3], $3, $4 }' "$SUMMARY" "$SUMMARY"
awk -F'\t' '{ n[$2]++ } END { printf "checks: %d PASS, %d FAIL, %d SKIP; bench: %d MET, %d MISS, %d INFO, %d NONE\n",
             n["PASS"], n["FAIL"], n["SKIP"], n["MET"], n["MISS"], n["INFO"], n["NONE"] }' "$SUMMARY"
! grep -q $'\tFAIL\t' "$SUMMARY"
