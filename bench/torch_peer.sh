#!/usr/bin/env bash
# The PyTorch CPU peer's figures (../shared/peers/cpu_peer_torch.py, Debian's
# python3-torch, the same models as bench/update.sh and bench/rollout.sh) for
# THREADS threads, one "torch ..." line each; nothing when /usr/bin/python3
# has no torch (the peer is optional). It runs once per `make bench`: the
# first caller keeps its output in $PIC_TORCH_PEER (make bench sets it),
# later callers read it back. Usage: torch_peer.sh THREADS
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
peer=${PIC_PEERS:-../shared/peers}/cpu_peer_torch.py
py=${PIC_TORCH_PYTHON:-/usr/bin/python3}
[ -r "$peer" ] && "$py" -c 'import torch' 2>/dev/null || exit 0
cache=${PIC_TORCH_PEER:-}
if [ -n "$cache" ] && [ -s "$cache" ] && [ "$(head -n 1 "$cache")" = "threads $threads" ]; then
    tail -n +2 "$cache"
    exit 0
fi
out=$("$py" "$peer" "$threads" 2>&1) || { echo "torch peer failed: $out" >&2; exit 0; }
[ -z "$cache" ] || printf 'threads %s\n%s\n' "$threads" "$out" >"$cache"
echo "$out"
