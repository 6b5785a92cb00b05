#!/usr/bin/env bash
# demo.sh: the built-in default, end to end on a laptop-sized CPU. No weights
# can be downloaded, so pic makes everything: synthetic verifiable arithmetic
# (pic-task), a small Qwen2-architecture model with a byte-level BPE
# tokenizer learned from the task text (pic-init), a short SFT warm-up on
# worked solutions (pic-update --loss sft), then RL with EntroPIC beside the
# GRPO baseline, the off-policy P-vs-PI comparison of the paper's Theorem 4.3,
# evaluation, figures and a table. Beside them (issue 18), one seed of the
# exploration comparison on Countdown (explore.sh): EntroPIC against GRPO,
# pass@k and greedy accuracy on held-out problems; `--full` runs all of its
# seeds and targets instead. It ends by checking what it set out to show,
# and writes DIR/summary.json.
set -euo pipefail
PROG=demo.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: demo.sh [--out DIR] [--steps N] [--explore-steps N] [--full] [--quick]
      --out DIR     where everything goes (default runs/demo, with --full
                    runs/demo-full); rerunning resumes every stage
      --steps N     RL steps per run of the control demo (default 200)
      --explore-steps N
                    RL steps per run of the exploration comparison
                    (default 30; with --full 200)
      --full        the whole exploration comparison: 3 seeds, EntroPIC at
                    3 targets beside GRPO, 200 steps, the off-policy leg
                    for seed 1, pass@k up to 64 on 200 held-out problems
                    per level (hours on 2 cores: docs/demo.md); without
                    it, one seed and one target, 100 problems per level,
                    no off-policy leg
      --quick       a smoke run: tiny SFT, 3 RL steps (2 exploring), no
                    checks; --steps and --explore-steps given win
  -q, --quiet       only the results
  -h, --help        this help
Stages: DIR/init (model), DIR/sft, DIR/onpolicy/{target-H,grpo},
DIR/offpolicy/{p,pi}, DIR/eval, DIR/explore (explore.sh, run beside the
others at a lower priority, so it uses the cores they leave idle); figures
DIR/onpolicy/plot.png and DIR/offpolicy/plot.png; results DIR/results.md
and DIR/summary.json (the checks, the runs' means and `exploration`).
EOF2
}

out= steps=200 steps_given= explore_steps= full= quick= QUIET=
while [ $# -gt 0 ]; do
    case "$1" in
    --out) need "$@"; out=$2; shift ;;
    --steps) need "$@"; steps=$2; steps_given=1; shift ;;
    --explore-steps) need "$@"; explore_steps=$2; shift ;;
    --full) full=1 ;;
    --quick) quick=1 ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
    shift
done
int_opt --steps steps 1 $((1 << 40)) # (train.sh's bound)
[ -z "$full" ] || [ -z "$quick" ] || usage_error "--full and --quick exclude each other"
[ -n "$out" ] || out=runs/demo${full:+-full}
dash_paths out
explore_steps_given=$explore_steps
[ -n "$explore_steps" ] || explore_steps=$([ -n "$full" ] && echo 200 || echo 30)
int_opt --explore-steps explore_steps 1 $((1 << 40))

# The demo's settings (docs/demo.md says how they were found). The target is
# the entropy the SFT warm-up leaves, measured below: EntroPIC is to hold it
# while GRPO lets it collapse. The model is small and its entropy lives in a
# few answer tokens whose probabilities are mostly below the paper's
# tau = 0.95, so the EntroPIC term reaches them with tau = 0.5, and the
# controller needs more gain than the paper's 7B defaults (Kp 1, Ki 0.01) to
# act within 200 steps. Off-policy, each batch takes 4 optimizer steps at
# about a third of the on-policy rate, and the integral, fed once per
# optimizer step, gets a smaller Ki for the same integral action per batch.
tau=0.5 kp=20 ki=0.5 ki_off=0.15 lr=5e-4 lr_off=1.5e-4
sft_samples=8192 sft_steps=128 sft_lr=3e-3
rl=(--prompts 32 --n 8 --max-new-tokens 32 --template chatml --tau "$tau" --seed 1
    --val-every 25 --val-n 4 --update-args --threads=1 --rollout-args --threads=1)
if [ -n "$quick" ]; then
    [ -n "$steps_given" ] || steps=3 # (--steps given wins: it was overridden, silently)
    sft_samples=256 sft_steps=4
    rl=(--prompts 4 --n 4 --max-new-tokens 32 --template chatml --tau "$tau" --seed 1 --val-every 3 --val-n 1)
fi
export OPENBLAS_NUM_THREADS=1
start=$(date +%s)
mkdir -p "$out"

# 0. The exploration comparison (docs/demo.md), in the background at a lower
# priority: the control stages below leave a core idle much of the time
# (serial stages, one run of a pair finishing first), and it takes that.
# Its results do not depend on what else runs: every run is batch-invariant
# on a fixed number of threads.
if [ -n "$full" ]; then
    explore=(--steps "$explore_steps")
elif [ -n "$quick" ]; then
    explore=(--quick)
    [ -z "$explore_steps_given" ] || explore+=(--steps "$explore_steps")
else
    explore=(--seeds 1 --targets 1 --steps "$explore_steps" --eval-problems 100 --off-policy 0)
fi
say "exploration: explore.sh ${explore[*]}, beside the rest (log $out/explore.log)"
setsid nice -n 10 explore.sh -q --out "$out/explore" "${explore[@]}" > "$out/explore.log" 2>&1 &
explore_pid=$!
trap 'kill -- "-$explore_pid" 2> /dev/null || true' EXIT

# 1. The model: a tokenizer learned from the task text, random weights.
if [ ! -d "$out/init" ]; then
    say "init: a Qwen2-architecture model and its tokenizer"
    pic-task -q --solutions -n 4000 --seed 7 -d 1 -o "$out/corpus.jsonl.zst"
    pic-init -q -o "$out/init" --corpus "$out/corpus.jsonl.zst" --merges 64
fi

# 2. SFT warm-up on worked solutions (the format, and some arithmetic).
if [ ! -d "$out/sft" ]; then
    say "sft: $sft_steps optimizer steps on $sft_samples worked solutions"
    pic-task -q --plain --solutions -n "$sft_samples" --seed 11 -d 1 |
        jq -c '{id, problem, answer, response: (.solution + "<|im_end|>")}' |
        pic-rollout -q --score -m "$out/init" --template chatml -o "$out/sft.jsonl.zst"
    pic-update -q -m "$out/init" -o "$out/sft" --loss sft --lr "$sft_lr" --warmup 10 \
        --mini-batches "$sft_steps" "$out/sft.jsonl.zst" > "$out/sft.stats.json"
fi

# The target: the token-mean entropy of the SFT model on 64 prompts x 8.
# (through write_whole, as the tables below: a failed part or a kill left
# the temporary, or the table half-written)
target() {
    pic-task -q --plain -n 64 --start 2000000000 --seed 1 -d 1 |
        pic-rollout -q --plain -m "$out/sft" --template chatml -n 8 -t 0.6 --max-new-tokens 32 --seed 3 |
        jq -n '[inputs.entropy[]] | add / length * 1000 | round / 1000'
}
[ -s "$out/target" ] || write_whole "$out/target" target
target=$(cat "$out/target")
say "target: $target, the SFT model's entropy"

# 3. On-policy RL: EntroPIC at the target beside the GRPO baseline.
say "rl: EntroPIC (target $target) and GRPO, $steps steps each, in parallel"
sweep.sh -q --out "$out/onpolicy" --targets "$target" -j 2 -- --model "$out/sft" \
    --steps "$steps" --kp "$kp" --ki "$ki" --lr "$lr" "${rl[@]}" > /dev/null

# 4. Off-policy (4 optimizer steps per batch, pictl inside pic-update):
#    P control keeps a steady offset, PI control reaches the target.
say "off-policy: P and PI control, --mini-batches 4, in parallel"
pids=()
for run in p pi; do
    gains=(--kp "$kp" --ki "$ki_off"); [ "$run" = pi ] || gains=(--kp "$kp" --ki 0)
    # (SIGINT taken back: a background job ignores it, and Ctrl-C left both runs training)
    (trap - INT; exec train.sh -q --run "$out/offpolicy/$run" --model "$out/sft" --steps "$steps" --target "$target" \
        --mini-batches 4 --lr "$lr_off" "${gains[@]}" "${rl[@]}") > "$out/offpolicy-$run.log" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || die "an off-policy run failed: see $out/offpolicy-*.log"; done
plot.sh -o "$out/offpolicy/plot" --title "off-policy (4 mini-batches): P vs PI control" \
    "$out/offpolicy/p" "$out/offpolicy/pi" > /dev/null

# 5. Evaluation of the final policies on held-out problems.
say "eval: the SFT model and both final policies on 200 held-out problems"
# (through a temporary: a rerun keeps any non-empty heldout.jsonl, a killed write's too)
if [ ! -s "$out/heldout.jsonl" ]; then
    write_whole "$out/heldout.jsonl" pic-task -q --plain -n 200 --start 1000000000 --seed 12345 -d 1
fi
for m in sft onpolicy/target-$target onpolicy/grpo; do
    dir="$out/$m"; [ "$m" = sft ] || dir="$out/$m/final"
    eval.sh -q --model "$dir" --out "$out/eval/${m//\//-}" --n 4 --max-new-tokens 32 \
        --template chatml "$out/heldout.jsonl" > /dev/null
done

wait "$explore_pid" || die "the exploration comparison failed: see $out/explore.log"
trap - EXIT

# 6. The results, and the checks the demo exists for.
results() {
    echo "# pic demo ($(date -u +%Y-%m-%dT%H:%MZ); this invocation: $(( $(date +%s) - start )) s)"
    echo
    echo "On-policy, $steps steps (means over the last third of the steps):"
    echo
    summary.sh --format markdown "$out/onpolicy/target-$target" "$out/onpolicy/grpo"
    echo
    echo "Off-policy, 4 mini-batches, target $target:"
    echo
    summary.sh --format markdown "$out/offpolicy/p" "$out/offpolicy/pi"
    echo
    echo "Held-out accuracy (200 problems, 4 samples each, T = 0.6):"
    echo
    echo "| model | avg@4 | pass@4 |"
    echo "|---|---|---|"
    for m in sft onpolicy-target-$target onpolicy-grpo; do
        jq -r --arg m "$m" '"| \($m) | \(.overall.avg * 1000 | round / 10) | \(.overall.pass_n * 1000 | round / 10) |"' \
            "$out/eval/$m/table.json"
    done
    echo
    jq -r '"Exploration on Countdown (\(.runs | map(.seed) | unique | length) seed(s), \(.steps) steps, EntroPIC at the "
        + "SFT entropy \(.exploration.entropic.target) and GRPO, final checkpoints, \(.k[-1]) samples per held-out problem at T 0.6):",
        "", "| method | " + (.k | map("pass@\(.)") | join(" | ")) + " | greedy |",
        "|---|" + (.k | map("---|") | join("")) + "---|",
        (.exploration | to_entries[] | select(.key != "heldout") | .value as $m
         | "| \(.key) | " + ($m.pass_at_k | [.[] | . * 1000 | round / 10 | tostring] | join(" | "))
           + " | \($m.accuracy_greedy * 1000 | round / 10) |")' "$out/explore/summary.json"
}
write_whole "$out/results.md" results
cat "$out/results.md"
echo "figures: $out/onpolicy/plot.png $out/offpolicy/plot.png"

# Means of a field over the last third, the first third or the second half
# of a run's steps (a step without a response token logs entropy null:
# left out, null when no step has one).
third() { # run field last|first|half
    jq -s --arg f "$2" --arg w "$3" "$jq_mean"'(length) as $n | ((($n + 2) / 3) | floor) as $k
        | (if $w == "last" then .[($n - $k):] elif $w == "half" then .[($n / 2 | floor):] else .[:$k] end)
        | map(.[$f]) | mean' "$1/log.jsonl"
}
check() { # description, jq condition over $e (EntroPIC), $g (GRPO), $p, $pi, $t
    if jq -en --argjson e "$e" --argjson g "$g" --argjson p "$p" --argjson pi "$pi" \
        --argjson t "$target" "$2" > /dev/null; then echo "PASS  $1"; else echo "FAIL  $1"; fi
}
e=$(third "$out/onpolicy/target-$target" entropy last)
g=$(third "$out/onpolicy/grpo" entropy last)
# The theorems are about the steady state: off-policy, the second half of the
# steps (the first half is the transient of both loops).
p=$(third "$out/offpolicy/p" entropy half)
pi=$(third "$out/offpolicy/pi" entropy half)
checks() {
    echo
    echo "Checks:"
    check "EntroPIC's entropy is within 10% of the target ($e vs $target)" '(($e - $t) | fabs) <= 0.1 * $t'
    check "GRPO's entropy falls clearly below the target ($g < 0.8 x $target)" '$g != null and $g < 0.8 * $t'
    for r in onpolicy/target-$target onpolicy/grpo; do
        r1=$(third "$out/$r" reward first) r3=$(third "$out/$r" reward last)
        check "training reward rises in $r ($r1 -> $r3)" "$r3 > $r1"
    done
    check "off-policy P control holds an offset over the second half (|$p - $target| > 2 x |$pi - $target|)" \
        '(($p - $t) | fabs) > 2 * (($pi - $t) | fabs)'
    check "off-policy PI control reaches the target within 10% over the second half ($pi)" '(($pi - $t) | fabs) <= 0.1 * $t'
}
if [ -z "$quick" ]; then
    write_whole "$out/checks.md" checks
    cat "$out/checks.md"
    # (results.md with the checks: tee -a appended them to it, a
    # half-written table when cut short)
    write_whole "$out/results.md" cat "$out/results.md" "$out/checks.md"
else
    : > "$out/checks.md"
fi

# The summary for scripts: the control result, the held-out accuracy, the
# checks, and `exploration` (pass@k and greedy accuracy of EntroPIC and
# GRPO on held-out Countdown problems, from explore.sh's summary).
acc() { jq -c '{avg: .overall.avg, pass_n: .overall.pass_n}' "$out/eval/$1/table.json"; }
write_whole "$out/summary.json" jq -n --argjson target "$target" --argjson steps "$steps" --argjson e "$e" \
    --argjson g "$g" --argjson p "$p" \
    --argjson pi "$pi" --argjson seconds "$(( $(date +%s) - start ))" --argjson quick "$([ -n "$quick" ] && echo true || echo false)" \
    --argjson acc "{\"sft\": $(acc sft), \"entropic\": $(acc "onpolicy-target-$target"), \"grpo\": $(acc onpolicy-grpo)}" \
    --rawfile checks "$out/checks.md" --slurpfile x "$out/explore/summary.json" '
    {quick: $quick, seconds: $seconds, target: $target, steps: $steps,
     onpolicy: {entropy_last_third: {entropic: $e, grpo: $g}},
     offpolicy: {entropy_second_half: {p: $p, pi: $pi}},
     heldout: ($acc + {problems: 200, samples: 4, temperature: 0.6}),
     checks: [$checks | split("\n")[] | capture("^(?<result>PASS|FAIL)  (?<check>.*)$")],
     exploration: ($x[0].exploration + {seeds: ($x[0].runs | map(.seed) | unique | length), steps: $x[0].steps,
                   start_entropy: $x[0].start_entropy, summary: "explore/summary.json"})}'
! grep -q '^FAIL' "$out/checks.md"
