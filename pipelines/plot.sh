#!/usr/bin/env bash
# plot.sh: figures of one or more training runs (the paper's Figures 4-6 and
# 12 in shape): entropy against step with each run's target, alpha, training
# reward, validation accuracy and reflective words per response at each
# validation. Writes OUT.png and OUT.svg.
set -euo pipefail
PROG=plot.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: plot.sh [-o OUT] [--title TEXT] RUN...
Plot the runs' RUN/log.jsonl (one stats line per step: step, entropy, target,
alpha, reward) and RUN/val.jsonl (step, accuracy, reflect: reflective words
per response, the paper's Figure 12) with gnuplot.

  -o, --output OUT   write OUT.png and OUT.svg (default RUN/plot for one run,
                     ./plot for several)
      --title TEXT   title above the figure (default "pic training runs")
  -h, --help         show this help
Each run is labelled with its directory name and drawn in its own colour in
every panel (its target too). A run without val.jsonl gets no
validation curve; a run without a target (the GRPO baseline) no target line;
a curve of one value (a run of one step) is a point.
EOF2
}

out= title="pic training runs"
runs=()
while [ $# -gt 0 ]; do
    case "$1" in
    -o|--output) need "$@"; out=$2; shift 2 ;;
    --title) need "$@"; title=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) runs+=("$1"); shift ;;
    esac
done
dash_paths out
[ ${#runs[@]} -gt 0 ] || usage_error "no run given"
command -v gnuplot >/dev/null || die "gnuplot not found (scripts/deps.sh installs it)"
[ -n "$out" ] || { [ ${#runs[@]} -eq 1 ] && out="${runs[0]}/plot" || out=plot; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One TSV per run and curve; gnuplot reads columns, jq reads the logs.
i=0
for run in "${runs[@]}"; do
    [ -s "$run/log.jsonl" ] || { echo "plot.sh: $run/log.jsonl: missing or empty" >&2; exit 1; }
    jq -r '[.step, (.entropy // "NaN"), (.target // "NaN"), (.alpha // "NaN"), (.reward // "NaN")] | @tsv' \
        "$run/log.jsonl" > "$tmp/log$i.tsv" ||
        { echo "plot.sh: $run/log.jsonl: not JSON Lines" >&2; exit 1; }
    if [ -s "$run/val.jsonl" ]; then
        jq -r '[.step, .accuracy, (.reflect // "NaN")] | @tsv' "$run/val.jsonl" > "$tmp/val$i.tsv" ||
            { echo "plot.sh: $run/val.jsonl: not JSON Lines" >&2; exit 1; }
    else
        : > "$tmp/val$i.tsv"
    fi
    # (a newline in a run's name ended gnuplot's string, and the plot
    # failed: \n instead, as summary.sh names it)
    name=$(basename "$run") && name=${name//$'\n'/\\n} && printf '%s\n' "${name//$'\r'/\\r}" > "$tmp/name$i"
    i=$((i + 1))
done

# colour K: run K's line colour, the same in every panel. gnuplot's line
# types repeat after 8 colours: a ninth run was drawn in the first one's
# colour, two runs (and their targets) that no key could tell apart.
# Beyond 8 runs each gets its own hue instead.
colour() {
    if [ ${#runs[@]} -le 8 ]; then
        printf 'lc %d' "$(($1 + 1))"
    else
        awk -v k="$1" -v n="${#runs[@]}" 'BEGIN {
            h = 6 * k / n; i = int(h); f = h - i; v = 0.85; p = 0; q = v * (1 - f); t = v * f
            r = (i == 0 || i == 5) ? v : (i == 1) ? q : (i == 4) ? t : p
            g = (i == 0) ? t : (i == 1 || i == 2) ? v : (i == 3) ? q : p
            b = (i == 2) ? t : (i == 3 || i == 4) ? v : (i == 5) ? q : p
            printf "lc rgb \"#%02x%02x%02x\"", r * 255 + 0.5, g * 255 + 0.5, b * 255 + 0.5 }'
    fi
}
# values FILE COL: how many rows of FILE have a value in column COL
values() { awk -F'\t' -v c="$2" '$c != "NaN" && $c != "" { n++ } END { print n + 0 }' "$1"; }
# A gnuplot 'plot' clause per run for column COL of FILE, leaving out runs
# that have no value in that column. A line through one value draws
# nothing (a run of one step): that run's value gets a point too.
clauses() { # file col style
    local k sep="" v style
    for ((k = 0; k < ${#runs[@]}; k++)); do
        v=$(values "$tmp/$1$k.tsv" "$2")
        [ "$v" -gt 0 ] || continue
        style=${3:-lines}; [ "$v" -gt 1 ] || style=linespoints
        printf '%s%s using 1:%s with %s lw 2 %s title %s' \
            "$sep" "$(gq "$tmp/$1$k.tsv")" "$2" "$style" "$(colour "$k")" "$(gq "$(cat "$tmp/name$k")")"
        sep=", "
    done
}
targets() {
    local k v style
    for ((k = 0; k < ${#runs[@]}; k++)); do
        v=$(values "$tmp/log$k.tsv" 3)
        [ "$v" -gt 0 ] || continue
        style=lines; [ "$v" -gt 1 ] || style=linespoints
        printf ', %s using 1:3 with %s dt 2 lw 1.5 %s title %s' \
            "$(gq "$tmp/log$k.tsv")" "$style" "$(colour "$k")" "$(gq "$(cat "$tmp/name$k") target")"
    done
}
# gnuplot refuses a plot with no point at all: an empty, labelled panel instead.
panel() { # file col style what
    local c
    c=$(clauses "$1" "$2" "${3:-lines}")
    if [ -n "$c" ]; then
        echo "unset label 1"
        echo "plot $c$( [ "$1$2" = log2 ] && targets )"
    else
        echo "set label 1 \"no $4 data\" at graph 0.5,0.5 center"
        echo "plot [0:1][0:1] 2 notitle"
    fi
}

for term in png svg; do
    case $term in
    png) setterm="set terminal pngcairo size 1400,1400 font ',11' noenhanced" ;;
    svg) setterm="set terminal svg size 1400,1400 font 'sans,11' noenhanced" ;;
    esac
    # gnuplot that cannot open its output only warns, and draws on stdout
    { : > "$out.$term.tmp"; } 2>/dev/null || die "$out.$term: cannot write there"
    gnuplot <<EOF2 >/dev/null 2>"$tmp/gnuplot.err" || { cat "$tmp/gnuplot.err" >&2; rm -f "$out.$term.tmp"; exit 1; }
$setterm
set output $(gq "$out.$term.tmp")
set datafile missing "NaN"
set datafile separator "\t"
set multiplot layout 3,2 title $(gq "$title")
set grid
set key top right
set xlabel "step"
set ylabel "token-mean entropy"
set title "Entropy (dashed: target)"
$(panel log 2 lines entropy)
set ylabel "alpha"
set title "Control coefficient alpha"
# a margin above and below: alpha saturated at its clip would lie on the frame
set offsets 0, 0, graph 0.05, graph 0.05
$(panel log 4 lines alpha)
unset offsets
set key bottom right
set ylabel "mean reward"
set title "Training reward"
$(panel log 5 lines reward)
set ylabel "accuracy"
set title "Validation accuracy"
$(panel val 2 linespoints validation)
set ylabel "reflective words per response"
set title "Reflective words (validation)"
$(panel val 3 linespoints reflective-word)
unset multiplot
EOF2
    mv "$out.$term.tmp" "$out.$term"
done
echo "$out.png $out.svg"
