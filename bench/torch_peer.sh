#!/usr/bin/env bash
# The PyTorch CPU peer's figures (../shared/peers/cpu_peer_torch.py, Debian's
# python3-torch, the same models as bench/update.sh and bench/rollout.sh) for
# THREADS threads, one "torch ..." line each; nothing on standard output
# when /usr/bin/python3 has no torch (the peer is optional), a line on
# standard error saying it was skipped. It runs once per `make bench`: the
# first caller keeps its output in $PIC_TORCH_PEER (make bench sets it),
# later callers read it back. Usage: torch_peer.sh THREADS
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
peer=${PIC_PEERS:-../shared/peers}/cpu_peer_torch.py
py=${PIC_TORCH_PYTHON:-/usr/bin/python3}
# the peer is optional: its absence is said (the figures lack a column), not failed
if [ ! -r "$peer" ]; then
    echo "torch_peer.sh: no $peer: PyTorch peer skipped" >&2
    exit 0
fi
if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "torch_peer.sh: $py has no torch (Debian's python3-torch): PyTorch peer skipped" >&2
    exit 0
fi
cache=${PIC_TORCH_PEER:-}
if [ -n "$cache" ] && [ -s "$cache" ] && [ "$(head -n 1 "$cache")" = "threads $threads" ]; then
    tail -n +2 "$cache"
    exit 0
fi
out=$("$py" "$peer" "$threads" 2>&1) || { echo "torch peer failed: $out" >&2; exit 0; }
[ -z "$cache" ] || printf 'threads %s\n%s\n' "$threads" "$out" >"$cache"
echo "$out"
