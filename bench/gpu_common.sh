# Sourced by bench/gpu_score.sh and bench/gpu_generate.sh: the GPU test and
# the timed step both share. Needs $work (a scratch folder), $results (the
# raw lines) and $deadline (in $SECONDS) set by the caller.

# no_gpu: true (after saying so) when there is no CUDA device to run on;
# PIC_GPU_FORCE=1 runs anyway, PIC_GPU_FORCE=0 skips
no_gpu() {
    # the driver's folder may hold nvidia-smi without PATH naming it
    command -v nvidia-smi >/dev/null || { [ -x /usr/local/nvidia/bin/nvidia-smi ] && PATH=$PATH:/usr/local/nvidia/bin; }
    if [ "${PIC_GPU_FORCE:-}" = 0 ] || { [ "${PIC_GPU_FORCE:-}" != 1 ] && ! timeout 20 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }; then
        echo "${PIC_BENCH_NAME:-$(basename "$0")}: no CUDA device (nvidia-smi found none): skipped"
        return 0
    fi
    return 1
}

# measure LABEL CAP CMD...: CMD's last line that is a JSON object goes to the
# results after LABEL (tab-separated fields), else what stopped it
measure() {
    local label=$1 cap=$2 left rc line
    shift 2
    left=$((deadline - SECONDS))
    [ "$cap" -gt "$left" ] && cap=$left
    if [ "$cap" -lt 5 ]; then
        printf '%s\t%s\n' "$label" "not run: out of time" >>"$results"
        return
    fi
    echo "== ${label//$'\t'/ } (at most ${cap}s): $*"
    timeout -k 5 "$cap" "$@" >"$work/out" 2>&1
    rc=$?
    cat "$work/out"
    line=$(grep '^{' "$work/out" | tail -1)
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        line="timed out after ${cap}s"
    elif [ -z "$line" ]; then
        line="exit $rc: $(grep -v -e '^[[:space:]]*$' -e "^Try '.* --help'" "$work/out" | tail -1)"
    fi
    printf '%s\t%s\n' "$label" "$line" >>"$results"
}

# profile_rates: "TFLOPS,TBPS" for PIC_CUDA_PROFILE_RATES, the bf16 matrix
# rate and the copy bandwidth of this run's torch_bench.py matmul line in
# $results (its first JSON object with both), so that the profile's floor
# is this GPU's; nothing when it did not run
profile_rates() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    j = line[line.find("{"):] if "{" in line else ""
    try:
        r = json.loads(j)
    except ValueError:
        continue
    if r.get("tflops") and r.get("copy_tbps"):
        print("%.1f,%.3f" % (r["tflops"], r["copy_tbps"]))
        break
' "$results" 2>/dev/null
}
