#!/usr/bin/env bats
# The CUDA backend's own kernels, CUDA graphs and device sampler, run on the
# CPU by the emulator (make cuda-emu: tests/cudaemu, docs/gpu.md), through
# the golden fixtures and the programs. Where tests/host_cuda.bats checks
# the GPU paths' host code around the CPU's arithmetic, this checks the
# GPU's arithmetic itself: its numbers are not the CPU's bits (other
# summation orders) but must agree with golden and the CPU within float
# rounding, and must agree with themselves bit for bit wherever the design
# says so (batch sizes, generation against scoring and training, resume).
load helpers

M="$FIXTURES/models"
U="$FIXTURES/update"
EMU="${PIC_BUILD:-$PIC_ROOT/build}/cuda-emu"
S=(--lr 1e-2 --threads 1 -q)

setup() {
    T="$BATS_TEST_TMPDIR"
    cd "$T" || return 1
    if [ ! -x "$EMU/bin/pic-rollout" ] || [ ! -x "$EMU/bin/pic-update" ] || [ ! -x "$EMU/tests/test_backward" ]; then
        echo "no $EMU/bin/pic-rollout, pic-update or tests/test_backward: make test builds them (make cuda-emu)" >&2
        return 1
    fi
}

emu_rollout() { "$EMU/bin/pic-rollout" "$@"; }
emu_update() { "$EMU/bin/pic-update" "$@"; }

@test "golden logits, log-probs, entropies, greedy tokens, gradients and AdamW steps of every fixture model on the emulated GPU, f32 and bf16" {
    for d in f32 bf16; do # from the repository's root, as prove runs them
        (cd "$PIC_ROOT" && PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=$d "$EMU/tests/test_model") >"model-$d"
        (cd "$PIC_ROOT" && PIC_TEST_DEVICE=cuda PIC_TEST_DTYPE=$d "$EMU/tests/test_backward") >"backward-$d"
        ! grep -h "^not ok" "model-$d" "backward-$d" || false
        # they ran on the device, not a skip
        [ "$(grep -c "^ok" "model-$d")" -ge 30 ]
        [ "$(grep -c "^ok" "backward-$d")" -ge 60 ]
    done
    grep -q "qwen3-tiny" backward-f32
    # generation through the device's KV cache: the full forward's bits, and run.c's greedy ids
    grep -q "^ok .* llama-tiny: incremental decoding == full forward (relative 0 " model-bf16
    grep -q "^ok .* stories260K: 200 greedy ids equal run.c's" model-f32
}

@test "pic-rollout on the emulated GPU: the same bytes at batch sizes 1, 7 and 64 and through preemptions; in f32 the CPU's tokens, log-probs within 1e-5" {
    prompts 6 >p
    for d in f32 bf16; do
        G=(-m "$M/qwen2-tiny" -n 3 --max-new-tokens 24 --stop j --seed 3 --device cuda --dtype "$d" --plain -q)
        emu_rollout "${G[@]}" --max-batch-size 7 p >"g7-$d"
        for b in 1 64; do
            emu_rollout "${G[@]}" --max-batch-size "$b" p >"g$b-$d"
            cmp "g7-$d" "g$b-$d"
        done
    done
    # a prompt's pages shared by its samples, copied on write, given up and refilled
    emu_rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 24 --stop j --seed 3 --device cuda --dtype f32 --plain \
        --max-batch-size 7 --kv-cache-tokens 128 --max-batch-tokens 64 p >short 2>err
    grep -Eq "on cuda \(f32\), KV cache peak 128 of 128 positions, [1-9][0-9]* preemptions?" err
    cmp g7-f32 short
    pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 24 --stop j --seed 3 --max-batch-size 7 --plain -q p >cpu
    [ "$(jq -c .response_ids cpu)" = "$(jq -c .response_ids g7-f32)" ]
    jq -n --slurpfile a <(jq -c '.logprobs + .entropy' cpu) --slurpfile b <(jq -c '.logprobs + .entropy' g7-f32) -e '
        [range($a | length) as $r | range($a[$r] | length) as $i
         | (($a[$r][$i] - $b[$r][$i]) | fabs) / ([($a[$r][$i] | fabs), 1] | max)] | max <= 1e-5'
}

@test "exactly on-policy on the emulated GPU, f32 and bf16: generation's log-probs are --score's and pic-update's, bit for bit" {
    prompts 6 >p
    for d in f32 bf16; do
        emu_rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 16 --seed 3 --device cuda --dtype "$d" --plain -q p >"gen-$d"
        emu_rollout -m "$M/qwen3-tiny" --score --device cuda --dtype "$d" --plain -q "gen-$d" >"scored-$d"
        cmp <(jq -c '[.logprobs, .entropy]' "gen-$d") <(jq -c '[.logprobs, .entropy]' "scored-$d")
        jq -c '.reward = (.sample % 2)' "gen-$d" >"step-$d"
        emu_update -m "$M/qwen3-tiny" -o "next-$d" --device cuda --dtype "$d" "${S[@]}" "step-$d" >"stats-$d"
        [ "$(jq .logp_diff_max "stats-$d")" = 0 ]
        [ "$(jq -r .device "stats-$d")" = cuda ]
    done
}

@test "pic-update on the emulated GPU in bf16: two steps resumed from the checkpoint and optimizer state equal one process, bit for bit" {
    s="$U/qwen3-tiny-step.jsonl"
    { cat "$s"; sed 's/"golden-/"again-/' "$s"; } >six.jsonl
    n=$(wc -l <"$s")
    head -"$n" six.jsonl >a.jsonl
    tail -"$n" six.jsonl >b.jsonl
    emu_update -m "$M/qwen3-tiny" -o s1 "${S[@]}" --device cuda --dtype bf16 a.jsonl >/dev/null
    emu_update -m s1 -o s2 "${S[@]}" --device cuda --dtype bf16 b.jsonl >/dev/null
    emu_update -m "$M/qwen3-tiny" -o u "${S[@]}" --device cuda --dtype bf16 --mini-batches 2 six.jsonl >/dev/null
    same_ckpt s2 u
    # --recompute keeps each layer's input only: the same bits
    emu_update -m "$M/qwen3-tiny" -o r "${S[@]}" --device cuda --dtype bf16 --mini-batches 2 --recompute six.jsonl >/dev/null
    same_ckpt u r
}

@test "with PIC_CUDA_ATTN=simt bf16 attention runs on the CUDA cores at heads of 64 and 128 too, and the layers match their twins" {
    PIC_CUDA_ATTN=simt "$EMU/tests/test_cuda_layers" >layers
    ! grep "^not ok" layers || false
    [ "$(grep -c "^ok" layers)" -ge 190 ]
    # the decode step then takes a block a head
    grep -q "^ok 2 - decode modes" layers
}

@test "a decode step's host calls on the emulated GPU (PIC_EMU_TRACE): one graph launch of 9 nodes a layer, five launches for the head and sampler, three copies, none into pageable memory, every kernel a programmatic dependent launch" {
    prompts 1 >p
    for n in 8 16; do
        PIC_EMU_TRACE="t$n" emu_rollout -m "$M/qwen2-tiny" -n 1 --max-new-tokens "$n" --ignore-eos --device cuda \
            --dtype bf16 --plain -q p >"o$n"
        [ "$(jq '.response_ids | length' "o$n")" -eq "$n" ]
    done
    # 8 more steps in t16 than in t8: a step's count times 8
    more() { echo $(($(grep -c "$1" t16) - $(grep -c "$1" t8))); }
    [ "$(more '^cudaGraphLaunch')" -eq 8 ]
    # the graph: RoPE tables, embeddings, the final norm, and 9 nodes in each of the two layers (norm, qkv,
    # split-rotate-append, attention, o, norm, gate/up, swiglu, down: no residual copies)
    grep -q '^cudaGraphLaunch 21 nodes$' t16
    # the graph holds the layers; outside it the head's product (its rows read in place, no gather), the
    # sampler's three, the statistics
    grep -v captured t8 >t8.direct && grep -v captured t16 >t16.direct
    [ $(($(grep -c '^launch\|^cublasLt' t16.direct) - $(grep -c '^launch\|^cublasLt' t8.direct))) -eq 40 ]
    ! grep -q '^launch gather_rows' t16.direct || false
    # every kernel of the step launched for programmatic dependent launch (common.cuh's launch_pdl), so that on
    # a Hopper GPU each gets ready while the one before it runs
    [ "$(grep '^launch' t16 | grep -vc ' pdl\b')" -eq 0 ]
    # copies: the layout up, the sampler's draws up and results down, one each; the page table's row when a
    # sequence takes a new page (at most once in these 8 steps: a page holds 64 positions)
    [ "$(more '^cudaMemcpyAsync')" -ge 24 ]
    [ "$(more '^cudaMemcpyAsync')" -le 25 ]
    grep -q '^launch part_mass_kernel' t16
    [ "$(more '^cudaStreamSynchronize')" -le 24 ]
    [ "$(more 'into pageable memory')" -eq 0 ]
    [ "$(more '^cudaMalloc\|^cudaFree')" -eq 0 ]
}

@test "PIC_CUDA_PROFILE on the emulated GPU: each phase's least work counted from the shapes, its floor at PIC_CUDA_PROFILE_RATES" {
    prompts 4 >p
    emu_rollout -m "$M/qwen2-tiny" -n 2 --max-new-tokens 8 --seed 1 --device cuda --dtype f32 --plain -q p >g
    PIC_CUDA_PROFILE=1 PIC_CUDA_PROFILE_RATES=100,2 emu_rollout -m "$M/qwen2-tiny" --score --device cuda --dtype f32 \
        --plain -q g >/dev/null 2>score
    # a phase's column, counted from the end (names hold spaces): GFLOP 3, GB 2, floor ms 1, floor/time 0
    col() { awk -v ph="  $2 " -v k="$3" 'index($0, ph) == 1 { print $(NF - k) }' "$1"; }
    calc() { awk "BEGIN { printf \"%.17g\", ($1) }"; }
    # within a relative tolerance (default 1e-5: the table prints six digits)
    close_to() { near "$1" "$2" "$(calc "${3:-1e-5} * $2")"; }
    cfg=$M/qwen2-tiny/config.json
    C=$(jq .hidden_size "$cfg") F=$(jq .intermediate_size "$cfg") L=$(jq .num_hidden_layers "$cfg")
    H=$(jq .num_attention_heads "$cfg") KV=$(jq .num_key_value_heads "$cfg") V=$(jq .vocab_size "$cfg")
    hd=$((C / H))
    # scoring feeds each record's tokens but the last; the head takes the response's positions
    N=$(jq -s 'map(.prompt_ids + .response_ids | length - 1) | add' g)
    pairs=$(jq -s 'map(.prompt_ids + .response_ids | length - 1 | . * (. + 1) / 2) | add' g)
    R=$(jq -s 'map(.response_ids | length) | add' g)
    close_to "$(col score 'qkv projection' 3)" "$(calc "2 * $N * $C * ($H + 2 * $KV) * $hd * $L / 1e9")"
    close_to "$(col score 'mlp up (gate, up)' 3)" "$(calc "2 * $N * $C * 2 * $F * $L / 1e9")"
    close_to "$(col score attention 3)" "$(calc "4 * $hd * $H * $pairs * $L / 1e9")"
    close_to "$(col score 'head (lm_head, log-probs)' 3)" "$(calc "2 * $R * $C * $V / 1e9")"
    # attention's bytes in f32: q in, the output out, each key and value row once, the log-sum-exp
    close_to "$(col score attention 2)" "$(calc "$L * (4 * (2 * $N * $H * $hd + 2 * $N * $KV * $hd) + 4 * $N * $H) / 1e9")"
    # the floor: the larger of GFLOP at 100 TFLOP/s and GB at 2 TB/s, in ms
    for ph in 'mlp down' rmsnorm; do
        want=$(calc "$(col score "$ph" 3) / 100 > $(col score "$ph" 2) / 2 ? $(col score "$ph" 3) / 100 : $(col score "$ph" 2) / 2")
        close_to "$(col score "$ph" 1)" "$want" 1e-3 # four digits
    done
    grep -q '^  floor: the larger of GFLOP at 100 TFLOP/s and GB at 2 TB/s' score

    # training: each product twice in the backward, attention's 2.5 times, the head's recomputed logits and
    # both its products 3 times its forward; the optimizer reads the gradient for its norm (4 bytes a
    # parameter), AdamW 30 in bf16, the clip 8 more
    jq -c '.reward = (.sample % 2)' g >step
    PIC_CUDA_PROFILE=1 emu_update -m "$M/qwen2-tiny" -o next --device cuda --dtype bf16 "${S[@]}" step >/dev/null 2>train
    grep -q '^  no floor: PIC_CUDA_PROFILE_RATES=TFLOPS,TBPS unset' train
    [ "$(col train qkv 1)" = - ]
    fwd=0
    for ph in 'qkv projection' 'o projection' 'mlp up (gate, up)' 'mlp down'; do fwd=$(calc "$fwd + $(col train "$ph" 3)"); done
    close_to "$(col train 'backward: projections' 3)" "$(calc "2 * $fwd")"
    close_to "$(col train 'backward: attention' 3)" "$(calc "2.5 * $(col train attention 3)")"
    close_to "$(col train 'backward: head' 3)" "$(calc "3 * $(col train 'head (lm_head, log-probs)' 3)")"
    P=$(python3 -c 'import json, sys; sys.path.insert(0, sys.argv[1]); import flops; print(flops.params(json.load(open(sys.argv[2])))[1])' \
        "$PIC_ROOT/tests/gpu" "$cfg")
    per=$(calc "$(col train 'optimizer (norm, AdamW)' 2) * 1e9 / $P")
    close_to "$per" 34 2>/dev/null || close_to "$per" 42
    # PIC_CUDA_PROFILE_RATES that are not two positive numbers: said, and no floor
    PIC_CUDA_PROFILE=1 PIC_CUDA_PROFILE_RATES=fast emu_rollout -m "$M/qwen2-tiny" --score --device cuda --dtype f32 \
        --plain -q g >/dev/null 2>bad
    grep -q "PIC_CUDA_PROFILE_RATES: want TFLOPS,TBPS (two positive numbers), got 'fast': no floor" bad
    grep -q '^  no floor' bad
}
