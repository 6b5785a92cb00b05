#!/usr/bin/env bats
# One machine proves every path of the batch-invariant kernel and of
# attention (PIC_ISA=avx512|avx2|scalar, src/model/matmul_bi.c and
# attention.c, both with fused multiply-adds): each runs the tests whose
# numbers depend on them (test_rollout_invariance holds both kernels to their
# formulas bit for bit), and all give the same bytes. A path this CPU
# cannot run is skipped, saying so; an x86-64 machine with AVX-512 runs all
# three. test_logits does the same for the log-softmax statistics
# (src/model/logits.c) over real vocabularies' sizes. (OpenBLAS's kernel
# families: tests/blas_cores.bats.) And every path runs on any CPU in the
# build `make isa-emu` makes (build/isa-emu, SIMDe's portable intrinsics,
# src/model/x86_intrin.h): its own code, to the scalar path's bytes, where
# this CPU lacks AVX-512 or AVX2.

load helpers

M="$FIXTURES/models"
UNITS="${PIC_BUILD:-$PIC_ROOT/build}/tests"
EMU="${PIC_BUILD:-$PIC_ROOT/build}/isa-emu"

# the build over SIMDe is make test's (make isa-emu): missing, say so
needs_emu() {
    [ -x "$EMU/tests/test_rows" ] || { echo "$EMU is not built: run make isa-emu (make test does)" >&2; false; }
}

# skip unless this CPU runs PIC_ISA=$1 (the kernel says so when it cannot)
needs_isa() {
    run env PIC_ISA="$1" "$UNITS/test_rollout_invariance"
    [[ $output != *"PIC_ISA=$1: this CPU or build lacks"* ]] || skip "this CPU lacks $1"
}

# the rollout tests (bit-identity across batch sizes and with --score, greedy
# against transformers) and the kernel's own, under PIC_ISA=$1
under_isa() {
    needs_isa "$1"
    PIC_ISA=$1 run "$UNITS/test_rollout_invariance"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    PIC_ISA=$1 run bats --tap "$PIC_ROOT/tests/rollout.bats" "$PIC_ROOT/tests/rollout_score.bats"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "PIC_ISA=avx512: the invariance and rollout tests pass" { under_isa avx512; }
@test "PIC_ISA=avx2: the invariance and rollout tests pass" { under_isa avx2; }
@test "PIC_ISA=scalar: the invariance and rollout tests pass" { under_isa scalar; }

@test "every PIC_ISA path generates and scores the same bytes" {
    for i in 0 1 2 3 4 5 6; do echo "{\"id\": $i, \"problem\": \"$i plus $((i * 7)) is\"}"; done >p
    ran=()
    for isa in avx512 avx2 scalar; do
        run env PIC_ISA=$isa pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 40 --seed 5 --plain -q p
        [[ $output == *"this CPU or build lacks"* ]] && continue
        [ "$status" -eq 0 ]
        echo "$output" >"gen.$isa"
        PIC_ISA=$isa pic-rollout --score -m "$M/qwen2-tiny" --plain -q "gen.$isa" >"score.$isa"
        ran+=("$isa")
    done
    # scalar and the CPU's best, at least
    [ "${ran[-1]}" = scalar ]
    [ "${#ran[@]}" -ge 2 ]
    for isa in "${ran[@]}"; do
        cmp "gen.$isa" gen.scalar
        cmp "score.$isa" score.scalar
    done
}

@test "every PIC_ISA path trains to the same bytes (forward, attention backward, AdamW)" {
    # head sizes 8 (llama-tiny), 16 (qwen2-tiny) and 32 (qwen3-tiny): the
    # eight-lane AVX2 forms' partial and whole halves
    for m in llama-tiny qwen2-tiny qwen3-tiny; do
        jq -c '.logprobs |= map(if . > 0 then 0 else . end)' "$FIXTURES/update/$m-step.jsonl" >"$m.jsonl"
        ran=()
        for isa in avx512 avx2 scalar; do
            run env PIC_ISA=$isa pic-update -m "$M/$m" -o "$m.$isa" --clip-high 0.28 --lr 1e-3 --tau 0.5 --alpha 0.3 \
                --threads 2 -q "$m.jsonl"
            [[ $output == *"this CPU or build lacks"* ]] && continue
            [ "$status" -eq 0 ]
            ran+=("$isa")
        done
        [ "${ran[-1]}" = scalar ]
        [ "${#ran[@]}" -ge 2 ]
        for isa in "${ran[@]}"; do
            cmp "$m.$isa/model.safetensors" "$m.scalar/model.safetensors"
            cmp "$m.$isa/optimizer.safetensors" "$m.scalar/optimizer.safetensors"
        done
    done
}

@test "the log-softmax statistics give the same bytes on every PIC_ISA path, also with AVX-512 off in glibc and OpenBLAS" {
    # test_logits runs itself under each PIC_ISA and compares every output
    # over vocabularies of 1 to 151936; here it runs as on a CPU without
    # AVX-512 as far as the C library and OpenBLAS can tell (the kernels
    # still ask the CPU)
    run env OPENBLAS_CORETYPE=Haswell \
        GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512BW,-AVX512CD,-AVX512DQ,-AVX512VL "$UNITS/test_logits"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ $output == *"PIC_ISA=avx2: the same bytes as scalar in every case"* ]] || skip "this CPU lacks avx2"
}

@test "isa-emu: each path's own kernels over SIMDe give their formulas' and the scalar path's bits, on any CPU" {
    needs_emu
    for isa in avx512 avx2 scalar; do
        PIC_ISA=$isa run "$EMU/tests/test_rollout_invariance"
        [ "$status" -eq 0 ] || { echo "$isa: $output"; false; }
        [[ $output == *"attention_forward ($isa) is its formula bit for bit"* ]]
    done
    run "$EMU/tests/test_logits"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ $output == *"ok 5 - PIC_ISA=avx512: the same bytes as scalar in every case"* ]]
    [[ $output == *"ok 6 - PIC_ISA=avx2: the same bytes as scalar in every case"* ]]
    run "$EMU/tests/test_rows"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ $output == *"ok 2 - PIC_ISA=avx2: every row kernel gives its definition's bits"* ]]
    [[ $output == *"ok 3 - PIC_ISA=avx512: every row kernel gives its definition's bits"* ]]
    run "$EMU/tests/test_sampler_exp"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ $output == *"ok 2 - PIC_ISA=avx2: the sampler's exp gives its definition's bits"* ]]
    [[ $output == *"ok 3 - PIC_ISA=avx512: the sampler's exp gives its definition's bits"* ]]
}

@test "isa-emu: generation, scoring and a training step on each path over SIMDe give this CPU's scalar bytes" {
    needs_emu
    for i in 0 1 2 3; do echo "{\"id\": $i, \"problem\": \"$i plus $((i * 7)) is\"}"; done >p
    PIC_ISA=scalar pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 24 --seed 5 --plain -q p >gen
    PIC_ISA=scalar pic-rollout --score -m "$M/qwen2-tiny" --plain -q gen >score
    jq -c '.logprobs |= map(if . > 0 then 0 else . end)' "$FIXTURES/update/qwen3-tiny-step.jsonl" >step.jsonl
    train=(--clip-high 0.28 --lr 1e-3 --tau 0.5 --alpha 0.3 --threads 2 -q step.jsonl)
    PIC_ISA=scalar pic-update -m "$M/qwen3-tiny" -o native "${train[@]}"
    for isa in avx512 avx2; do
        PIC_ISA=$isa "$EMU/bin/pic-rollout" -m "$M/qwen2-tiny" -n 3 --max-new-tokens 24 --seed 5 --plain -q p >"gen.$isa"
        cmp "gen.$isa" gen
        PIC_ISA=$isa "$EMU/bin/pic-rollout" --score -m "$M/qwen2-tiny" --plain -q gen >"score.$isa"
        cmp "score.$isa" score
        PIC_ISA=$isa "$EMU/bin/pic-update" -m "$M/qwen3-tiny" -o "$isa" "${train[@]}"
        cmp "$isa/model.safetensors" native/model.safetensors
        cmp "$isa/optimizer.safetensors" native/optimizer.safetensors
    done
}

@test "PIC_ISA: an unknown name is an error naming the choices; unset or empty takes the CPU's best" {
    echo '{"id": 0, "problem": "hi"}' >p
    PIC_ISA=sse9 run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q p
    fails_with 1 "PIC_ISA=sse9: expected one of avx512, avx2, scalar"
    PIC_ISA= run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q p
    [ "$status" -eq 0 ]
}

@test "PIC_SPIN_US: the pool's polling time; 0 sleeps at once, same bytes; a bad value is an error naming it" {
    echo '{"id": 0, "problem": "hi"}' >p
    for us in 0 100; do
        PIC_SPIN_US=$us run pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 8 --seed 3 --plain -q --threads 2 p
        [ "$status" -eq 0 ]
        echo "$output" >"out.$us"
    done
    cmp out.0 out.100
    PIC_SPIN_US=fast run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q --threads 2 p
    fails_with 1 "PIC_SPIN_US=fast: expected microseconds"
    PIC_SPIN_US=-5 run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q --threads 2 p
    fails_with 1 "PIC_SPIN_US=-5"
    # checked when the pool is sized, also when it starts no worker
    PIC_SPIN_US=abc run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q --threads 1 p
    fails_with 1 "PIC_SPIN_US=abc"
    # 0 to 1000000 (docs/conventions.md): the bound itself, not past it, not NaN
    PIC_SPIN_US=1000000 run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q --threads 1 p
    [ "$status" -eq 0 ]
    for us in 1000001 nan; do
        PIC_SPIN_US=$us run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 --plain -q --threads 1 p
        fails_with 1 "PIC_SPIN_US=$us: expected microseconds"
    done
}
