#!/usr/bin/env bash
# Training tokens/s on the CPU (forward, PPO-clip + EntroPIC loss, backward,
# AdamW) of a ~9.4M-parameter random model, against the FLOP floor
# 6 x params x tokens at the sgemm rate measured in the same run
# (docs/update.md), and against PyTorch's CPU build on the same model when
# /usr/bin/python3 has torch (bench/torch_peer.sh; its forward + backward
# tokens/s, all tokens, as pic counts them; only at the default shape and
# model, the peer's own). Extra arguments go to
# pic-update-bench (from $PIC_BIN, default bin/); its JSON line comes first.
set -euo pipefail
cd "$(dirname "$0")/.."
json=$("${PIC_BIN:-bin}"/pic-update-bench --seqs 16 --prompt 64 --response 192 --steps 3 "$@")
echo "$json"
# the step's shape as pic-update-bench ran it (--seqs, --prompt, --response)
read -r tps floor threads seqs per_seq params < <(jq -r '[.tokens_per_s, .floor_tokens_per_s, .threads, .seqs,
    .tokens_per_step / .seqs, (.params / 1e4 | round / 100)] | map(tostring) | join(" ")' <<<"$json")
line=$(printf 'train step %d x %d: %6.0f tokens/s | floor %6.0f tokens/s | ratio %.2f' "$seqs" "$per_seq" "$tps" "$floor" \
    "$(awk -v a="$tps" -v b="$floor" 'BEGIN { print a / b }')")
# the peer trains bench/update.sh's own step (16 x 256 tokens, 9.35M
# parameters): beside another shape or model its figure compares nothing
torch=
if [ "$seqs $per_seq $params" = "16 256 9.35" ]; then
    torch=$(bench/torch_peer.sh "$threads" | sed -nE 's/^torch train: .*[( ]([0-9]+) tokens\/s forward\+backward.*/\1/p')
fi
[ -z "$torch" ] || line+=$(printf ' | PyTorch %s tokens/s (pic / PyTorch %.2f)' "$torch" \
    "$(awk -v a="$tps" -v b="$torch" 'BEGIN { print a / b }')")
echo "$line"
