#!/usr/bin/env bash
# Installs the Debian packages pic needs, only when one is missing.
# Why each is here: docs/dependencies.md.  Usage: scripts/deps.sh [--check]
set -euo pipefail

packages=(
  build-essential
  libzstd-dev zstd          # streams: zstd-compressed JSON Lines
  libjansson-dev jq         # JSON records; jq for scripts and tests
  libdouble-conversion-dev  # the shortest text of each real the streams write
  bats                      # program tests (TAP), run through prove (perl)
  python3                   # tests that build their inputs with Python (no packages)
  libpcre2-dev              # tokenizer pre-split regex, JIT-compiled
  libutf8proc-dev           # NFC normalisation in the tokenizer
  libgmp-dev libmpfr-dev    # exact and high-precision math in pic-reward
  libopenblas-dev           # CPU matrix products
  libsimde-dev              # tests: the AVX2/AVX-512 kernels' own code on any CPU (make isa-emu)
  gnuplot-nox               # plots of training runs
  xz-utils                  # tokenizer fixtures are stored xz-compressed
  openmpi-bin libopenmpi-dev # data-parallel jobs: mpirun, MPI collectives
  procps time               # tests: pgrep (a stopped run leaves no process), GNU time (peak memory)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${1:-}" = --check ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  exit 1
fi
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
if [ -n "$sudo" ] && ! command -v sudo > /dev/null; then
  echo "deps: missing Debian packages, and not root with no sudo to install them: as root, run apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
