#!/usr/bin/env bash
# The built-in demo. Until the training pipeline lands, it shows the
# controller on the paper's linear entropy model (Theorem 4.3): with a
# constant drift D, P control settles at the offset D/(C0*Kp) while PI
# control reaches the target. Writes runs/demo-sim/{p,pi}/log.jsonl and a plot.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PWD/pipelines:$PATH"
out=${1:-runs/demo-sim}
mkdir -p "$out/p" "$out/pi"

common=(--target 0.1 --h0 0.5 --c0 0.5 --drift 0.02 --steps 150 --quiet)
pictl simulate --ki 0 "${common[@]}" > "$out/p/sim.jsonl"
pictl simulate --ki 0.05 "${common[@]}" > "$out/pi/sim.jsonl"
for run in p pi; do
    jq -c 'select(.summary | not) | {step, entropy, target, alpha}' "$out/$run/sim.jsonl" > "$out/$run/log.jsonl"
done
plot.sh -o "$out/plot" --title "PI vs P control on the linear entropy model (drift 0.02)" \
    "$out/p" "$out/pi" > /dev/null
jq -r 'select(.summary) | "final error \(.final_error | . * 1e6 | round / 1e6)  predicted \(.steady_error_predicted)  stable \(.stable)"' \
    "$out/p/sim.jsonl" | sed 's/^/P  control: /'
jq -r 'select(.summary) | "final error \(.final_error | . * 1e6 | round / 1e6)  predicted \(.steady_error_predicted)  stable \(.stable)"' \
    "$out/pi/sim.jsonl" | sed 's/^/PI control: /'
echo "figures: $out/plot.png $out/plot.svg"
