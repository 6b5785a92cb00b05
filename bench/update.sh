#!/usr/bin/env bash
# Training tokens/s on the CPU (forward, PPO-clip + EntroPIC loss, backward,
# AdamW) of a ~9.4M-parameter random model, against the FLOP floor
# 6 x params x tokens at the sgemm rate measured in the same run
# (docs/update.md), and against PyTorch's CPU build on the same model when
# /usr/bin/python3 has torch (bench/torch_peer.sh; its forward + backward
# tokens/s, all tokens, as pic counts them). Extra arguments go to
# pic-update-bench; its JSON line comes first.
set -euo pipefail
cd "$(dirname "$0")/.."
json=$(bin/pic-update-bench --seqs 16 --prompt 64 --response 192 --steps 3 "$@")
echo "$json"
read -r tps floor threads < <(jq -r '"\(.tokens_per_s) \(.floor_tokens_per_s) \(.threads)"' <<<"$json")
line=$(printf 'train step 16 x 256: %6.0f tokens/s | floor %6.0f tokens/s | ratio %.2f' "$tps" "$floor" \
    "$(awk -v a="$tps" -v b="$floor" 'BEGIN { print a / b }')")
torch=$(bench/torch_peer.sh "$threads" | sed -nE 's/^torch train: .*[( ]([0-9]+) tokens\/s forward\+backward.*/\1/p')
[ -z "$torch" ] || line+=$(printf ' | PyTorch %s tokens/s (pic / PyTorch %.2f)' "$torch" \
    "$(awk -v a="$tps" -v b="$torch" 'BEGIN { print a / b }')")
echo "$line"
