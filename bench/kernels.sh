#!/usr/bin/env bash
# A decode step's matrix products and attention timed alone (pic-kernel-bench)
# on bench/rollout.sh's model: where its time goes, and how much of it is the
# memory system's (cold against hot weights; docs/model.md), then its
# element-wise and per-row layers (--glue: RMSNorm, RoPE, SwiGLU), which run
# on one thread at small batches. PIC_ISA=avx2 (or scalar) shows what a CPU
# without AVX-512 gets. Extra arguments go to pic-kernel-bench (--threads N,
# --rows LIST, ...; --logits V times the head's log-softmax statistics
# instead, --glue the layers alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bin/pic-kernel-bench "$@"
case " $* " in
*" --logits"* | *" --glue "*) ;;
*) bin/pic-kernel-bench --glue "$@" | tail -n +2 ;; # its "kernels:" line is the first's
esac
