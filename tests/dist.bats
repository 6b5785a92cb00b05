#!/usr/bin/env bats
# Data parallelism over MPI (docs/distributed.md): pic-update as 2 ranks is
# the one-process step within fp32 summation error, for the pg, EntroPIC,
# SFT and off-policy cases, ZeRO-1 on (always on across ranks); the same
# 2-rank run repeats bit for bit; a failing rank ends the job; pic-rollout's
# ranks write the unsharded stream; train.sh --ranks resumes on 1 rank.
#
# The bound. Two ranks compute the same per-token numbers as one process,
# but each forwards only its share, so matrix products have other shapes and
# may round otherwise (as --micro-tokens does), and every sum over the
# step's tokens is split into two partial sums added at the end. Both are
# reorderings of fp32 sums: two orders of a sum of n terms differ by at most
# 2 gamma_n sum|t_i|, gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy
# and Stability of Numerical Algorithms, 2nd ed., eq. 4.4). The terms are not
# visible here; for terms of either sign sum|t_i| is about sqrt(n) |sum t_i|,
# so the bound relative to a result's magnitude (a tensor's largest entry, a
# stats field) is TOL = 2 gamma_n sqrt(n), with n the longest chain of sums a
# number goes through: the step's tokens (the gradient's sums over rows) plus
# the vocabulary (each log-probability's log-sum-exp, the longest reduction
# of one token). K optimizer steps add their errors: K * TOL. AdamW divides
# by sqrt(v) + eps, which near g = 0 amplifies a gradient difference by
# lr / eps; the checks take eps = 1, so that a weight moves by at most
# 2 lr |dg| more per step (|g| <= 1 after clipping to norm 1, which every
# case here does), plus the rounding of its two updates, 2^-22 |w|.
load helpers

M="$FIXTURES/models"
U="$FIXTURES/update"
H="$PIC_ROOT/tests/dist"

setup() {
    T="$BATS_TEST_TMPDIR"
    cd "$T" || return 1
    command -v mpirun > /dev/null || skip "no mpirun (scripts/deps.sh installs OpenMPI)"
    # OpenMPI refuses root without these; CI runs as root on 2 cores. OpenMPI
    # leaves its own allocations to the exit (`make asan`'s leak check would
    # stop every rank): the leak checks of pic's code are the one-process runs'
    MPIRUN=(env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -np 2)
    # containers often forbid the cross-process copies OpenMPI's shared
    # memory transport tries first; plain copies work everywhere
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    # a build without MPI refuses to run as 2 ranks: say so once, clearly
    run "${MPIRUN[@]}" pic-update --version
    [ "$status" -eq 0 ] || { echo "pic-update does not run under mpirun: $output" >&2; return 1; }
    { cat "$U/qwen2-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen2-tiny-step.jsonl"; } > six.jsonl
    TAU=$(jq .pg_spec.tau "$M/qwen2-tiny/golden.json")
    BASE=(-m "$M/qwen2-tiny" --lr 1e-3 --eps 1 --threads 1 -q --tau "$TAU")
    SPEC=(--clip-high 0.28 "${BASE[@]}") # BASE for SFT, which has no ratio to clip
}

# tol N [MODEL]: 2 gamma_n sqrt(n) for n = N tokens plus MODEL's vocabulary
tol() {
    awk -v n="$(($1 + $(jq .vocab_size "${2:-$M/qwen2-tiny}/config.json")))" \
        'BEGIN { u = 2 ^ -24; g = n * u / (1 - n * u); printf "%.3g", 2 * g * sqrt(n) }'
}

# one STATS GRADS DIR OPTIONS...: the one-process step; two ...: as 2 ranks
one() { local s=$1 g=$2 d=$3; shift 3; pic-update "${SPEC[@]}" --save-grads "$g" -o "$d" "$@" six.jsonl > "$s"; }
two() { local s=$1 g=$2 d=$3; shift 3; "${MPIRUN[@]}" pic-update "${SPEC[@]}" --save-grads "$g" -o "$d" "$@" six.jsonl > "$s"; }

# same K: the 2-rank outputs b.* equal the one-process a.* within the bound
same() {
    local K=$1 t
    t=$(tol "$(jq .tokens_total a.json)")
    echo "TOL $t, K $K" >&2
    # timing, and how the work was cut (micro-batches per rank), differ
    "$H/json_close.py" a.json b.json "$(awk -v t="$t" -v k="$K" 'BEGIN { print k * t }')" \
        seconds tokens_per_s micro_batches ranks comm_seconds wait_seconds load_seconds save_seconds
    "$H/st_close.py" a.grads b.grads "$(awk -v t="$t" -v k="$K" 'BEGIN { print k * t }')"
    "$H/st_close.py" a/optimizer.safetensors b/optimizer.safetensors \
        "$(awk -v t="$t" -v k="$K" 'BEGIN { print 2 * k * t }')"
    "$H/st_close.py" a/model.safetensors b/model.safetensors \
        "$(awk -v k="$K" 'BEGIN { print k * 2 ^ -22 }')" "$(awk -v t="$t" -v k="$K" 'BEGIN { print 2 * k * 1e-3 * t }')"
}

@test "2 ranks: the pg, EntroPIC and SFT steps are the one-process step within fp32 summation error" {
    for extra in "" "--alpha 0.3" "--loss sft"; do
        # (one and two read SPEC)
        if [ "$extra" = "--loss sft" ]; then local SPEC=("${BASE[@]}"); fi
        # shellcheck disable=SC2086
        one a.json a.grads a $extra
        # shellcheck disable=SC2086
        two b.json b.grads b $extra
        jq -e '.ranks == 2 and .comm_seconds >= 0 and .wait_seconds >= 0' b.json > /dev/null
        [ "$(jq .grad_norm a.json | cut -d. -f1)" -ge 1 ] # clipping is on: |g| <= 1 below
        same 1
    done
    # one sample fewer is far outside the bound: the check can fail
    head -5 six.jsonl > five.jsonl
    pic-update "${BASE[@]}" --save-grads five.grads -o f --loss sft five.jsonl > /dev/null
    run "$H/st_close.py" b.grads five.grads 1e-2
    [ "$status" -eq 1 ]
}

@test "2 ranks, off-policy: 4 mini-batches with the co-process asked once per step on rank 0" {
    one a.json a.grads a --mini-batches 4 --alpha-cmd "pictl --state a.state --target 2.0"
    two b.json b.grads b --mini-batches 4 --alpha-cmd "pictl --state b.state --target 2.0"
    # one controller for the job: four steps in its state, not eight
    [ "$(jq .step a.state)" = 4 ]
    [ "$(jq .step b.state)" = 4 ]
    [ "$(jq '.steps | length' b.json)" = 4 ]
    same 4
}

@test "2 ranks, Clip-Cov over 2 mini-batches: each step's draw is the whole step's, every rank's the same" {
    C=(--pg clip-cov --cov-ratio 0.1 --clip-cov-lb -100 --clip-cov-ub 100 --mini-batches 2)
    one a.json a.grads a "${C[@]}"
    two b.json b.grads b "${C[@]}"
    [ "$(jq .cov_selected b.json)" = 6 ]
    same 2
}

@test "the same 2-rank run twice is bit-identical; a resumed optimizer state is rank-independent" {
    two b.json b.grads b --alpha 0.3
    two c.json c.grads c --alpha 0.3
    cmp <(jq -c 'del(.seconds, .tokens_per_s, .comm_seconds, .wait_seconds, .load_seconds, .save_seconds)' b.json) \
        <(jq -c 'del(.seconds, .tokens_per_s, .comm_seconds, .wait_seconds, .load_seconds, .save_seconds)' c.json)
    cmp b.grads c.grads
    cmp b/model.safetensors c/model.safetensors
    cmp b/optimizer.safetensors c/optimizer.safetensors
    # ZeRO-1 slices, written whole: resuming b on 1 rank and on 2 ranks agree
    pic-update "${SPEC[@]}" -m b -o b1 --alpha 0.3 six.jsonl > a.json
    "${MPIRUN[@]}" pic-update "${SPEC[@]}" -m b -o b2 --alpha 0.3 six.jsonl > b2.json
    [ "$(jq .step a.json)" = 2 ]
    [ "$(jq .step b2.json)" = 2 ]
    t=$(tol "$(jq .tokens_total a.json)")
    "$H/st_close.py" b1/optimizer.safetensors b2/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 2 * t }')"
}

@test "pic-update --serve as 2 ranks: rank 0 reads the requests, every rank takes their steps, bit for bit" {
    "${MPIRUN[@]}" pic-update "${SPEC[@]}" -o a1 --alpha 0.3 six.jsonl > a.jsonl
    "${MPIRUN[@]}" pic-update "${SPEC[@]}" -m a1 -o a2 --alpha 0.1 six.jsonl >> a.jsonl
    printf '{"samples": "six.jsonl", "output": "b1", "state": false}\n{"samples": ["six.jsonl"], "output": "b2", "alpha": 0.1}\n' > requests
    timeout 120 "${MPIRUN[@]}" pic-update "${SPEC[@]}" --serve --alpha 0.3 < requests > b.jsonl
    strip='del(.seconds, .tokens_per_s, .comm_seconds, .wait_seconds, .load_seconds, .save_seconds, .optimizer_state)'
    cmp <(jq -c "$strip" a.jsonl) <(jq -c "$strip" b.jsonl)
    [ "$(jq -r .ranks b.jsonl | tr -d '\n')" = 22 ]
    cmp a1/model.safetensors b1/model.safetensors
    [ -f b1/optimizer-not-saved.json ]
    cmp a2/model.safetensors b2/model.safetensors && cmp a2/optimizer.safetensors b2/optimizer.safetensors
}

@test "2 ranks on the GPU path (the host stand-in): the CPU's 2-rank step, each GPU stepping its slice (ZeRO-1), f32 and bf16" {
    HOST_BIN="${PIC_BUILD:-$PIC_ROOT/build}/host-cuda/bin"
    [ -x "$HOST_BIN/pic-update" ] || { echo "no $HOST_BIN/pic-update: make test builds it (make host-cuda)" >&2; false; }
    G=(--device cuda --dtype f32)
    gpu_two() { local s=$1 g=$2 d=$3; shift 3; "${MPIRUN[@]}" "$HOST_BIN/pic-update" "${SPEC[@]}" "${G[@]}" --save-grads "$g" -o "$d" "$@" six.jsonl > "$s"; }
    for extra in "--alpha 0.3" "--mini-batches 2 --micro-tokens 40"; do
        # shellcheck disable=SC2086
        two a.json a.grads a $extra
        # shellcheck disable=SC2086
        gpu_two b.json b.grads b $extra
        jq -e '.ranks == 2 and .device == "cuda"' b.json > /dev/null
        jq -c '.device = "cpu"' b.json > b.tmp && mv b.tmp b.json
        # the gradient's sum and AdamW are the CPU ranks' own; the global
        # norm alone is summed in another order (each rank's slice there,
        # the whole buffer here)
        same "$(jq '.steps // [1] | length' a.json)"
        rm -r a b
    done
    # the same run twice, bit for bit; resumed on 1 rank as from a 1-rank run
    gpu_two b.json b.grads b --alpha 0.3
    gpu_two c.json c.grads c --alpha 0.3
    cmp b.grads c.grads
    cmp b/model.safetensors c/model.safetensors
    cmp b/optimizer.safetensors c/optimizer.safetensors
    "$HOST_BIN/pic-update" "${SPEC[@]}" "${G[@]}" -m b -o b1 --alpha 0.3 six.jsonl > b1.json
    [ "$(jq .step b1.json)" = 2 ]
    # bf16 (a bf16 checkpoint): each rank steps its slice of the fp32 master
    # weights and sends its weights' rounding; rank 0 gathers the master
    # weights for the checkpoint. One rank and two agree within the bound.
    # (two optimizer steps: the second's forward reads the gathered weights)
    q=(-m "$M/qwen3-tiny" --lr 1e-3 --eps 1 --threads 1 -q --device cuda --dtype bf16 --alpha 0.3 --mini-batches 2)
    { cat "$U/qwen3-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen3-tiny-step.jsonl"; } > q.jsonl
    "$HOST_BIN/pic-update" "${q[@]}" -o q1 q.jsonl > q1.json
    "${MPIRUN[@]}" "$HOST_BIN/pic-update" "${q[@]}" -o q2 q.jsonl > q2.json
    st_header() { head -c $((8 + $(head -c 8 "$1" | od -An -tu8))) "$1" | tail -c +9; }
    st_header q2/model.safetensors | jq -e '[to_entries[] | select(.key != "__metadata__") | .value.dtype] | unique == ["BF16"]'
    st_header q2/optimizer.safetensors | jq -e 'has("master.model.embed_tokens.weight")'
    t=$(tol "$(jq .tokens_total q1.json)" "$M/qwen3-tiny")
    # (the master weights are in the optimizer file; the bf16 weights are their rounding)
    "$H/st_close.py" q1/optimizer.safetensors q2/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 4 * t }')"
    # resumed as 2 ranks from the 2-rank state, and as 1 rank: the same within the bound
    "${MPIRUN[@]}" "$HOST_BIN/pic-update" "${q[@]}" -m q2 -o q22 q.jsonl > q22.json
    "$HOST_BIN/pic-update" "${q[@]}" -m q2 -o q21 q.jsonl > q21.json
    [ "$(jq .step q22.json)" = 4 ]
    [ "$(jq .step q21.json)" = 4 ]
    "$H/st_close.py" q21/optimizer.safetensors q22/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 8 * t }')"
}

@test "2 ranks on the emulated GPU (the CUDA backend's own code), a GPU each: the CPU's 2-rank step within the bound, NCCL's road and host memory's the same bits; rollouts the one-process stream" {
    EMU="${PIC_BUILD:-$PIC_ROOT/build}/cuda-emu/bin/pic-update"
    [ -x "$EMU" ] || skip "no $EMU (make cuda-emu; make asan does not build it)"
    two a.json a.grads a --alpha 0.3
    # each rank takes the GPU of its rank on the machine; with one GPU, both take it
    for gpus in 2 1; do
        PIC_EMU_DEVICES=$gpus "${MPIRUN[@]}" "$EMU" "${SPEC[@]}" --device cuda --dtype f32 --save-grads "b$gpus.grads" \
            -o "b$gpus" --alpha 0.3 six.jsonl > "b$gpus.json"
    done
    cmp b1.grads b2.grads
    cmp b1/model.safetensors b2/model.safetensors
    jq -e '.ranks == 2 and .device == "cuda"' b2.json > /dev/null
    # that was NCCL's road (the emulated build's libnccl.so.2, collectives
    # over MPI): the gradient's grouped reduces and the weights' broadcasts;
    # host memory's road (PIC_NCCL=0) gives the same bits
    PIC_EMU_NCCL_TRACE=1 PIC_EMU_DEVICES=2 "${MPIRUN[@]}" -x PIC_EMU_NCCL_TRACE "$EMU" "${SPEC[@]}" --device cuda \
        --dtype f32 --save-grads n.grads -o n --alpha 0.3 six.jsonl > n.json 2> n.err
    for r in 0 1; do grep -q "cudaemu nccl: rank $r of 2: 0 all-reduce, 2 broadcast, 2 reduce" n.err; done
    PIC_NCCL=0 PIC_EMU_NCCL_TRACE=1 PIC_EMU_DEVICES=2 "${MPIRUN[@]}" -x PIC_NCCL -x PIC_EMU_NCCL_TRACE "$EMU" \
        "${SPEC[@]}" --device cuda --dtype f32 --save-grads h.grads -o h --alpha 0.3 six.jsonl > h.json 2> h.err
    if grep -q "cudaemu nccl" h.err; then false; fi
    cmp n.grads h.grads
    cmp n/model.safetensors h/model.safetensors
    cmp n.grads b2.grads
    jq -c '.device = "cpu"' b2.json > b.json && mv b2.grads b.grads && mv b2 b
    same 1
    # bf16 in two optimizer steps: each GPU steps its slice of the master
    # weights and the second forward reads the gathered bf16 weights
    q=(-m "$M/qwen3-tiny" --lr 1e-3 --eps 1 --threads 1 -q --device cuda --dtype bf16 --alpha 0.3 --mini-batches 2)
    { cat "$U/qwen3-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen3-tiny-step.jsonl"; } > q.jsonl
    "$EMU" "${q[@]}" -o q1 q.jsonl > q1.json
    PIC_EMU_DEVICES=2 "${MPIRUN[@]}" "$EMU" "${q[@]}" -o q2 q.jsonl > q2.json
    t=$(tol "$(jq .tokens_total q1.json)" "$M/qwen3-tiny")
    "$H/st_close.py" q1/optimizer.safetensors q2/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 4 * t }')"
    # pic-rollout's ranks on a GPU each write the one-process stream
    pic-task -q --plain -n 5 --seed 1 > p.jsonl
    R=(-m "$M/qwen2-tiny" --n 2 --max-new-tokens 6 --seed 3 --threads 1 -q --device cuda --dtype f32)
    "${EMU%/*}/pic-rollout" "${R[@]}" --plain p.jsonl > one.jsonl
    PIC_EMU_DEVICES=2 "${MPIRUN[@]}" "${EMU%/*}/pic-rollout" "${R[@]}" -o two.jsonl.zst p.jsonl
    zstdcat two.jsonl.zst | cmp - one.jsonl
}

@test "the NCCL communicator over the emulator: sums, gathers and reduce-scatters of unequal blocks, as 1 rank and as 3 on a GPU each" {
    T="${PIC_BUILD:-$PIC_ROOT/build}/cuda-emu/tests/test_cuda_dist_nccl"
    [ -x "$T" ] || skip "no $T (make cuda-emu; make asan does not build it)"
    "$T" > one.tap
    grep -q '^ok 5 - reduce-scatter of 1 unequal blocks' one.tap
    PIC_EMU_DEVICES=3 env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -np 3 "$T" > three.tap
    [ "$(grep -c '^ok 5 - reduce-scatter of 3 unequal blocks' three.tap)" -eq 3 ]
    for r in 0 1 2; do grep -q "^ok 2 - rank $r of 3 on GPU $r" three.tap; done
    if grep -q '^not ok' one.tap three.tap; then false; fi
}

@test "3 ranks write AdamW's state whole without holding it: rank 0's peak memory is the others', the file the one-process run's" {
    # 12.7M parameters: gathered on rank 0, the moments would be 8 bytes a
    # parameter (100 MB) beside what every rank holds; asked for a writer's
    # chunk at a time from the rank that keeps them, a few MB. Three ranks,
    # so that a chunk can span two slices. (ASan's quarantine would keep the
    # writer's freed chunks resident: off.)
    pic-init -q -o big --hidden 512 --layers 4 --heads 8 --kv-heads 4 --intermediate 1536
    jq -c '.prompt_ids |= map(. % 256) | .response_ids |= map(. % 256)' "$U/qwen2-tiny-step.jsonl" > s.jsonl
    B=(-m big --lr 1e-3 --eps 1 --threads 1 -q --alpha 0.3 s.jsonl)
    pic-update "${B[@]}" --save-grads a.grads -o a > a.json
    env ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=0 mpirun --allow-run-as-root --oversubscribe -np 3 \
        "$H/peak.py" rss pic-update "${B[@]}" --save-grads b.grads -o b > b.json
    jq -e '.ranks == 3' b.json > /dev/null
    params=$(($(stat -c %s big/model.safetensors) / 4))
    rss0=$(cat rss.0) rss1=$(cat rss.1) rss2=$(cat rss.2)
    echo "peak kB: $rss0 $rss1 $rss2; a quarter of the moments: $((params * 2 / 1024)) kB" >&2
    [ "$rss0" -lt $(((rss1 > rss2 ? rss1 : rss2) + params * 2 / 1024)) ]
    t=$(tol "$(jq .tokens_total a.json)" big)
    "$H/st_close.py" a.grads b.grads "$t"
    "$H/st_close.py" a/optimizer.safetensors b/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 2 * t }')"
    "$H/st_close.py" a/model.safetensors b/model.safetensors "$(awk 'BEGIN { print 2 ^ -22 }')" "$(awk -v t="$t" 'BEGIN { print 2e-3 * t }')"
}

@test "a failing rank ends the job with its message, never a hang" {
    # only rank 0 writes: it fails, rank 1 waits at the end for it
    run timeout 60 "${MPIRUN[@]}" pic-update "${SPEC[@]}" -o /proc/no/such/dir six.jsonl
    [ "$status" -ne 124 ]
    [ "$status" -ne 0 ]
    [[ "$output" == *"pic-update[0/2]: /proc/no/such/dir"* ]]
    # a bad record, which every rank reads: exit 1, and each rank's message
    # that got out before the abort is a whole line (they came in pieces, one
    # rank's between the other's)
    { head -5 six.jsonl; jq -c '.logprobs[0] = 0.5' <(tail -1 six.jsonl); } > bad.jsonl
    run timeout 60 "${MPIRUN[@]}" pic-update "${SPEC[@]}" -o x bad.jsonl
    [ "$status" -eq 1 ]
    msg="bad.jsonl:6: field 'logprobs': element 0: 0.5 is above 0, not a log-probability"
    grep -q "^pic-update\[[01]/2\]: $msg\$" <<<"$output"
    [ -z "$(grep 'bad.jsonl' <<<"$output" | grep -v "^pic-update\[[01]/2\]: $msg\$")" ]
    run timeout 60 "${MPIRUN[@]}" pic-update "${SPEC[@]}" -o x < six.jsonl
    [ "$status" -eq 2 ]
    [[ "$output" == *"2 ranks need the sample FILEs"* ]]
    [ ! -e x ]
}

@test "srun's tasks without MPI's process management are warned that each runs alone" {
    # srun without --mpi=pmix where the site's default is none: each of the
    # step's tasks saw no MPI launcher and trained alone, silently
    # (SLURM_STEP_NUM_TASKS: srun's, in each task's environment). A warning,
    # not a refusal: tasks meant to run alone are sound (--shard below)
    run env SLURM_STEP_NUM_TASKS=2 pic-update "${SPEC[@]}" -o x six.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" =~ "one of 2 tasks (SLURM_STEP_NUM_TASKS)".*"this task runs alone" ]]
    [ -e x/model.safetensors ]
    pic-task -q --plain -n 2 --seed 1 > p.jsonl
    run env SLURM_STEP_NUM_TASKS=2 pic-rollout -m "$M/qwen2-tiny" --threads 1 --max-new-tokens 2 -q --shard 1/2 -o y p.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" =~ "this task runs alone" ]]
    [ "$(pic-cat -n y)" = 1 ]
    # a step of one task, and mpirun's ranks, whose daemons srun starts (the
    # ranks inherit the daemons' step), run without a word
    run env SLURM_STEP_NUM_TASKS=1 pic-update "${SPEC[@]}" -o one six.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" != *"runs alone"* ]]
    [ -e one/model.safetensors ]
    run env SLURM_STEP_NUM_TASKS=3 "${MPIRUN[@]}" -x SLURM_STEP_NUM_TASKS pic-update "${SPEC[@]}" -o two six.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" != *"runs alone"* ]]
    [ -e two/model.safetensors ]
}

@test "pic-rollout as 2 ranks: each generates its shard, rank 0 writes them in order" {
    pic-task -q --plain -n 5 --seed 1 > p.jsonl
    R=(-m "$M/qwen2-tiny" --n 2 --max-new-tokens 6 --seed 3 --threads 1 -q)
    pic-rollout "${R[@]}" --plain p.jsonl > one.jsonl
    "${MPIRUN[@]}" pic-rollout "${R[@]}" -o two.jsonl.zst p.jsonl
    zstdcat two.jsonl.zst | cmp - one.jsonl
    [ "$(wc -l < one.jsonl)" -eq 10 ]
    run "${MPIRUN[@]}" pic-rollout "${R[@]}" --shard 0/2 p.jsonl
    fails_with 2 "the launcher's ranks are the shards"
    # --skip-bad: a line that is no JSON, which every rank reads, counts once
    # (it counted once a rank), a bad prompt in rank 1's block once
    { head -2 p.jsonl; echo 'not json'; tail -3 p.jsonl; echo '{"x":1}'; } > mixed.jsonl
    run "${MPIRUN[@]}" pic-rollout "${R[@]:0:10}" --skip-bad -o two.jsonl mixed.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"generated 10 samples"*", 2 bad records skipped"* ]]
}

@test "pic-rollout as 2 ranks: a rank that fails, or is killed for another's failure, leaves no shard file behind" {
    pic-task -q --plain -n 5 --seed 1 > p.jsonl
    mkdir tmp
    export TMPDIR=$T/tmp # where rank 1 keeps its shard
    R=(-m "$M/qwen2-tiny" --n 2 --max-new-tokens 6 --seed 3 --threads 1 -q --plain -o out.jsonl)
    # a bad prompt in rank 1's block (it dies), then in rank 0's (rank 1 is
    # killed by the abort): each left its folder pic-rollout-XXXXXX
    { cat p.jsonl; echo '{"x":1}'; } > bad1.jsonl
    run timeout 60 "${MPIRUN[@]}" pic-rollout "${R[@]}" bad1.jsonl
    fails_with 1 "pic-rollout\[1/2\]: bad1.jsonl:6: field 'problem': missing"
    { echo '{"x":1}'; cat p.jsonl; } > bad0.jsonl
    run timeout 60 "${MPIRUN[@]}" pic-rollout "${R[@]}" bad0.jsonl
    fails_with 1 "pic-rollout\[0/2\]: bad0.jsonl:1: field 'problem': missing"
    [ ! -e out.jsonl ]
    "${MPIRUN[@]}" pic-rollout "${R[@]}" p.jsonl
    [ "$(wc -l < out.jsonl)" -eq 10 ]
    # (OpenMPI's own session folder may be there too)
    [ -z "$(find tmp -name 'pic-rollout-*')" ]
}

@test "a rank bound to fewer CPUs than its share runs no more threads than those; so does a process under taskset" {
    [ "$(nproc)" -ge 2 ] || skip "one CPU: every default is one thread"
    command -v taskset > /dev/null || skip "no taskset"
    first=$(taskset -cp $$ | sed 's/.*: //; s/[-,].*//') # the first CPU this may run on
    B=(pic-update-bench --config "$M/qwen2-tiny/config.json" --seqs 1 --prompt 4 --response 4 --steps 1)
    # mpirun binds a job of 1 or 2 ranks to a core each (mpirun(1), "Bind
    # to core: when the number of processes is <= 2"): before, 1 rank ran a
    # thread per CPU of the machine on its one core
    "${MPIRUN[@]:0:5}" --bind-to core -np 1 "${B[@]}" > b.json
    [ "$(jq .threads b.json)" -eq 1 ]
    taskset -c "$first" "${B[@]}" > t.json
    [ "$(jq .threads t.json)" -eq 1 ]
    "${B[@]}" > a.json
    [ "$(jq .threads a.json)" -eq "$(nproc)" ]
}

@test "pic-update-bench as 2 ranks: the floor is both ranks' sgemm rates added, measured at once" {
    B=(pic-update-bench --config "$M/qwen2-tiny/config.json" --seqs 2 --prompt 4 --response 4 --steps 1 --threads 1)
    "${MPIRUN[@]}" "${B[@]}" > r.json
    [ "$(wc -l < r.json)" -eq 1 ]
    # before: rank 0's rate alone (the others had left) beside the 2 ranks'
    # tokens/s, a floor one rank's share of the job's
    jq -e '.ranks == 2 and (.rank_sgemm_gflops | length) == 2 and all(.rank_sgemm_gflops[]; . > 0)' r.json > /dev/null
    near "$(jq '.rank_sgemm_gflops | add' r.json)" "$(jq .sgemm_gflops r.json)" 0.011
    # the floor: 6 x params x tokens at that rate
    near "$(jq '.sgemm_gflops * 1e9 / (6 * .params)' r.json)" "$(jq .floor_tokens_per_s r.json)" \
        "$(jq '.floor_tokens_per_s * 1e-3' r.json)"
    "${B[@]}" > one.json
    jq -e '(.rank_sgemm_gflops | length) == 1 and .rank_sgemm_gflops[0] == .sgemm_gflops' one.json > /dev/null
}

@test "'-' anywhere among the FILEs of 2 ranks is a usage error: rank 0 alone would read standard input" {
    # rank 1's standard input is empty: before, rank 0 trained on 12 samples
    # and rank 1 on 6, and rank 0 generated for 10 prompts, rank 1 for 5
    run timeout 60 "${MPIRUN[@]}" pic-update "${SPEC[@]}" -o x - six.jsonl < six.jsonl
    fails_with 2 "2 ranks need the sample FILEs"
    [ ! -e x ]
    # the message names the rank; the hint names the command a shell runs
    [[ "$output" == *"pic-update[1/2]: 2 ranks need"* ]]
    [[ "$output" == *"Try 'pic-update --help'"* ]]
    [[ "$output" != *"Try 'pic-update["* ]]
    pic-task -q --plain -n 5 --seed 1 > p.jsonl
    run timeout 60 "${MPIRUN[@]}" pic-rollout -m "$M/qwen2-tiny" --threads 1 -q -o y - p.jsonl < p.jsonl
    fails_with 2 "2 ranks need the prompt FILEs"
    [ ! -e y ]
}

@test "train.sh --ranks 2 killed during step 3 and resumed with 1 rank ends where the 2-rank run ends" {
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    # W-REINFORCE: the tiny model earns no reward, and -1 for every negative
    # sample still gives a gradient; eps 1 as above
    TRAIN=(--model m --prompts 4 --n 2 --max-new-tokens 8 --lr 1e-3 --template chatml --seed 5 -q
           --method w-reinforce --update-args "--eps 1 --threads 1")
    L=(--launcher-args "--allow-run-as-root --oversubscribe")
    export ASAN_OPTIONS=detect_leaks=0 # for the ranks, as MPIRUN above
    train.sh --run u --steps 3 "${TRAIN[@]}" --ranks 2 "${L[@]}"
    train.sh --run k --steps 2 "${TRAIN[@]}" --ranks 2 "${L[@]}"
    setsid train.sh --run k --steps 3 "${TRAIN[@]}" --ranks 2 "${L[@]}" &
    pid=$!
    while [ ! -e k/rollouts/step-000003.jsonl.zst ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ ! -e k/steps/step-000003.json ] # killed inside step 3's update
    train.sh --run k --steps 3 "${TRAIN[@]}" --ranks 1
    jq -e '.ranks == 2' k/steps/step-000002.json > /dev/null
    jq -e 'has("ranks") | not' k/steps/step-000003.json > /dev/null
    # steps 1 and 2 are the same run's; step 3's update ran on 1 rank
    cmp u/ckpt/step-000002/model.safetensors k/ckpt/step-000002/model.safetensors
    [ "$(jq .grad_norm k/steps/step-000003.json | cut -d. -f1)" -ge 1 ]
    t=$(tol "$(jq .tokens_total k/steps/step-000003.json)" m)
    "$H/json_close.py" u/steps/step-000003.json k/steps/step-000003.json "$t" \
        seconds tokens_per_s micro_batches ranks comm_seconds wait_seconds load_seconds save_seconds
    "$H/st_close.py" u/final/model.safetensors k/final/model.safetensors "$(awk 'BEGIN { print 2 ^ -22 }')" \
        "$(awk -v t="$t" 'BEGIN { print 2 * 1e-3 * t }')"
    "$H/st_close.py" u/final/optimizer.safetensors k/final/optimizer.safetensors "$(awk -v t="$t" 'BEGIN { print 2 * t }')"
}

@test "train.sh --ranks 2 --serve: one 2-rank pic-update --serve for the run, the 2-rank steps bit for bit" {
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    TRAIN=(--model m --prompts 4 --n 2 --max-new-tokens 8 --lr 1e-3 --template chatml --seed 5 -q
           --method w-reinforce --update-args "--eps 1 --threads 1" --ranks 2
           --launcher-args "--allow-run-as-root --oversubscribe")
    export ASAN_OPTIONS=detect_leaks=0
    train.sh --run u --steps 3 "${TRAIN[@]}"
    timeout 300 train.sh --run s --steps 3 --serve --state-every 2 "${TRAIN[@]}"
    cmp <(jq -c 'del(.seconds, .tokens_per_s, .comm_seconds, .wait_seconds, .load_seconds, .save_seconds)' u/log.jsonl) \
        <(jq -c 'del(.seconds, .tokens_per_s, .comm_seconds, .wait_seconds, .load_seconds, .save_seconds, .optimizer_state)' s/log.jsonl)
    jq -se 'all(.[]; .ranks == 2)' s/log.jsonl > /dev/null
    cmp u/final/model.safetensors s/final/model.safetensors
    cmp u/final/optimizer.safetensors s/final/optimizer.safetensors
}

@test "train.sh --ranks 2 --serve stopped by SIGTERM mid-step: the server ends its step with the state, not killed" {
    # mpirun kills its ranks a second or two after a SIGTERM, too soon for a
    # step to end or a state to be written. The step is made slow: rank 0's
    # controller (--mini-batches 2 runs it inside pic-update) sleeps, through
    # a PIC_HOME of the same programs but pictl
    mkdir -p h/bin h/pipelines
    ln -s "$PIC_BIN"/* h/bin/ && rm h/bin/pictl && ln -s "$PIC_ROOT"/pipelines/* h/pipelines/
    printf '#!/bin/sh\nif [ -n "${OMPI_COMM_WORLD_RANK:-}" ] && [ -e %s/slow.on ]; then touch %s/slow.in; sleep 4; fi\n%s\n' \
        "$T" "$T" "exec $PIC_BIN/pictl \"\$@\"" > h/bin/pictl
    chmod +x h/bin/pictl
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    TRAIN=(--model m --prompts 4 --n 2 --max-new-tokens 8 --lr 1e-3 --template chatml --seed 5 -q --mini-batches 2
           --update-args "--eps 1 --threads 1" --ranks 2 --launcher-args "--allow-run-as-root --oversubscribe"
           --serve --state-every 4)
    export ASAN_OPTIONS=detect_leaks=0
    h/pipelines/train.sh --run u --steps 3 "${TRAIN[@]}"
    setsid h/pipelines/train.sh --run k --steps 3 "${TRAIN[@]}" &
    pid=$!
    while [ ! -e k/steps/step-000001.json ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    touch slow.on
    while [ ! -e slow.in ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    kill -TERM -- "-$pid"
    st=0
    wait "$pid" || st=$?
    rm slow.on
    [ "$st" -eq 143 ]
    # step 2's request ended (the server gives up no step of several ranks)
    # and its checkpoint, the last, got the state; it had been killed in it
    [ -f k/ckpt/step-000002/optimizer.safetensors ]
    [ ! -e k/steps/step-000002.json ]
    timeout 120 h/pipelines/train.sh --run k --steps 3 "${TRAIN[@]}"
    cmp u/final/model.safetensors k/final/model.safetensors
    cmp u/final/optimizer.safetensors k/final/optimizer.safetensors
}

@test "train.sh refuses bad --ranks and --launcher values" {
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    run train.sh --run r --model m --ranks 0
    fails_with 2 "--ranks: '0' is not a positive integer"
    run train.sh --run r --model m --ranks 2 --launcher ssh
    fails_with 2 "--launcher: 'ssh' is not mpirun or srun"
    if ! command -v srun > /dev/null; then
        run train.sh --run r --model m --ranks 2 --launcher srun
        fails_with 1 "srun is not installed"
    fi
    [ ! -e r ]
}

@test "2 ranks on the model's own samples: the first step is exactly on-policy (logp_diff_max 0 across ranks)" {
    pic-task -q --plain -n 4 --seed 2 > p.jsonl
    pic-rollout -m "$M/qwen2-tiny" --n 3 -t 0.7 --max-new-tokens 12 --seed 5 --threads 1 -q --plain p.jsonl |
        jq -c '.reward = (.sample % 2)' > s.jsonl
    "${MPIRUN[@]}" pic-update -m "$M/qwen2-tiny" -o next --threads 1 -q s.jsonl > b.json
    jq -e '.ranks == 2 and .logp_diff_max == 0 and .clipfrac_low == 0 and .clipfrac_high == 0' b.json > /dev/null
    "${MPIRUN[@]}" pic-update -m "$M/qwen2-tiny" -o next --threads 1 -q --fast s.jsonl > f.json
    jq -e '.logp_diff_max < 1e-4' f.json > /dev/null
}
