#!/usr/bin/env bash
# summary.sh: one line per run: its target, the mean entropy, alpha and reward
# over the last third of its steps, and its best and last validation accuracy
# (the paper's tables report both).
set -euo pipefail
PROG=summary.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: summary.sh [--format table|markdown|json] RUN...
For each run (a train.sh directory): steps, target, and the means over the
last third of the steps of entropy, alpha and reward; the relative entropy
error (entropy - target) / target (none for a target of 0 or no target);
the best validation accuracy, with its step (RUN/best names that
checkpoint), and the last.

      --format F           table (default), markdown or json; a run is
                           named by its directory, as pic-eval names a
                           dataset: a tab, a newline or another control
                           character as \t, \n, \xHH, and in markdown '|'
                           as \| (json: the name as it is)
  -h, --help               this help
EOF2
}
format=table
runs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --format) need "$@"; format=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) runs+=("$1") ;;
    esac
    shift
done
[ ${#runs[@]} -gt 0 ] || usage_error "no run given"
case "$format" in table|markdown|json) ;; *) usage_error "--format: '$format' is not table, markdown or json" ;; esac

rows=$(for run in "${runs[@]}"; do
    [ -s "$run/log.jsonl" ] || die "$run/log.jsonl: missing or empty"
    jq -cs --arg run "$(basename "$run")" "$jq_mean"'
        (length) as $n | (.[($n - (($n + 2) / 3 | floor)):]) as $tail
        | {run: $run, steps: $n, target: .[-1].target,
           entropy: ($tail | map(.entropy) | mean), alpha: ($tail | map(.alpha) | mean),
           reward: ($tail | map(.reward) | mean),
           accuracy: (map(select(.accuracy != null) | .accuracy) | last),
           best: (map(select(.accuracy != null)) | max_by(.accuracy) | .accuracy),
           best_step: (map(select(.accuracy != null)) | max_by(.accuracy) | .step)}
        | .error = (if .target != null and .target != 0 and .entropy != null
                     then (.entropy - .target) / .target else null end)' "$run/log.jsonl" ||
        die "$run/log.jsonl: not JSON Lines" # (a loop's failure is its last run's alone)
done)
# A run's name as a cell, as pic-eval writes a dataset's: a tab or a newline
# in it broke the row apart (\t, \n, \r, \xHH instead), and in markdown a
# '|' ended the cell (\|). JSON keeps the name as it is.
cell='def cell: gsub("\t"; "\\t") | gsub("\n"; "\\n") | gsub("\r"; "\\r")
    | gsub("(?<c>[\u0000-\u001f\u007f])"; .c | explode[0] | "\\x" + ([(. / 16 | floor), . % 16]
        | map("0123456789abcdef"[.:. + 1]) | add))
    | if $md then gsub("\\|"; "\\|") else . end;'
case "$format" in
json) jq -s . <<<"$rows" ;;
markdown)
    echo "| run | steps | target | entropy | rel. error | alpha | reward | best acc. (step) | last acc. |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jq -r --argjson md true "$cell"'def f: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;
        "| \(.run | cell) | \(.steps) | \(.target | f) | \(.entropy | f) | \(.error | f) | \(.alpha | f) | \(.reward | f) | \(.best | f) (\(.best_step // "-")) | \(.accuracy | f) |"' <<<"$rows" ;;
table)
    # tab-separated for column: a run's name may hold spaces
    { printf 'run\tsteps\ttarget\tentropy\trel.error\talpha\treward\tbest(step)\tlast\n'
      jq -r --argjson md false "$cell"'def f: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;
          [(.run | cell), .steps, (.target | f), (.entropy | f), (.error | f), (.alpha | f), (.reward | f),
           "\(.best | f)(\(.best_step // "-"))", (.accuracy | f)] | map(tostring | gsub("\t"; " ")) | join("\t")' <<<"$rows"
    } | column -t -s $'\t' ;;
esac
