#!/usr/bin/env bash
# pic-reward throughput on one core: checks per second and the time of each
# check (p50, p99, max) over real model responses and the graders' cases.
# Target (issue 3): >= 50,000 checks/s and no check above 1 ms.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIC_BIN:-$root/bin}"
fx="$root/tests/fixtures/reward"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# each file 20 times over, so that the run lasts long enough to time
for i in $(seq 20); do cat "$fx/qwen25math-math-cot-100.jsonl"; done >"$tmp/responses.jsonl"
for i in $(seq 20); do
  jq -c 'select(.kind == "verify") | {answer: .gold, response: .pred}' "$fx/verify-cases.jsonl"
done >"$tmp/cases.jsonl"
echo "responses (Qwen2.5-Math outputs):"
taskset -c 0 "$bin/pic-reward" --timing --plain --gold-field gold "$tmp/responses.jsonl" 2>&1 >/dev/null | grep timing
echo "verify cases:"
taskset -c 0 "$bin/pic-reward" --timing --plain "$tmp/cases.jsonl" 2>&1 >/dev/null | grep timing
