#!/usr/bin/env bash
# One training step on the GPU (forward, the loss's head backward and
# backward, clipping, AdamW; 8 x 2048 random tokens, random weights) for the
# Qwen2.5-0.5B and 1.5B architectures (bench/configs; name a CONFIG to add
# 7B): pic-model-bench --train beside transformers (bf16 autocast, fp32
# master weights, fused AdamW) and beside the bf16 matrix rate, all measured
# in this run: tokens/s, model FLOP utilisation (3 x the forward's matrix
# products and attention over the matrix rate), peak memory. Issue 11's
# goals: >= 50% and >= 2 x transformers on 0.5B, >= 45% on 1.5B.
#
#   bench/gpu_train.sh [--budget SECONDS] [--rows FILE] [--results FILE] [CONFIG...]
#
# The same harness as bench/gpu_score.sh (its options; no GPU: a skip).
# (named in its messages as itself)
PIC_BENCH_NAME=gpu_train.sh exec "$(dirname "$0")/gpu_score.sh" --train "$@"
