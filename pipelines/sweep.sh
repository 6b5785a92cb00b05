#!/usr/bin/env bash
# sweep.sh: one training run per target entropy, per baseline method and per
# named variant, and the GRPO baseline, run in parallel; then one figure and
# one table for all of them.
set -euo pipefail
PROG=sweep.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: sweep.sh --out DIR [--targets "H1 H2 ..."] [OPTION]... -- TRAIN_OPTION...
Runs train.sh once per target (DIR/target-H), once per --methods entry
(DIR/M, the baseline alone), once per --variant (DIR/NAME) and once with
--target off (DIR/grpo), up to -j at a time, then plot.sh (where gnuplot is
installed) and summary.sh over all runs: DIR/plot.png, DIR/plot.svg,
DIR/summary.md. Everything after -- goes to every train.sh (at least
--model; not what the sweep sets: --run, and --target or --method where
--targets, the baseline or --methods set them); a run passes over an option
there that it does not use (--kp in the GRPO baseline, --aec-target beside
--methods aec in every run but aec's), and an option that no run uses is a
usage error. Rerunning resumes every
run. Every run's options are checked (train.sh --check) before the first
one starts.

      --out DIR          the sweep's directory
      --targets LIST     target entropies, space- or comma-separated
      --methods LIST     train.sh methods, each run alone (e.g. "nsr aec")
      --variant NAME=ARGS  one more run, DIR/NAME, with these train.sh options
                         (word-split; repeatable), e.g.
                         --variant 'pi-off=--target 0.1 --mini-batches 4'
      --no-baseline      no GRPO baseline run
  -j, --jobs N           runs at a time (default 1)
  -q, --quiet            only errors and the table
  -h, --help             this help
Each run's output is appended to DIR/NAME/train.log: a rerun keeps the
earlier output above its own.
EOF2
}
out= targets= methods= baseline=1 jobs=1 QUIET=
variants=()
while [ $# -gt 0 ]; do
    case "$1" in
    --out) need "$@"; out=$2; shift ;;
    --targets) need "$@"; targets=${2//,/ }; shift ;;
    --methods) need "$@"; methods=${2//,/ }; shift ;;
    --variant) need "$@"; variants+=("$2"); shift ;;
    --no-baseline) baseline= ;;
    -j|--jobs) need "$@"; jobs=$2; shift ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) usage_error "unknown option '$1' (train.sh's options go after --)" ;;
    esac
    shift
done
dash_paths out
[ -n "$out" ] || usage_error "--out DIR is required"
[ -n "$targets$methods" ] || [ -n "$baseline" ] || [ ${#variants[@]} -gt 0 ] || usage_error "nothing to run"
int_opt --jobs jobs 1
# The options after -- come last on each train.sh's line, so one the sweep
# sets per run would win over it: every run trained into one --run folder
# (the others failing on its settings), or at one --target.
for a in "$@"; do
    case "$a" in
    --run) usage_error "--run after --: the sweep names each run's folder (DIR/NAME)" ;;
    --target) [ -z "$targets$baseline" ] || usage_error "--target after --: --targets and the baseline set each run's" ;;
    --method) [ -z "$methods" ] || usage_error "--method after --: --methods sets each run's" ;;
    esac
done
mkdir -p "$out"

names=() args=()
for t in $targets; do
    [[ $t =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] || usage_error "--targets: '$t' is not a number"
    names+=("target-$t"); args+=("--target $t")
done
for m in $methods; do
    [[ $m =~ ^[a-z-]+$ ]] || usage_error "--methods: '$m' is not a method name"
    names+=("$m"); args+=("--method $m")
done
for v in ${variants[@]+"${variants[@]}"}; do
    [[ $v =~ ^[A-Za-z0-9_.-]+= ]] || usage_error "--variant: '$v' is not NAME=ARGS"
    # an option of the variant's given after -- too would win over it (it comes last)
    for w in ${v#*=}; do
        case "$w" in --*) for a in "$@"; do
            [ "$a" != "$w" ] || usage_error "$w is in --variant ${v%%=*} and after --: the one after -- would win"
        done ;; esac
    done
    names+=("${v%%=*}"); args+=("${v#*=}")
done
[ -z "$baseline" ] || { names+=(grpo); args+=("--target off"); }
[ "$(printf '%s\n' "${names[@]}" | sort | uniq -d)" = "" ] || usage_error "two runs would have the same name"

# Every run's options first (train.sh --check writes nothing): a typo, or
# a run that could not start (the baseline with --with-entropic), is found
# now, not after the runs before it have trained. The options after -- go
# to train.sh as --shared: each run passes over those it does not use (the
# baseline's --target off, --kp), and lists them; one that no run uses
# would do nothing in the sweep, and is refused as train.sh refuses it.
unused=$(mktemp)
trap 'rm -f "$unused"' EXIT
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    err=$(train.sh --check --run "$out/${names[$i]}" ${args[$i]} --shared "$@" 2>&1 >>"$unused") && continue
    st=$?
    echo "$PROG: ${names[$i]}: $err" >&2
    exit "$st"
done
err=$(awk -F'\t' -v n="${#names[@]}" '++c[$1] == n { print $2; exit }' "$unused")
rm -f "$unused"
trap - EXIT
[ -z "$err" ] || usage_error "after --, in none of the runs: $err (without it the option does nothing)"

failed=0
declare -A name_of=()
# Waits for any one run; a failure is reported with the end of its log.
reap() {
    local pid st=0
    wait -n -p pid || st=$?
    if [ "$st" -ne 0 ]; then
        echo "$PROG: ${name_of[$pid]} failed (exit $st); see $out/${name_of[$pid]}/train.log" >&2
        tail -n 5 "$out/${name_of[$pid]}/train.log" >&2 || true
        failed=$((failed + 1))
    else
        say "done ${name_of[$pid]}"
    fi
    unset "name_of[$pid]"
}
for i in "${!names[@]}"; do
    while [ "${#name_of[@]}" -ge "$jobs" ]; do reap; done
    dir="$out/${names[$i]}"
    mkdir -p "$dir"
    say "start ${names[$i]}"
    # A script's background job ignores SIGINT, and so would train.sh and
    # the programs it starts: Ctrl-C left every run training. The subshell
    # takes SIGINT back before it becomes train.sh.
    # Appended: a rerun resumes the run, and the output of the runs
    # before it (a failure's message, the steps it had taken) stays above.
    # shellcheck disable=SC2086
    (trap - INT; exec train.sh --run "$dir" ${args[$i]} --shared "$@") >> "$dir/train.log" 2>&1 &
    name_of[$!]=${names[$i]}
done
while [ "${#name_of[@]}" -gt 0 ]; do reap; done
[ "$failed" -eq 0 ] || die "$failed run(s) failed"

dirs=()
for name in "${names[@]}"; do dirs+=("$out/$name"); done
# The figure is optional, as fig2.sh's: a cluster's node without gnuplot
# failed the sweep here, after its runs, without the table.
figures="$out/plot.png $out/plot.svg"
if command -v gnuplot > /dev/null; then
    plot.sh -o "$out/plot" --title "sweep: ${names[*]}" "${dirs[@]}" > /dev/null
else
    figures="none (gnuplot not found; scripts/deps.sh installs it)"
fi
write_whole "$out/summary.md" summary.sh --format markdown "${dirs[@]}"
summary.sh "${dirs[@]}"
say "figures: $figures; table: $out/summary.md"
