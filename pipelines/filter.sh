#!/usr/bin/env bash
# filter.sh: the paper's training-set filter (Appendix B.1): sample every
# prompt N times with the model to be trained and drop the prompts it always
# or never solves, which give GRPO no signal (every advantage is 0).
set -euo pipefail
PROG=filter.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: filter.sh --model DIR -o OUT [OPTION]... DATA...
Sample each prompt record of the DATA files (id, problem, answer; plain or
zstd) N times with pic-rollout, score with pic-reward, and write to OUT the
records with 0 < correct < N, in input order (the paper's Appendix B.1: 8
samples, prompts solved 8/8 or 0/8 dropped). Counts go to standard error.

      --model DIR          the model to be trained
  -o, --output OUT         the kept prompt records (JSON Lines, written
                           atomically)
      --n N                samples per prompt (default 8, the paper's)
      --temperature T      (default 0.6, the paper's rollout temperature)
      --max-new-tokens N   (default 1024)
      --template T         prompt template as in train.sh (default raw: the
                           problem as is; auto: the model's chat template)
      --eos TOKEN          one more token that ends a response (pic-rollout
                           --eos; repeatable), as the run's train.sh --eos
      --seed S             sampling seed (default 1)
      --reward-args ARGS   more options for pic-reward (word-split), e.g.
                           '--task countdown'
      --samples FILE       keep the scored samples there (zstd)
      --scored FILE        filter on these scored samples instead of sampling
                           (e.g. an earlier --samples; the options of
                           sampling, --model to --reward-args, are refused)
  -q, --quiet              only errors
  -h, --help               this help
The samples go to OUT.partial as they come (OUT.partial.settings.json holds
what made them), and are removed with OUT written. Started again with the
same settings, a killed filter.sh samples only the prompts it had not
finished: the same samples as an uninterrupted run.
EOF2
}

model= out= n=8 temperature=0.6 max_new=1024 template= seed=1 reward_args= samples= scored= QUIET=
data=() eos=() sampling_opts=()
while [ $# -gt 0 ]; do
    # (the options of sampling, which --scored does without)
    case "$1" in
    --model|--temperature|--max-new-tokens|--template|--seed|--eos|--reward-args) sampling_opts+=("$1") ;;
    esac
    case "$1" in
    --model) need "$@"; model=$2; shift ;;
    -o|--output) need "$@"; out=$2; shift ;;
    --n) need "$@"; n=$2; shift ;;
    --temperature) need "$@"; temperature=$2; shift ;;
    --max-new-tokens) need "$@"; max_new=$2; shift ;;
    --template) need "$@"; template=$2; shift ;;
    --seed) need "$@"; seed=$2; shift ;;
    --eos) need "$@"; eos+=("$2"); shift ;;
    --reward-args) need "$@"; reward_args=$2; shift ;;
    --samples) need "$@"; samples=$2; shift ;;
    --scored) need "$@"; scored=$2; shift ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) data+=("$1") ;;
    esac
    shift
done
dash_paths model out template samples scored
[ -n "$out" ] || usage_error "-o OUT is required"
[ ${#data[@]} -gt 0 ] || usage_error "no prompt file given"
int_opt --n n 1 $((1 << 20))
int_opt --max-new-tokens max_new 1 $((1 << 24))
int_opt --seed seed 0
[ -n "$scored" ] || [ -n "$model" ] || usage_error "--model DIR is required (or --scored FILE)"
for f in "${data[@]}"; do [ -r "$f" ] || die "$f: cannot read"; done
[ -z "$scored" ] || [ -z "$samples" ] || usage_error "--samples keeps what filter.sh samples: not with --scored"
[ -z "$scored" ] || [ ${#sampling_opts[@]} -eq 0 ] ||
    usage_error "${sampling_opts[0]} is for sampling: --scored samples nothing (without it the option does nothing)"
[ -z "$scored" ] || [ -r "$scored" ] || die "$scored: cannot read"
[ -n "$scored" ] || model_dir "$model" || die "$model: not a model directory (no config.json)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pic-cat -q --plain "${data[@]}" > "$tmp/prompts.jsonl"
dup=$(jq -rs 'group_by(.id | tostring) | map(select(length > 1) | .[0].id) | first // empty' "$tmp/prompts.jsonl")
[ -z "$dup" ] || die "id $dup appears more than once in the prompts; the filter needs one record per id"

# Sampling is the long part (the paper's 17k prompts x 8): its samples go
# to OUT.partial as they come, so that a filter.sh killed and started again
# with the same settings samples only the prompts it had not finished.
partial="$out.partial" sampled=
if [ -z "$scored" ]; then
    sampled=1
    check_template "$template"
    opts=(--n "$n" --temperature "$temperature" --max-new-tokens "$max_new" --seed "$seed")
    [ -z "$template" ] || opts+=(--template "$template")
    for e in ${eos[@]+"${eos[@]}"}; do opts+=(--eos "$e"); done
    # (before the samples of other settings are removed: a typo is not that)
    usage_check pic-rollout --model "$(mktemp -u -d)" "${opts[@]}"
    # shellcheck disable=SC2086
    usage_check pic-reward $reward_args
    exec {lock}>>"$partial.lock"
    flock -n "$lock" || die "$out: in use by another filter.sh"
    # (--eos only when given: samples from before it keep their settings' key)
    eos_json=$([ ${#eos[@]} -eq 0 ] || jq -cn '$ARGS.positional' --args "${eos[@]}")
    key=$(jq -cn --arg model "$(model_fingerprint "$model")" --arg prompts "$(cksum < "$tmp/prompts.jsonl")" \
        --arg n "$n" --arg temperature "$temperature" --arg max_new "$max_new" \
        --arg template "$(template_key "$template")" --arg seed "$seed" --arg reward_args "$reward_args" \
        ${eos_json:+--argjson eos "$eos_json"} '$ARGS.named')
    if [ "$(cat "$partial.settings.json" 2>/dev/null)" != "$key" ]; then
        [ ! -s "$partial" ] || say "$partial: its samples were made with other settings: sampling again"
        rm -f "$partial"
        write_whole "$partial.settings.json" printf '%s\n' "$key"
    fi
    finished=$(resume_partial "$partial" "$tmp/prompts.jsonl" "$n")
    total=$(wc -l < "$tmp/prompts.jsonl")
    if [ "$finished" -gt 0 ]; then
        say "sampling $total prompts x $n, after the $finished it had finished ($partial)"
    else
        say "sampling $total prompts x $n"
    fi
    opts+=(--skip "$finished")
    # shellcheck disable=SC2086
    pic-rollout -q --model "$model" "${opts[@]}" "$tmp/prompts.jsonl" | pic-reward -q --plain $reward_args >> "$partial"
    scored="$tmp/scored.jsonl.zst"
    zstd -q -c "$partial" > "$scored"
    [ -z "$samples" ] || write_whole "$samples" cat "$scored"
fi

# Correct samples per id; a prompt without exactly N samples is an error,
# since "always" and "never" are out of N.
zstdcat -f "$scored" | jq -cn --argjson n "$n" '
    reduce inputs as $s ({}; .[$s.id | tostring] += [($s.correct // ($s.reward >= 0.5)) | if . then 1 else 0 end])
    | with_entries(.value = {c: (.value | add), k: (.value | length)})' > "$tmp/counts.json"
bad=$(jq -r --argjson n "$n" 'to_entries | map(select(.value.k != $n)) | first
    | if . then "\(.key) has \(.value.k) sample\(if .value.k == 1 then "" else "s" end)" else empty end' \
    "$tmp/counts.json")
[ -z "$bad" ] || die "$scored: id $bad, not $n"

write_whole "$out" jq -c --slurpfile c "$tmp/counts.json" --argjson n "$n" '
    ($c[0][.id | tostring]) as $x | select($x != null and $x.c > 0 and $x.c < $n)' "$tmp/prompts.jsonl"
# (the samples of a --scored run are not its own to remove)
[ -z "$sampled" ] || rm -f "$partial" "$partial.settings.json" "$partial.lock"
# (over the prompts: a --scored file's samples of other ids counted among
# them, as prompts and as always or never solved)
[ -n "$QUIET" ] || jq -cn --slurpfile c "$tmp/counts.json" --argjson n "$n" --argjson kept "$(wc -l < "$out")" '
    [inputs | $c[0][.id | tostring]] | {prompts: length, kept: $kept,
    always_solved: map(select(.c == $n)) | length, never_solved: map(select(.c == 0)) | length,
    unsampled: map(select(. == null)) | length}' "$tmp/prompts.jsonl" >&2
