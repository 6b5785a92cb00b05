#!/usr/bin/env bats
# pic-kernel-bench: a decode step's matrix products and attention timed
# alone (docs/model.md); each line's arithmetic, and its usage errors.
load helpers

@test "kernel-bench: a cold and a hot line per row count, an attention line per batch, figures that agree" {
    run pic-kernel-bench --rows 1,3 --positions 7 --reps 2 --threads 2
    [ "$status" -eq 0 ]
    [ "$(grep -c '^matmul_bi  1 rows cold:' <<<"$output")" -eq 1 ]
    [ "$(grep -c '^matmul_bi  3 rows hot :' <<<"$output")" -eq 1 ]
    [ "$(grep -c '^attention  3 x 7 positions:' <<<"$output")" -eq 1 ]
    # the weights: 10 layers x (256 x 512 + 256 x 256 + 256 x 1376 + 688 x 256) floats
    grep -q '(29.0 MB)' <<<"$(grep '^matmul_bi' <<<"$output" | head -1)"
    # GFLOP/s = 2 x rows x weights / time, GB/s = bytes / time: GFLOP/s is
    # 2 x rows / 4 bytes = 1.5 times GB/s, each printed to 0.1 (off by up to
    # 0.05): |f - 1.5 b| <= 0.05 + 1.5 x 0.05, however slow a loaded machine
    # makes the figures (a ratio test failed when GB/s fell to ~1)
    line=$(grep '^matmul_bi  3 rows cold' <<<"$output")
    gflops=$(sed -E 's/.*ms a step, +([0-9.]+) GFLOP.*/\1/' <<<"$line")
    gbps=$(sed -E 's/.*GFLOP\/s, +([0-9.]+) GB.*/\1/' <<<"$line")
    awk -v f="$gflops" -v b="$gbps" 'BEGIN { d = f - 1.5 * b; if (d < 0) d = -d; exit !(b > 0 && d <= 0.1251) }'
    # keys and values: 10 layers x 3 sequences x 7 positions x 4 kv heads x 32 x 2 x 4 bytes
    grep -q '(0.2 MB)' <<<"$(grep '^attention  3' <<<"$output")"
}

@test "kernel-bench: --logits V times the head's statistics, a forward and a backward line per row count" {
    run pic-kernel-bench --logits 100000 --rows 2,5 --reps 2 --threads 2
    [ "$status" -eq 0 ]
    [ "$(grep -c '^logits' <<<"$output")" -eq 4 ]
    [ "$(grep -c '^matmul_bi\|^attention' <<<"$output")" -eq 0 ]
    grep -q '^logits  2 x 100000 forward :' <<<"$output"
    line=$(grep '^logits  5 x 100000 backward:' <<<"$output")
    # 5 x 100000 logits of 4 bytes: ms x 1e6 = 500000 ns an element, GB/s x ms = 2
    ms=$(sed -E 's/.*backward: +([0-9.]+) ms.*/\1/' <<<"$line")
    gbps=$(sed -E 's/.*ms, +([0-9.]+) GB.*/\1/' <<<"$line")
    ns=$(sed -E 's/.*logits, +([0-9.]+) ns.*/\1/' <<<"$line")
    awk -v m="$ms" -v g="$gbps" -v n="$ns" 'BEGIN { a = m * 1e6 / (n * 500000); b = g * m / 2
        exit !(a > 0.95 && a < 1.05 && b > 0.95 && b < 1.05) }'
    run pic-kernel-bench --logits 0
    [ "$status" -eq 2 ]
}

@test "kernel-bench: --glue times the element-wise and per-row layers, a line per row count; not with --logits" {
    run pic-kernel-bench --glue --rows 1,7 --reps 2 --threads 2
    [ "$status" -eq 0 ]
    [ "$(grep -c '^glue' <<<"$output")" -eq 2 ]
    [ "$(grep -c '^matmul_bi\|^attention\|^logits' <<<"$output")" -eq 0 ]
    grep -Eq '^glue  7 rows: rmsnorm +[0-9.]+ us, rope +[0-9.]+ us, swiglu +[0-9.]+ us a step$' <<<"$output"
    run pic-kernel-bench --glue --logits 100
    [ "$status" -eq 2 ]
    [[ "$output" == *"--logits and --glue: choose one"* ]]
}

@test "kernel-bench: every instruction set this CPU runs" {
    for isa in avx512 avx2 scalar; do
        PIC_ISA=$isa pic-kernel-bench --rows 2 --positions 3 --reps 1 --threads 1 >/dev/null 2>&1 || continue
        run env PIC_ISA=$isa pic-kernel-bench --rows 2 --positions 3 --reps 1 --threads 1
        [ "$status" -eq 0 ]
        [ "$(head -1 <<<"$output")" = "kernels: $isa, 1 threads" ]
    done
    run env PIC_ISA=scalar pic-kernel-bench --rows 2 --positions 3 --reps 1 --threads 1
    [ "$status" -eq 0 ]
}

@test "kernel-bench: bad options are usage errors" {
    run pic-kernel-bench --rows 0
    [ "$status" -eq 2 ]
    [[ "$output" == *"--rows: 0 is outside [1, 4096]"* ]]
    run pic-kernel-bench --rows 1,x
    [ "$status" -eq 2 ]
    # an empty item is a slip, not passed over
    for r in 1,,8 1, ''; do
        run pic-kernel-bench --rows "$r"
        [ "$status" -eq 2 ]
        [[ "$output" == *"--rows: "*"empty"* ]]
    done
    run pic-kernel-bench --positions 0
    [ "$status" -eq 2 ]
    run pic-kernel-bench --bogus
    [ "$status" -eq 2 ]
    [[ "$output" == *"Try 'pic-kernel-bench --help'"* ]]
    run pic-kernel-bench extra
    [ "$status" -eq 2 ]
}
