#!/usr/bin/env bash
# fig2.sh: the paper's Figure 2 experiment: GRPO runs from one model, each
# with the tokens of one quadrant (probability above tau or not x advantage
# positive or negative) out of the loss, beside the unmasked run; the entropy
# change of each says which tokens drive the entropy up or down.
set -euo pipefail
PROG=fig2.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: fig2.sh --out DIR --model DIR [OPTION]... [-- TRAIN_OPTION...]
Five GRPO runs of --steps steps from --model, through sweep.sh: DIR/hi-pos,
DIR/hi-neg, DIR/lo-pos, DIR/lo-neg (train.sh --mask-quadrant Q: those tokens
get no loss) and DIR/grpo (nothing masked). Then DIR/fig2.md and
DIR/fig2.tsv (entropy of the first and last step's rollouts and the change,
per run), DIR/fig2.png and DIR/fig2.svg (the changes as bars), and sweep.sh's
DIR/plot.png (the entropy curves). Rerunning resumes every run.

      --out DIR          the experiment's directory
      --model DIR        the starting model (the demo's: DEMO/sft)
      --steps N          training steps of each run (default 10)
      --tau X            the probability threshold of the quadrants (default
                         0.95, the paper's; the demo's model uses 0.5)
  -j, --jobs N           runs at a time (default 1)
  -q, --quiet            only errors and the table
  -h, --help             this help
Options after -- go to every train.sh (e.g. --prompts 16 --template chatml),
through sweep.sh: not --run, --target or --mask-quadrant, which the sweep
sets per run, nor --model, --steps or --tau, which are fig2.sh's own.
EOF2
}
out= model= steps=10 tau=0.95 jobs=1 QUIET=
while [ $# -gt 0 ]; do
    case "$1" in
    --out) need "$@"; out=$2; shift ;;
    --model) need "$@"; model=$2; shift ;;
    --steps) need "$@"; steps=$2; shift ;;
    --tau) need "$@"; tau=$2; shift ;;
    -j|--jobs) need "$@"; jobs=$2; shift ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) usage_error "unknown option '$1' (train.sh's options go after --)" ;;
    esac
    shift
done
dash_paths out model
[ -n "$out" ] || usage_error "--out DIR is required"
[ -n "$model" ] || usage_error "--model DIR is required"
int_opt --steps steps 1 $((1 << 40)) # (train.sh's bound)
int_opt --jobs jobs 1
# fig2.sh's own options given again after -- would win in every run (they
# come last), and the figure's title would name the ones they replaced
for a in "$@"; do
    case "$a" in --model|--steps|--tau) usage_error "$a after --: give fig2.sh's own $a" ;; esac
done

quadrants=(hi-pos hi-neg lo-pos lo-neg)
variants=()
for q in "${quadrants[@]}"; do variants+=(--variant "$q=--target off --mask-quadrant $q"); done
sweep.sh ${QUIET:+-q} --out "$out" -j "$jobs" "${variants[@]}" -- --model "$model" --steps "$steps" \
    --tau "$tau" "$@" > /dev/null

# Entropy of the rollouts of the first step (the starting model) and of the
# last (the model after steps - 1 updates). A rerun with fewer --steps
# leaves the runs longer (train.sh's smaller --steps does nothing): their
# step N is the last, not the log's end, which the title's N did not name.
# (through write_whole: a failed part, or a kill, left the temporary)
fig2_tsv() {
    printf 'run\tfirst\tlast\tchange\n'
    for r in "${quadrants[@]}" grpo; do
        # (a step without a response token has no entropy: null, an empty
        # cell, no change; the subtraction stopped the table)
        jq -rs --arg r "$r" --argjson n "$steps" '.[:$n] | [.[0].entropy, .[-1].entropy] as [$a, $b]
            | [$r, $a, $b, (if $a != null and $b != null then $b - $a else null end)] | @tsv' \
            "$out/$r/log.jsonl"
    done
}
write_whole "$out/fig2.tsv" fig2_tsv
fig2_md() {
    echo "| masked quadrant | entropy, first step | entropy, last step | change |"
    echo "|---|---|---|---|"
    tail -n +2 "$out/fig2.tsv" | awk -F'\t' 'function f(x, fmt) { return x == "" ? "-" : sprintf(fmt, x) }
        { printf "| %s | %s | %s | %s |\n", ($1 == "grpo" ? "none (GRPO)" : $1), f($2, "%.4f"), f($3, "%.4f"), f($4, "%+.4f") }'
}
write_whole "$out/fig2.md" fig2_md

if command -v gnuplot > /dev/null; then
    fig2_plot() { # png|svg: the figure on stdout
        case $1 in
        png) setterm="set terminal pngcairo size 900,600 font ',11' noenhanced" ;;
        svg) setterm="set terminal svg size 900,600 font 'sans,11' noenhanced" ;;
        esac
        # its warnings (an empty y range when every change is the same) are
        # noise under -q; a failure is not
        gnuplot <<EOF2 2>"$out/gnuplot.err" || { cat "$out/gnuplot.err" >&2; rm -f "$out/gnuplot.err"; return 1; }
$setterm
set output
set datafile separator "\t"
set title "Entropy change over $steps steps with one quadrant masked (tau $tau)"
set ylabel "entropy change (last - first step)"
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
set xzeroaxis
plot $(gq "$out/fig2.tsv") every ::1 using 0:4:xtic(1) with boxes notitle
EOF2
    }
    for term in png svg; do
        write_whole "$out/fig2.$term" fig2_plot "$term"
        [ -n "$QUIET" ] || cat "$out/gnuplot.err" >&2
        rm -f "$out/gnuplot.err"
    done
else
    say "gnuplot not found: no fig2.png (scripts/deps.sh installs it)"
fi
cat "$out/fig2.md"
