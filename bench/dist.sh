#!/usr/bin/env bash
# The collectives' share (the gradient's reduce-scatter, the weights'
# gather) of a data-parallel training step on the CPU: the
# update benchmark's ~9.4M-parameter model as 2 MPI ranks on this machine,
# one thread each, against the same step in one process with 2 threads
# (docs/distributed.md). Extra arguments go to pic-update-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpirun > /dev/null || { echo "bench/dist.sh: no mpirun (scripts/deps.sh installs OpenMPI)" >&2; exit 1; }
args=(--seqs 16 --prompt 64 --response 192 --steps 3 "$@")
echo "one process, 2 threads:"
bin/pic-update-bench --threads 2 "${args[@]}"
echo "2 ranks, 1 thread each:"
# OpenMPI refuses root without the first flag; the second lets 2 ranks share fewer cores
root=(); [ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
mpirun "${root[@]}" --oversubscribe -np 2 bin/pic-update-bench --threads 1 "${args[@]}"
