#!/usr/bin/env bash
# explore.sh: the exploration comparison of issue 18. On Countdown (many
# expressions reach the target; the reward is sparse), does holding entropy
# with EntroPIC improve pass@k and accuracy over GRPO? Stages, each resumed
# when rerun: a model and tokenizer learned from Countdown text (pic-init),
# an SFT warm-up on witness solutions, the paper's filter (keep prompts the
# SFT model solves sometimes: 0 < pass@8 < 1), the starting entropy, RL with
# EntroPIC at targets at or below it beside GRPO (sweep.sh, one per seed),
# then evaluation of the best and final checkpoints on held-out problems of
# the training level and of a harder set: unbiased pass@k for k = 1, 2, 4,
# ..., greedy accuracy and T 0.6 accuracy. The off-policy setting (4
# optimizer steps per batch) runs P and PI control at the first target
# beside GRPO, for the first seed(s). Writes DIR/summary.json.
set -euo pipefail
PROG=explore.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: explore.sh [--out DIR] [OPTION]...
      --out DIR          where everything goes (default runs/explore)
      --steps N          RL steps per run (default 200)
      --seeds LIST       RL seeds, comma- or space-separated (default 1,2,3)
      --targets LIST     EntroPIC targets as fractions of the SFT model's
                         entropy, each <= 1 (default 1,0.75,0.5)
      --difficulty D     Countdown level trained on, 1..5 (default 1)
      --harder-args ARGS the harder held-out set: pic-task options added to
                         the level's (default for level 1: '--max-number 50
                         --max-target 500', the same three numbers from a
                         range 2.5 times wider; required with --difficulty)
      --pool N           Countdown problems sampled before the filter
                         (default 1024)
      --eval-n N         samples per held-out problem at T 0.6, a power of
                         2; pass@k for k = 1, 2, 4, ..., N (default 64)
      --eval-problems N  held-out problems per level (default 200)
      --kp X --ki X      PI gains (default 20, 0.5: the demo's)
      --lr X             RL learning rate (default 5e-4: the demo's)
      --off-policy N     for the first N seeds (default 1; 0: none), the
                         off-policy setting too: --mini-batches 4, lr 1.5e-4,
                         P control (Ki 0) and PI control (Ki 0.15) at the
                         first target beside GRPO (the demo's off-policy
                         settings)
  -j, --jobs N           RL runs at a time (default 2)
      --quick            a smoke run in well under a minute: tiny model
                         training, 2 RL steps, 1 seed, 1 target, eval-n 4
                         (each of these options given wins); the filter
                         falls back to the unfiltered pool when it keeps
                         too few prompts (recorded in the summary)
  -q, --quiet            only errors
  -h, --help             this help
Fixed: tau 0.95 (the paper's), T 0.6 and top-p 0.95 for rollouts and
evaluation, validation every steps/8 on a separate held-out set, which picks
each run's best checkpoint. Outputs: DIR/summary.json (exploration: entropic
and grpo, each with pass_at_k, accuracy_greedy and accuracy_t06, means and
standard deviations over seeds, final and best checkpoints, both held-out
sets: same and harder; offpolicy: each off-policy run's entropy over
the second half of its steps against the target), DIR/seed-S/ and
DIR/offpolicy-seed-S/ (sweep.sh's runs), DIR/eval/. Rerun with the same
DIR, it resumes every stage; with another --difficulty, --harder-args,
--pool, --eval-n, --eval-problems or --quick (DIR/settings.json), which
its model, data and held-out sets were made with, it refuses.
EOF2
}

out=runs/explore steps=200 seeds=1,2,3 targets=1,0.75,0.5 difficulty=1 harder_args= pool=1024
eval_n=64 eval_problems=200 kp=20 ki=0.5 lr=5e-4 jobs=2 off_policy=1 quick= QUIET=
given=" " # the options given, which --quick's presets leave as they are
while [ $# -gt 0 ]; do
    given+="$1 "
    case "$1" in
    --out) need "$@"; out=$2; shift ;;
    --steps) need "$@"; steps=$2; shift ;;
    --seeds) need "$@"; seeds=$2; shift ;;
    --targets) need "$@"; targets=$2; shift ;;
    --difficulty) need "$@"; difficulty=$2; shift ;;
    --harder-args) need "$@"; harder_args=$2; shift ;;
    --pool) need "$@"; pool=$2; shift ;;
    --eval-n) need "$@"; eval_n=$2; shift ;;
    --eval-problems) need "$@"; eval_problems=$2; shift ;;
    --kp) need "$@"; kp=$2; shift ;;
    --ki) need "$@"; ki=$2; shift ;;
    --lr) need "$@"; lr=$2; shift ;;
    --off-policy) need "$@"; off_policy=$2; shift ;;
    -j|--jobs) need "$@"; jobs=$2; shift ;;
    --quick) quick=1 ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
    shift
done
seeds=${seeds//,/ } targets=${targets//,/ }
dash_paths out
int_opt --steps steps 1 $((1 << 40)) # (train.sh's bound)
int_opt --pool pool 1
int_opt --eval-problems eval_problems 1
int_opt --jobs jobs 1
# (train.sh refuses them too, but only at the RL stage: after the SFT,
# the filter and the held-out sets, hours into a full run)
for v in kp ki lr; do
    [[ ${!v} =~ ^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
        usage_error "--$v: '${!v}' is not a decimal number"
done
int_opt --off-policy off_policy 0
int_opt --difficulty difficulty 1 5
if [ -z "$harder_args" ]; then
    [ "$difficulty" = 1 ] || usage_error "--difficulty $difficulty needs --harder-args (its harder held-out set)"
    harder_args="--max-number 50 --max-target 500"
fi
int_opt --eval-n eval_n 1 $((1 << 20)) # (pic-rollout's --n)
[ $((eval_n & (eval_n - 1))) -eq 0 ] ||
    usage_error "--eval-n: '$eval_n' is not a power of 2"
[ -n "$seeds" ] || usage_error "--seeds: no seed"
s_list=
for s in $seeds; do
    int_opt --seeds s 0
    # train.sh's bound (step N's rollout seed is S * 1000003 + N, at most
    # 2^62), which it checks only at the RL stage, hours in
    [ "$s" -le $(( ((1 << 62) - steps) / 1000003 )) ] ||
        usage_error "--seeds: $s is too large: step $steps's rollout seed ($s * 1000003 + $steps) passes 2^62"
    s_list+=${s_list:+ }$s
done
seeds=$s_list # (plain: 01 and 1 are one seed, and summary.json's numbers)
[ -n "$targets" ] || usage_error "--targets: no target"
for f in $targets; do
    [[ $f =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] && [ "$(jq -n "$f > 0")" = true ] ||
        usage_error "--targets: '$f' is not a fraction in (0, 1]"
done
[ "$(printf '%s\n' $seeds | sort | uniq -d)" = "" ] || usage_error "--seeds: a seed appears twice"

# The training and evaluation settings. Rollouts as the paper: T 0.6; tau
# 0.95 as the paper (the demo's 0.5 is what its audit questioned).
tau=0.95 temperature=0.6 max_new=64 prompts=32 n=8 filter_n=8 lr_off=1.5e-4 ki_off=0.15
sft_samples=24576 sft_steps=768 sft_lr=3e-3 corpus=4000 entropy_prompts=64 val_problems=64
val_every=$(( steps / 8 > 0 ? steps / 8 : 1 ))
if [ -n "$quick" ]; then
    # (each option given wins: it was overridden, silently)
    quick_set() { case "$given" in *" $1 "*) ;; *) printf -v "$2" '%s' "$3" ;; esac; }
    quick_set --steps steps 2
    quick_set --seeds seeds "${seeds%% *}"
    quick_set --targets targets "${targets%% *}"
    quick_set --off-policy off_policy $(( off_policy > 0 ))
    quick_set --pool pool 16
    quick_set --eval-n eval_n 4
    quick_set --eval-problems eval_problems 4
    prompts=4 n=4 filter_n=4 sft_samples=128 sft_steps=4 corpus=300 entropy_prompts=4 val_problems=4 val_every=1
fi
reward_args="--task countdown"
threads=(--update-args --threads=1 --rollout-args --threads=1)
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
# The stages before RL are resumed by their files alone: a rerun with other
# settings of theirs took the first run's model, training set, held-out
# sets and evaluations, and its summary named the new settings. Refused.
settings=$(jq -cn --argjson quick "$([ -n "$quick" ] && echo true || echo false)" \
    --argjson difficulty "$difficulty" --arg harder_args "$harder_args" --argjson pool "$pool" \
    --argjson eval_n "$eval_n" --argjson eval_problems "$eval_problems" '$ARGS.named')
if [ -s "$out/settings.json" ]; then
    changed=$(jq -r --argjson now "$settings" '. as $was | [$now | keys_unsorted[] | select($was[.] != $now[.])
        | "--\(gsub("_"; "-")) \($was[.] | tojson) then, \($now[.] | tojson) now"] | join("; ")' "$out/settings.json") ||
        die "$out/settings.json: not JSON"
    [ -z "$changed" ] || die "$out was made with other settings ($changed): give another --out, or remove it"
else
    write_whole "$out/settings.json" printf '%s\n' "$settings"
fi

task() { pic-task -q --plain --task countdown "$@"; }

# 1. The model: a tokenizer learned from Countdown text, random weights.
if [ ! -d "$out/init" ]; then
    say "init: a Qwen2-architecture model and its tokenizer, from Countdown text"
    task --solutions -n "$corpus" --seed 7 -d "$difficulty" > "$out/corpus.jsonl"
    # shellcheck disable=SC2086
    task --solutions -n "$((corpus / 4))" --seed 8 -d "$difficulty" $harder_args >> "$out/corpus.jsonl"
    pic-init -q -o "$out/init" --corpus "$out/corpus.jsonl" --merges 64
fi

# 2. SFT warm-up on the generator's witness solutions of the training level.
# (A quarter of four-number solutions in the mix left the small model
# writing four numbers for three: 0 of 8,192 samples right; docs/demo.md.)
sft_problems() { task "$@" -n "$sft_samples" --seed 11 -d "$difficulty"; }
if [ ! -d "$out/sft" ]; then
    say "sft: $sft_steps optimizer steps on $sft_samples witness solutions"
    sft_problems --solutions |
        jq -c '{id, problem, answer, numbers, target, response: (.solution + "<|im_end|>")}' |
        pic-rollout -q --score -m "$out/init" --template chatml -o "$out/sft.jsonl.zst"
    pic-update -q -m "$out/init" -o "$out/sft" --loss sft --lr "$sft_lr" --warmup 10 \
        --mini-batches "$sft_steps" "$out/sft.jsonl.zst" > "$out/sft.stats.json"
fi

# 3. The paper's filter: prompts the SFT model solves sometimes, not always.
if [ ! -s "$out/train.jsonl" ]; then
    say "filter: $pool problems x $filter_n samples, keeping 0 < correct < $filter_n"
    task -n "$pool" --seed 21 -d "$difficulty" > "$out/pool.jsonl"
    filter.sh -q --model "$out/sft" -o "$out/kept.jsonl" --n "$filter_n" --temperature "$temperature" \
        --max-new-tokens "$max_new" --template chatml --seed 5 --reward-args "$reward_args" \
        --samples "$out/filter.jsonl.zst" "$out/pool.jsonl"
    kept=$(wc -l < "$out/kept.jsonl")
    filtered=true train=$out/kept.jsonl
    if [ "$kept" -lt "$prompts" ]; then
        [ -n "$quick" ] || die "the filter kept $kept of $pool prompts, fewer than one batch ($prompts): raise --pool"
        say "filter: kept $kept, fewer than a batch; --quick trains on the unfiltered pool"
        filtered=false train=$out/pool.jsonl
    fi
    # (train.jsonl last: a rerun redoes the stage until it is there. A
    # failed copy inside an && list went on, and published a short one.)
    write_whole "$out/filter.json" jq -n --argjson pool "$pool" --argjson kept "$kept" --argjson n "$filter_n" \
        --argjson applied "$filtered" '{pool: $pool, kept: $kept, n: $n, applied: $applied}'
    write_whole "$out/train.jsonl" cat "$train"
fi

# Held-out sets. Level 1 has only a few thousand distinct problems, so ids
# alone do not keep them apart: a test problem is one whose numbers (as a
# multiset) and target appear in none of the SFT problems, the training
# pool and the validation set, drawn from 64 x N candidates.
keydef='def key: (.numbers | sort | map(tostring) | join(",")) + "=" + (.target | tostring);'
# (through a temporary: a rerun keeps any non-empty val.jsonl, a killed write's too)
if [ ! -s "$out/val.jsonl" ]; then
    write_whole "$out/val.jsonl" task -n "$val_problems" --start 3000000000 --seed 21 -d "$difficulty"
fi
heldout() { # name, pic-task options beyond the level's
    local name=$1 f=$out/heldout/$1.jsonl
    shift
    [ -s "$f" ] && return
    mkdir -p "$out/heldout"
    seen() { { sft_problems; cat "$out/pool.jsonl" "$out/val.jsonl"; } | jq -n "$keydef"' [inputs | {(key): true}] | add'; }
    write_whole "$out/heldout/seen.json" seen
    # (through write_whole: a set cut short, a failed part or a kill left
    # the temporary)
    pick() {
        local keep
        keep=$(task -n $((64 * eval_problems)) --start 1000000000 --seed 21 -d "$difficulty" --source "$name" "$@" |
            jq -nc --slurpfile seen "$out/heldout/seen.json" --argjson n "$eval_problems" "$keydef"'
                reduce inputs as $r ({keep: [], keys: $seen[0]}; ($r | key) as $k
                    | if (.keep | length) < $n and (.keys[$k] | not) then .keep += [$r] | .keys[$k] = true else . end)
                | .keep[]')
        [ "$(grep -c . <<<"$keep")" -eq "$eval_problems" ] ||
            die "$name: only $(grep -c . <<<"$keep") unseen problems in $((64 * eval_problems)) candidates; lower --eval-problems"
        printf '%s\n' "$keep"
    }
    write_whole "$f" pick "$@"
}
heldout same
# shellcheck disable=SC2086
heldout harder $harder_args

# 4. The starting entropy: token-mean, the SFT model on training prompts at T 0.6.
start_entropy() {
    head -n "$entropy_prompts" "$out/train.jsonl" |
        pic-rollout -q --plain -m "$out/sft" --template chatml -n "$n" -t "$temperature" \
            --max-new-tokens "$max_new" --seed 3 |
        jq -n '[inputs.entropy[]] | add / length * 10000 | round / 10000'
}
[ -s "$out/start_entropy" ] || write_whole "$out/start_entropy" start_entropy
h0=$(cat "$out/start_entropy")
abs_targets=$(for f in $targets; do jq -n "$h0 * $f * 10000 | round / 10000"; done | tr '\n' ' ')
abs_targets=${abs_targets% } # (the messages and summary.json had its trailing space)
say "starting entropy $h0; EntroPIC targets $abs_targets"

# 5. RL: EntroPIC at each target beside GRPO, one sweep per seed.
rl=(--data "$out/train.jsonl" --reward-args "$reward_args" --steps "$steps" --prompts "$prompts" --n "$n"
    --temperature "$temperature" --max-new-tokens "$max_new" --template chatml --tau "$tau"
    --kp "$kp" --val-every "$val_every" --val-data "$out/val.jsonl" --val-n 4
    "${threads[@]}")
for s in $seeds; do
    say "rl, seed $s: EntroPIC at $abs_targets and GRPO, $steps steps each"
    sweep.sh -q --out "$out/seed-$s" --targets "$abs_targets" -j "$jobs" -- --model "$out/sft" --seed "$s" \
        "${rl[@]}" --ki "$ki" --lr "$lr" > /dev/null
done

# 5b. Off-policy: 4 optimizer steps per batch at about a third of the
# on-policy rate (pictl inside pic-update, once per optimizer step, hence a
# smaller Ki), P and PI control at the first target beside GRPO, for the
# first --off-policy seeds.
off_seeds=$(printf '%s\n' $seeds | head -n "$off_policy" | tr '\n' ' ')
t1=${abs_targets%% *}
for s in $off_seeds; do
    say "off-policy, seed $s: P and PI control at $t1 and GRPO, --mini-batches 4, $steps steps each"
    sweep.sh -q --out "$out/offpolicy-seed-$s" --variant "p=--target $t1 --ki 0" \
        --variant "pi=--target $t1 --ki $ki_off" -j "$jobs" -- --model "$out/sft" --seed "$s" \
        "${rl[@]}" --mini-batches 4 --lr "$lr_off" > /dev/null
done

# 6. Evaluation: pass@k at T 0.6 (eval-n samples) and greedy accuracy, on
# both held-out levels, for the SFT model and each run's best and final.
ks=$(k=1; while [ "$k" -le "$eval_n" ]; do printf '%s%s' "${sep:-}" "$k"; sep=,; k=$((k * 2)); done)
# eval.sh each time: it keeps what it sampled of the same checkpoint, and
# samples one written since (a run's final and best after a rerun with more
# --steps: a table kept as it was named step 2's checkpoint step 3's)
evaluate() { # model dir, output name
    local dir=$out/eval/$2
    eval.sh -q --model "$1" --out "$dir/t06" --n "$eval_n" --k "$ks" \
        --temperature "$temperature" --top-p 0.95 --max-new-tokens "$max_new" --template chatml --seed 17 \
        --reward-args "$reward_args" --rollout-args --threads=1 "$out/heldout/same.jsonl" "$out/heldout/harder.jsonl" > /dev/null
    eval.sh -q --model "$1" --out "$dir/greedy" --n 1 --temperature 0 \
        --max-new-tokens "$max_new" --template chatml --reward-args "$reward_args" \
        --rollout-args --threads=1 "$out/heldout/same.jsonl" "$out/heldout/harder.jsonl" > /dev/null
}
say "eval: pass@k for k = $ks and greedy accuracy on $eval_problems problems of level $difficulty, and harder ($harder_args)"
runs="grpo"; for t in $abs_targets; do runs+=" target-$t"; done
models=("$out/sft") names=(sft)
for s in $seeds; do
    for r in $runs; do
        for c in final best; do models+=("$out/seed-$s/$r/$c") names+=("seed-$s/$r-$c"); done
    done
done
for s in $off_seeds; do
    for r in p pi grpo; do
        for c in final best; do
            models+=("$out/offpolicy-seed-$s/$r/$c") names+=("offpolicy-seed-$s/$r-$c")
        done
    done
done
# --jobs evaluations at a time, each on one thread; a failed one leaves no
# table, which the check after the loop turns into an error.
for i in "${!models[@]}"; do
    mkdir -p "$out/eval/${names[i]}"
    # (SIGINT taken back: a background job ignores it, and Ctrl-C left the
    # evaluations sampling, holding their --out for a restart)
    (trap - INT; evaluate "${models[i]}" "${names[i]}") 2> "$out/eval/${names[i]}/log" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait
for i in "${!models[@]}"; do
    for mode in t06 greedy; do
        [ -s "$out/eval/${names[i]}/$mode/table.json" ] ||
            die "evaluating ${models[i]} ($mode) failed: see $out/eval/${names[i]}/log"
    done
done

# 7. The summary. Per method and checkpoint, per held-out level: the mean
# and standard deviation over seeds of each metric. `exploration` names
# EntroPIC at the first target (default: the starting entropy) and GRPO, at
# their final checkpoints on the training level's held-out problems.
metrics() { # eval name -> {same: {...}, harder: {...}}
    jq -n --slurpfile t "$out/eval/$1/t06/table.json" --slurpfile g "$out/eval/$1/greedy/table.json" '
        [$t[0].datasets[] as $d | {key: $d.dataset, value: {pass_at_k: $d.pass_at_k, accuracy_t06: $d.avg,
          accuracy_greedy: ($g[0].datasets[] | select(.dataset == $d.dataset) | .avg)}}] | from_entries'
}
# (each $(...) assigned on a line of its own: in printf's arguments, as in
# a line of several assignments, a failed one passed unsaid under set -e)
evals() {
    local m best end h
    m=$(metrics sft)
    printf '{"sft": %s, "runs": [' "$m"
    sep=
    # the training run's end: entropy and reward over its last eighth of steps
    # (a step whose responses had no token logs entropy null: left out of
    # the mean, as summary.sh does, where it counted as 0)
    run_end() { jq -sc "$jq_mean"'
        .[(length - (length / 8 | ceil)):] | {entropy: (map(.entropy) | mean), reward: (map(.reward) | mean)}' "$1/log.jsonl"; }
    row() { # seed, run directory, run name, eval name prefix
        for c in final best; do
            best=$(cat "$2/best.json")
            end=$(run_end "$2")
            m=$(metrics "$4-$c")
            printf '%s{"seed": %s, "run": "%s", "checkpoint": "%s", "best": %s, "end": %s, "metrics": %s}' "$sep" "$1" "$3" \
                "$c" "$best" "$end" "$m"
            sep=,
        done
    }
    for s in $seeds; do for r in $runs; do row "$s" "$out/seed-$s/$r" "$r" "seed-$s/$r"; done; done
    for s in $off_seeds; do
        for r in p pi grpo; do row "$s" "$out/offpolicy-seed-$s/$r" "offpolicy-$r" "offpolicy-seed-$s/$r"; done
    done
    printf '], "offpolicy": ['
    sep=
    # the steady state the theorems speak of: the second half of the steps
    for s in $off_seeds; do
        printf '%s{"seed": %s, "target": %s, "entropy_second_half": {' "$sep" "$s" "$t1"
        sep2=
        for r in p pi grpo; do
            h=$(jq -s '.[(length / 2 | floor):] | map(.entropy) | add / length' "$out/offpolicy-seed-$s/$r/log.jsonl")
            printf '%s"%s": %s' "$sep2" "$r" "$h"
            sep2=,
        done
        printf '}}'
        sep=,
    done
    printf ']}\n'
}
write_whole "$out/evals.json" evals
first_target=target-${abs_targets%% *}
write_whole "$out/summary.json" jq --argjson h0 "$h0" --arg targets "$abs_targets" --arg first "$first_target" \
    --arg harder "$harder_args" \
    --slurpfile filter "$out/filter.json" --argjson steps "$steps" --arg ks "$ks" --argjson quick "${quick:-0}" "$jq_mean"'
    def sd: map(select(. != null)) | if length < 2 then null else (mean as $m | map(. - $m | . * .) | add / (length - 1) | sqrt) end;
    def agg(rows): (rows | map(.metrics)) as $m | ["same", "harder"] | map(. as $lv | {key: $lv, value: {
        pass_at_k: ($m[0][$lv].pass_at_k | keys_unsorted | map(. as $k | {key: $k, value: ($m | map(.[$lv].pass_at_k[$k]) | mean)})
                    | from_entries),
        pass_at_k_sd: ($m[0][$lv].pass_at_k | keys_unsorted | map(. as $k | {key: $k, value: ($m | map(.[$lv].pass_at_k[$k]) | sd)})
                    | from_entries),
        accuracy_greedy: ($m | map(.[$lv].accuracy_greedy) | mean), accuracy_greedy_sd: ($m | map(.[$lv].accuracy_greedy) | sd),
        accuracy_t06: ($m | map(.[$lv].accuracy_t06) | mean), accuracy_t06_sd: ($m | map(.[$lv].accuracy_t06) | sd),
        seeds: ($m | length)}}) | from_entries;
    def method(name): [.runs[] | select(.run == name)] as $r | ($r | map(select(.checkpoint == "final"))) as $f
        | {final: agg($f), best: agg($r | map(select(.checkpoint == "best"))),
           end: {entropy: ($f | map(.end.entropy) | mean), entropy_sd: ($f | map(.end.entropy) | sd),
                 reward: ($f | map(.end.reward) | mean), reward_sd: ($f | map(.end.reward) | sd)}};
    . as $e | ([.runs[].run] | unique) as $names
    | {quick: ($quick == 1), steps: $steps, start_entropy: $h0, targets: ($targets | split(" ") | map(select(. != "") | tonumber)),
       tau: 0.95, k: ($ks | split(",") | map(tonumber)), filter: $filter[0], harder_args: $harder,
       exploration: ({entropic: (method($first).final.same + {target: ($first | ltrimstr("target-") | tonumber)}),
                      grpo: method("grpo").final.same, heldout: "same level, final checkpoints, mean over seeds"}),
       methods: ($names | map(. as $n | {key: $n, value: ($e | method($n))}) | from_entries),
       offpolicy: $e.offpolicy, sft: $e.sft, runs: $e.runs}' "$out/evals.json"

# The tables, for people: mean +- standard deviation over seeds, in percent.
table() { # level, checkpoint
    jq -r --arg lv "$1" --arg c "$2" '
        def pct: . * 1000 | round / 10;
        def cell($m; $sd): if $m == null then "n/a" elif $sd == null then "\($m | pct)" else "\($m | pct) ± \($sd | pct)" end;
        # (an end entropy is null when no step of the window had a response token)
        def num($m; $sd): if $m == null then "n/a" else ($m * 1000 | round / 1000) as $x
            | if $sd == null then "\($x)" else "\($x) ± \($sd * 1000 | round / 1000)" end end;
        (.k | map(tostring) | map(select(IN("1", "4", "16", "64")))) as $ks
        | "| run | seeds | entropy at the end | " + ($ks | map("pass@\(.)") | join(" | ")) + " | greedy | T 0.6 |",
          "|---|---|---|" + ($ks | map("---|") | join("")) + "---|---|",
          ("| SFT | | \(.start_entropy) | " + ([$ks[] as $x | .sft[$lv].pass_at_k[$x] | pct | tostring] | join(" | "))
             + " | \(.sft[$lv].accuracy_greedy | pct) | \(.sft[$lv].accuracy_t06 | pct) |"),
          (.methods | to_entries[] | .key as $name | .value["end"] as $fin | .value[$c][$lv] as $m
           | "| \($name) | \($m.seeds) | \(num($fin.entropy; $fin.entropy_sd)) | "
             + ([$ks[] as $x | cell($m.pass_at_k[$x]; $m.pass_at_k_sd[$x])] | join(" | "))
             + " | \(cell($m.accuracy_greedy; $m.accuracy_greedy_sd)) | \(cell($m.accuracy_t06; $m.accuracy_t06_sd)) |")' \
        "$out/summary.json"
}
results() {
    echo "# explore.sh: EntroPIC against GRPO on Countdown"
    echo
    echo "$steps RL steps, tau 0.95, starting entropy $h0, targets $abs_targets; held-out problems: pass@k at T 0.6"
    echo "($eval_n samples each), greedy and T 0.6 accuracy in percent, mean ± standard deviation over seeds;"
    echo "entropy at the end: the training run's last eighth of steps."
    for lv in same harder; do for c in final best; do
        echo
        echo "Held-out, $([ "$lv" = same ] && echo "the training level" || echo "harder ($harder_args)"), $c checkpoints:"
        echo
        table "$lv" "$c"
    done; done
}
write_whole "$out/results.md" results
[ -n "$QUIET" ] || jq -c '.exploration | {entropic: {pass_at_k: .entropic.pass_at_k, accuracy_greedy: .entropic.accuracy_greedy},
    grpo: {pass_at_k: .grpo.pass_at_k, accuracy_greedy: .grpo.accuracy_greedy}}' "$out/summary.json"
say "summary: $out/summary.json; tables: $out/results.md"
