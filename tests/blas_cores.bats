#!/usr/bin/env bats
# The tests whose numbers go through OpenBLAS, under each of its kernel
# families that users' CPUs select: Haswell (AVX2 + FMA, Intel), Zen (AVX2,
# AMD), SkylakeX (AVX-512) and Sandybridge (AVX without FMA). OpenBLAS picks
# one by CPU, so one machine runs only one unless forced (OPENBLAS_CORETYPE,
# honoured by the DYNAMIC_ARCH builds distributions ship); a tolerance fitted
# to one family fails on another (test_model's entropy bound did under
# Sandybridge), and matmul.c's blocks of rows must start where each family's
# row tiles do (test_matmul_split: blocks of 64 rows passed on this CPU's own
# kernels and failed under Haswell and Zen). `make test-blas` runs this file
# alone.

load helpers

BUILD="${PIC_BUILD:-$PIC_ROOT/build}"

# run_under CORE CPUFLAG: the BLAS-sensitive unit tests with that kernel
# family forced, one and two BLAS threads; skipped where the CPU lacks the
# instructions (forcing them would be SIGILL) or the library cannot be forced.
run_under() {
    grep -qw "$2" /proc/cpuinfo || skip "this CPU has no $2"
    core=$(OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=$1 pic-rollout --help 2>&1 >/dev/null | sed -n 's/^Core: //p')
    [ -n "$core" ] || skip "OpenBLAS here is not a DYNAMIC_ARCH build"
    [ "$core" = "$1" ] || { echo "OPENBLAS_CORETYPE=$1 gave core $core" >&2; return 1; }
    for threads in 1 2; do
        for t in test_model test_backward test_rollout_invariance test_loss test_matmul_split; do
            (cd "$PIC_ROOT" && OPENBLAS_CORETYPE=$1 OPENBLAS_NUM_THREADS=$threads "$BUILD/tests/$t") >"$T/$t.tap" ||
                { grep -v '^ok' "$T/$t.tap" >&2; echo "$t failed under $1, $threads threads" >&2; return 1; }
        done
    done
}

@test "OpenBLAS Haswell kernels (AVX2, FMA)" { run_under Haswell avx2; }
@test "OpenBLAS Zen kernels (AVX2, AMD)" { run_under Zen avx2; }
@test "OpenBLAS SkylakeX kernels (AVX-512)" { run_under SkylakeX avx512f; }
@test "OpenBLAS Sandybridge kernels (AVX, no FMA)" { run_under Sandybridge avx; }
