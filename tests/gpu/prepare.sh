#!/usr/bin/env bash
# Makes tests/gpu/carry/, everything tests/gpu/run.sh needs on a GPU machine
# that the working tree does not hold, and prints the device call that
# carries it (docs/gpu-checks.md). Run it here, where nvcc is: it builds
# first (`make -j2 all CUDA=1 MPI=0` into build/gpu; NVCC names another
# nvcc; PIC_BUILD and PIC_BIN other folders), then refuses to
# pack a CPU-only build: build/cuda.setting must say 1, no binary may hold
# cuda_none.c's "built without CUDA", and none may predate the switch to
# CUDA=1 (a stale test_cuda_* from before a `make CUDA=0`).
#
#   carry/bin.tar.xz holds bin/ and tests/:
#   carry/bin/    pic-rollout, pic-model-bench, pic-init, pic-update (stripped
#                 copies; pic-init for bench/gpu_generate.sh), and for
#                 tests/gpu/pipeline.sh pic-task, pic-reward, pictl, pic-batch,
#                 jq and zstd
#   carry/tests/  test_model, test_backward, test_cuda_*     (stripped copies)
#   carry/lib.tar.xz  the shared libraries they load from this machine
#                 (jansson, OpenBLAS, zstd, ...), not glibc, libstdc++ or CUDA's
#   carry/VERSION the commit and build they come from
#
# The fixtures need no copy: tests/fixtures/models is tracked (checked here
# against ../shared/fixtures/models). The working tree plus the carry must
# stay under the device's 64 MiB; this prints both sizes and fails over it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# A build of its own, without MPI: OpenMPI's libevent needs glibc 2.36
# (arc4random) where pic's binaries need 2.34, and a GPU machine on Ubuntu
# 22.04 has 2.35; one process per GPU check needs no MPI. Its own folders
# leave the tree's build (MPI on, for dist.bats) as it is.
BIN=${PIC_BIN:-build/gpu/bin} BUILD=${PIC_BUILD:-build/gpu}
TESTS=$BUILD/tests
CARRY=tests/gpu/carry
LIMIT=$((64 * 1024 * 1024))
die() { echo "prepare.sh: $*" >&2; exit 1; }

# The CUDA build, always: a tree last built with `make CUDA=0` holds CPU-only
# binaries (their --device cuda only says "built without CUDA") beside stale
# test_cuda_* of an earlier CUDA build, and a device call spent on those
# checks nothing. make rebuilds whatever the switch to CUDA=1 touches.
NVCC=$(command -v "${NVCC:-nvcc}" || command -v /usr/local/cuda/bin/nvcc) ||
    die "no nvcc (${NVCC:-nvcc} not found, nor /usr/local/cuda/bin/nvcc; NVCC=... names one): the GPU checks need a CUDA build"
echo "prepare.sh: make -j2 all CUDA=1 MPI=0 NVCC=$NVCC BUILD=$BUILD BIN=$BIN" >&2
make -j2 all CUDA=1 MPI=0 NVCC="$NVCC" BUILD="$BUILD" BIN="$BIN" >&2 || die "the CUDA build failed (make -j2 all CUDA=1 MPI=0)"
[ "$(cat "$BUILD/cuda.setting" 2>/dev/null)" = 1 ] ||
    die "$BUILD/cuda.setting does not say 1 after make CUDA=1: refusing to pack a build without CUDA"

programs=("$BIN/pic-rollout" "$BIN/pic-model-bench" "$BIN/pic-init" "$BIN/pic-update")
# what pipelines/train.sh calls beside them (tests/gpu/pipeline.sh): pic's
# CPU programs, and jq and zstd from this machine (the GPU machine may have
# neither; their libraries travel with the rest)
cpu_programs=("$BIN/pic-task" "$BIN/pic-reward" "$BIN/pictl" "$BIN/pic-batch")
tools=()
for t in jq zstd; do
    p=$(command -v "$t") || die "no $t here: pipelines/train.sh on the GPU machine needs one to carry"
    tools+=("$p")
done
tests=("$TESTS/test_model" "$TESTS/test_backward")
# the CUDA tests the makefiles declare, not whatever test_cuda_* lies in
# build/tests (a test since removed would travel as a stale binary)
while read -r t; do
    tests+=("$TESTS/$t")
done < <(grep -ho 'call UNIT,test_cuda_[A-Za-z0-9_]*' src/*/module.mk tests/unit/module.mk | sed 's/.*,//' | sort -u)
[ ${#tests[@]} -gt 2 ] || die "no test_cuda_* in src/*/module.mk: is this pic's tree?"
for b in "${cpu_programs[@]}"; do [ -x "$b" ] || die "$b is missing after make -j2 all CUDA=1"; done
for b in "${programs[@]}" "${tests[@]}"; do
    [ -x "$b" ] || die "$b is missing after make -j2 all CUDA=1"
    # cuda_none.c's message: a CPU-only object in a binary meant for the GPU
    ! grep -aq 'built without CUDA' "$b" || die "$b was built without CUDA (it holds cuda_none.c's message): refusing to pack it"
    # every library depends on cuda.setting, rewritten when CUDA flips: a
    # binary older than it was linked before the switch and make left it
    [ ! "$b" -ot "$BUILD/cuda.setting" ] || die "$b is older than $BUILD/cuda.setting (linked before the switch to CUDA=1): refusing to pack it"
done
git check-ignore -q "$CARRY/VERSION" || die "$CARRY is not ignored by git: it would travel twice (add it to .gitignore)"

rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/tests"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
copy() { # stripped when strip is there: the debug info is most of the size
    if command -v strip >/dev/null; then strip -o "$2/$(basename "$1")" "$1"; else cp "$1" "$2/"; fi
}
for b in "${programs[@]}" "${cpu_programs[@]}" "${tools[@]}"; do copy "$b" "$CARRY/bin"; done
for b in "${tests[@]}"; do copy "$b" "$CARRY/tests"; done
# Each binary embeds the same CUDA kernels (~7 MiB of fatbin for sm_80 and
# sm_90): eleven copies overflow the 64 MiB that travels. One xz stream with
# a dictionary larger than any binary stores them once (66 -> 2 MiB);
# run.sh unpacks it.
tar -cf - -C "$CARRY" bin tests | xz -9e --lzma2=preset=9e,dict=96MiB -T1 >"$CARRY/bin.tar.xz"
rm -rf "${CARRY:?}/bin" "${CARRY:?}/tests"

# Libraries: what ldd resolves here, less the C library family (the GPU
# machine's is at least as new), libstdc++/libgcc_s (likewise) and CUDA's own
# (too big; run.sh finds them there).
mkdir "$stage/lib"
ldd "${programs[@]}" "${cpu_programs[@]}" "${tools[@]}" "${tests[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
        case $name in
        linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | libresolv.so* | \
            libgcc_s.so* | libstdc++.so* | libcu* | libnccl* | libnv*) ;;
        *) cp -L "$path" "$stage/lib/$name" ;;
        esac
    done
tar -cJf "$CARRY/lib.tar.xz" -C "$stage" lib
glibc=$(objdump -T "${programs[@]}" "${cpu_programs[@]}" "${tools[@]}" "${tests[@]}" "$stage"/lib/* 2>/dev/null |
    grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1)
{
    echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "built: $(date -u +%FT%TZ) on $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), needs ${glibc:-?} or newer"
    echo "glibc: ${glibc#GLIBC_}"
    echo "libraries: $(find "$stage/lib" -type f -printf '%f ')"
    echo "programs and tests: $(basename -a "${programs[@]}" "${cpu_programs[@]}" "${tools[@]}" "${tests[@]}" | tr '\n' ' ')"
} >"$CARRY/VERSION"

# The fixtures run.sh reads are tracked; say so if ../shared has moved on.
if [ -d ../shared/fixtures/models ]; then
    for m in qwen2-tiny qwen3-tiny llama-tiny; do
        for f in golden.json golden.safetensors config.json; do
            cmp -s "../shared/fixtures/models/$m/$f" "tests/fixtures/models/$m/$f" ||
                echo "prepare.sh: warning: tests/fixtures/models/$m/$f differs from ../shared's" >&2
        done
    done
fi

tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carry=$(du -sb "$CARRY" | cut -f1)
total=$((tree + carry))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat "$CARRY/VERSION"
echo "working tree $(mib "$tree") + $CARRY $(mib "$carry") = $(mib "$total") of 64 MiB"
[ "$total" -le "$LIMIT" ] || die "over the device's 64 MiB: remove untracked files or build less"
cat <<EOF

The device call (one, at most 8 minutes: run.sh's budget is 440 s, and the
machine's start, a few minutes, counts against the session's device time too):
  run  carry: ["$CARRY"]  timeout_s: 480
       command: tests/gpu/run.sh
Then paste the summary table it prints last into docs/gpu.md (with the date,
the card and the driver from info.log), and give_back.
EOF
