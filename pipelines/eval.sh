#!/usr/bin/env bash
# eval.sh: N samples per problem on a list of datasets, scored, and a pic-eval
# table in the paper's layout (avg@N and pass@N per dataset and overall).
set -euo pipefail
PROG=eval.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: eval.sh --model DIR --out DIR [OPTION]... DATASET...
Sample each problem of each DATASET (prompt records: id, problem, answer;
plain or zstd) N times with pic-rollout, score with pic-reward, and tabulate
with pic-eval. A record without `source` is given its file's name (without
extensions), so each file is one dataset of the table. pic-eval tells the
problems apart by source and id: files whose records share both (pic-task's
of two seeds) are refused before anything is sampled.

      --model DIR          the checkpoint to evaluate
      --out DIR            where samples and tables go (created):
                           NAME.jsonl.zst and NAME.settings.json per
                           dataset, table.txt, table.md, table.json
      --n N|SPEC           samples per problem: N, or NAME=N,...,N to give
                           some datasets (by file name) their own N and the
                           rest the last N; the paper samples 8 or 32 per
                           dataset (default 8; 1 at --temperature 0, whose
                           samples are all one); a NAME must be a dataset's
      --temperature T      (default 0.6, the paper's; 0 is greedy, which takes
                           no --top-p or --seed)
      --top-p P            (default 0.95, the paper's)
      --max-new-tokens N   (default 1024)
      --template T         prompt template as in train.sh (default raw: the
                           problem as is; auto: the model's chat template)
      --eos TOKEN          one more token that ends a response (pic-rollout
                           --eos; repeatable)
      --seed S             sampling seed (default 1)
      --k LIST             pass@k columns, e.g. 1,4, each k at most the
                           largest N (default: none); a second --k adds
                           to the list, as pic-eval's
      --rollout-args ARGS  more options for pic-rollout (word-split)
      --reward-args ARGS   more options for pic-reward (word-split), e.g.
                           '--task countdown'
  -q, --quiet              only errors
  -h, --help               this help
The table (text) is also printed on standard output. Each program is asked
about its options (a usage error, exit 2) before anything is sampled.

Started again with the same --out, it keeps what it can: a dataset sampled
before with the same settings (model files, dataset file, options) is not
sampled again, and one whose sampling was killed is taken up after its last
problem with all its samples (pic-rollout --skip: the same samples). A
dataset whose settings changed is sampled anew. The tables are made at the
end: a run that fails leaves none (the last run's are removed before sampling).
EOF2
}

model= out= n=8 temperature=0.6 top_p=0.95 max_new=1024 template= seed=1 k= rollout_args= reward_args= QUIET=
top_p_given= seed_given= n_given=
datasets=() eos=()
while [ $# -gt 0 ]; do
    case "$1" in
    --model) need "$@"; model=$2; shift ;;
    --out) need "$@"; out=$2; shift ;;
    --n) need "$@"; n=$2; n_given=1; shift ;;
    --temperature) need "$@"; temperature=$2; shift ;;
    --top-p) need "$@"; top_p=$2; top_p_given=1; shift ;;
    --max-new-tokens) need "$@"; max_new=$2; shift ;;
    --template) need "$@"; template=$2; shift ;;
    --eos) need "$@"; eos+=("$2"); shift ;;
    --seed) need "$@"; seed=$2; seed_given=1; shift ;;
    --k) need "$@"; k=${k:+$k,}$2; shift ;; # a second adds, as pic-eval's
    --rollout-args) need "$@"; rollout_args=$2; shift ;;
    --reward-args) need "$@"; reward_args=$2; shift ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) datasets+=("$1") ;;
    esac
    shift
done
dash_paths model out template
[ -n "$model" ] || usage_error "--model DIR is required"
[ -n "$out" ] || usage_error "--out DIR is required"
[ ${#datasets[@]} -gt 0 ] || usage_error "no dataset given"
n_spec --n n
int_opt --max-new-tokens max_new 1 $((1 << 24))
int_opt --seed seed 0
model_dir "$model" || die "$model: not a model directory (no config.json)"
for d in "${datasets[@]}"; do [ -r "$d" ] || die "$d: cannot read"; done
distinct_datasets "${datasets[@]}"
names=()
for d in "${datasets[@]}"; do names+=("$(dataset_name "$d")"); done
n_names --n "$n" "${names[@]}"
check_template "$template"
rollout_args_own "$rollout_args"

# n_for NAME: the dataset's samples per problem from the --n spec
n_for() {
    local item
    for item in ${n//,/ }; do
        [ "${item%%=*}" != "$1" ] || { echo "${item#*=}"; return; }
    done
    echo "${n##*,}"
}
opts=(--temperature "$temperature" --max-new-tokens "$max_new")
# greedy decoding draws nothing: pic-rollout refuses --top-p and --seed
# there, so their defaults stay out, and given ones go in to be refused
if greedy "$temperature"; then
    # greedy decoding gives one response a problem however often it runs:
    # eight of them were eight times the work for the same avg@N and pass@N
    [ -n "$n_given" ] || n=1
    [ -z "$top_p_given" ] || opts+=(--top-p "$top_p")
    [ -z "$seed_given" ] || opts+=(--seed "$seed")
    top_p= seed= # nor do they decide its samples
else
    opts+=(--top-p "$top_p" --seed "$seed")
fi
[ -z "$template" ] || opts+=(--template "$template")
for e in ${eos[@]+"${eos[@]}"}; do opts+=(--eos "$e"); done
# shellcheck disable=SC2206
opts+=($rollout_args)
# shellcheck disable=SC2206
reward_opts=($reward_args)

# Every program's options before anything is sampled or removed, as in
# train.sh: a usage error (exit 2) comes before any work, so pic-rollout is
# asked with a model that does not exist. A typo found at a dataset's
# sampling came after its earlier samples were removed as made with other
# settings (the corrected command sampled them again), and a bad --k after
# everything was sampled.
nomodel=$(mktemp -u -d)
usage_check pic-rollout --model "$nomodel" --n 1 "${opts[@]}"
usage_check pic-reward ${reward_opts[@]+"${reward_opts[@]}"}
[ -z "$k" ] || usage_check pic-eval -q --k "$k" /dev/null
# pass@k needs k samples of every problem: a k above every dataset's N was
# a column of '-' after all the sampling, pic-eval's note on it quieted
if [ -n "$k" ]; then
    maxn=0
    for name in "${names[@]}"; do dn=$(n_for "$name"); [ "$dn" -le "$maxn" ] || maxn=$dn; done
    for kk in ${k//,/ }; do # (pic-eval took the list: integers)
        [ $((10#${kk#+})) -le "$maxn" ] ||
            usage_error "--k: pass@${kk#+} needs ${kk#+} samples per problem, and --n gives at most $maxn$(
                [ -n "$n_given" ] || ! greedy "$temperature" || echo " (1 at --temperature 0 without --n)")"
    done
fi

model_key=$(model_fingerprint "$model")
# (--eos only when given: samples from before it keep their settings' key)
eos_json=$([ ${#eos[@]} -eq 0 ] || jq -cn '$ARGS.positional' --args "${eos[@]}")
template_key=$(template_key "$template")
# One eval.sh an --out: two would append to the same samples.
mkdir -p "$out"
exec {lock}>>"$out/.lock"
flock -n "$lock" || die "$out: in use by another eval.sh"

# the records as sampled (read once: DATASET may be a pipe), through
# write_whole: jq's message of a failed write (a full disk) named no file
prompts_of() { pic-cat -q --plain "$1" | jq -c --arg s "$(dataset_name "$1")" '.source //= $s'; }
all_prompts=()
for d in "${datasets[@]}"; do
    prompts="$out/$(dataset_name "$d").prompts.jsonl"
    all_prompts+=("$prompts")
    write_whole "$prompts" prompts_of "$d"
done
distinct_problems "${all_prompts[@]}" || { rm -f "${all_prompts[@]}"; exit 1; }
# The tables are this run's or none: a run that failed (a dataset's
# sampling, after a changed model) left the last run's, read as its results.
rm -f "$out/table.json" "$out/table.md" "$out/table.txt"

scored=()
for d in "${datasets[@]}"; do
    name=$(dataset_name "$d")
    dn=$(n_for "$name")
    final="$out/$name.jsonl.zst" prompts="$out/$name.prompts.jsonl" partial="$out/$name.jsonl.partial"
    scored+=("$final")
    # what decides this dataset's samples; samples made with others go
    key=$(jq -cn --arg model "$model_key" \
        --arg prompts "$(cksum < "$prompts")" --arg n "$dn" --arg temperature "$temperature" --arg top_p "$top_p" \
        --arg max_new "$max_new" --arg template "$template_key" --arg seed "$seed" \
        --arg rollout_args "$rollout_args" --arg reward_args "$reward_args" \
        ${eos_json:+--argjson eos "$eos_json"} '$ARGS.named')
    if [ "$(cat "$out/$name.settings.json" 2>/dev/null)" != "$key" ]; then
        [ ! -e "$final" ] && [ ! -s "$partial" ] || say "$name: its samples were made with other settings: sampling again"
        rm -f "$final" "$partial"
        write_whole "$out/$name.settings.json" printf '%s\n' "$key"
    elif [ -s "$final" ]; then
        say "$name: kept ($final, sampled before with these settings)"
        # (and the plain samples: a kill between the publish below and its
        # rm left them beside the kept file for good, as train.sh's rollout
        # step clears its own after a kill there)
        rm -f "$prompts" "$partial"
        continue
    fi
    finished=$(resume_partial "$partial" "$prompts" "$dn")
    if [ "$finished" -gt 0 ]; then
        say "$name: sampling $dn per problem, after the $finished problem$([ "$finished" -eq 1 ] || echo s) it had finished"
    else
        say "$name: sampling $dn per problem"
    fi
    # the samples go to a plain file as they come (see resume_partial)
    pic-rollout -q --model "$model" --n "$dn" --skip "$finished" "${opts[@]}" "$prompts" |
        pic-reward -q --plain ${reward_opts[@]+"${reward_opts[@]}"} >> "$partial"
    write_whole "$final" zstd -q -c "$partial"
    rm -f "$partial" "$prompts"
done
kopt=(); [ -z "$k" ] || kopt=(--k "$k")
for fmt in json markdown table; do
    case $fmt in json) f=table.json ;; markdown) f=table.md ;; table) f=table.txt ;; esac
    pic-eval -q "${kopt[@]}" --format "$fmt" -o "$out/$f" "${scored[@]}"
done
cat "$out/table.txt"
