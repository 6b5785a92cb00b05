#!/usr/bin/env bash
# Checkpoints pic writes, read back by HuggingFace transformers: a pic-init
# model of each architecture and one trained by pic-update (SFT) are loaded
# with AutoModelForCausalLM / AutoTokenizer; the token ids, the decoded text
# and the log-probs and entropies (T = 0.6) must equal pic's (1e-4).
#
# Needs python3 with torch and transformers, which this project's machines
# lack: run it where they exist (the GPU machine has both):
#   tests/hf/roundtrip.sh [DIR]      (DIR: scratch, default runs/hfcheck)
# Stage 1 (here) makes the checkpoints with bin/; stage 2 (python) checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
P=$root/bin
dir=${1:-$root/runs/hfcheck}
if [ "${STAGE:-make}" = make ]; then
    rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
    $P/pic-task -q -n 2000 --solutions --seed 99 > corpus.zst
    $P/pic-init -q -o init --corpus corpus.zst --merges 64
    $P/pic-task -q -n 256 --solutions --plain |
        jq -c '{id, prompt: ("<|im_start|>user\n" + .problem + "<|im_end|>\n<|im_start|>assistant\n"), response: (.solution + "<|im_end|>")}' > sft.jsonl
    $P/pic-tok -q -t init encode --field prompt --ids-field prompt_ids sft.jsonl |
        $P/pic-tok -q -t init encode --field response --ids-field response_ids > sft-ids.jsonl.zst
    $P/pic-update -q -m init -o sft --loss sft --lr 3e-3 --mini-batches 8 sft-ids.jsonl.zst > /dev/null
    $P/pic-init -q -o q3 --model-type qwen3 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --intermediate 128 --bf16 --seed 5
    $P/pic-init -q -o llama --model-type llama --hidden 64 --layers 2 --untied --seed 6
    for m in init sft q3 llama; do
        head -n 3 sft.jsonl | $P/pic-tok -q -t $m encode --field prompt --ids-field prompt_ids |
            $P/pic-tok -q -t $m encode --field response --ids-field response_ids |
            $P/pic-rollout -q --score --model $m --temperature 0.6 --plain > $m.scored.jsonl
    done
    cp "$root/tests/hf/check.py" .
    echo "made $dir; now: (cd $dir && python3 check.py)"
fi
if [ "${STAGE:-make}" != make ] || python3 -c 'import torch, transformers' 2>/dev/null; then
    cd "$dir" && python3 check.py
fi
