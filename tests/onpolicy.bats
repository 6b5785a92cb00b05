#!/usr/bin/env bats
# Exactly on-policy: the log-probs pic-update computes for the first PPO
# ratio are the ones pic-rollout wrote, bit for bit (docs/update.md), so the
# ratio is exactly 1 and nothing is clipped.

load helpers

M="$FIXTURES/models"

field() { jq -r ".$1" <<<"$2"; }

# samples of model $1 at T 0.7 and top-p 0.9, four prompts of different
# lengths, 4 samples each, continuous batching over 3 slots; rewards 0/1
samples() {
    for i in 0 1 2 3; do
        jq -nc --argjson i "$i" '{id: $i, prompt_ids: [range(3 + 2 * $i) | . * 7 + $i + 3]}'
    done >p.jsonl
    pic-rollout -q --plain -m "$M/$1" -n 4 -t 0.7 --top-p 0.9 --max-new-tokens 20 --max-batch-size 3 --seed 5 \
        p.jsonl | jq -c '.reward = (.sample % 2)' >s.jsonl
}

@test "rollout -> pic-update: the first step's log-probs equal the stream's (ratio exactly 1), every fixture model" {
    for m in qwen2-tiny qwen3-tiny llama-tiny; do
        samples "$m"
        for opts in "--threads 1" "--threads 2 --micro-tokens 40" "--threads 2 --mini-batches 2"; do
            # shellcheck disable=SC2086
            out=$(pic-update -q -m "$M/$m" -o next $opts s.jsonl)
            [ "$(field logp_diff_max "$out")" = 0 ] || { echo "$m $opts: $out"; false; }
            [ "$(field clipfrac_low "$out")" = 0 ]
            [ "$(field clipfrac_high "$out")" = 0 ]
        done
        # the first step of one is on-policy: no KL at all
        out=$(pic-update -q -m "$M/$m" -o next --threads 2 s.jsonl)
        [ "$(field approx_kl "$out")" = 0 ]
    done
}

@test "--fast: OpenBLAS's forward agrees within rounding; --score returns the stream's log-probs exactly" {
    samples qwen2-tiny
    out=$(pic-update -q -m "$M/qwen2-tiny" -o next --fast s.jsonl)
    d=$(field logp_diff_max "$out")
    # |logp| <= ~10 over 20 tokens of a 256-wide model: float rounding of a
    # few hundred terms, far below 1e-4; and exactly 0 is not required
    awk -v d="$d" 'BEGIN { exit !(d >= 0 && d < 1e-4) }'
    pic-rollout --score -q --plain -m "$M/qwen2-tiny" --logprobs-field rescored s.jsonl >r.jsonl
    [ "$(jq -s '[.[] | (.logprobs == .rescored)] | all' r.jsonl)" = true ]
    pic-update --help | grep -q -- "--fast"
    # pic-rollout --fast (OpenBLAS's products) scores within the same rounding
    pic-rollout --score --fast -q --plain -m "$M/qwen2-tiny" --logprobs-field rescored s.jsonl >f.jsonl
    [ "$(wc -l <f.jsonl)" -eq "$(wc -l <s.jsonl)" ]
    jq -r '[.logprobs, .rescored] | transpose[] | @tsv' f.jsonl |
        awk '{ d = $1 - $2; if (d < 0) d = -d; if (d >= 1e-4) bad = 1 } END { exit bad }'
    pic-rollout -q --plain -m "$M/qwen2-tiny" --fast -n 2 -t 0.7 --max-new-tokens 8 p.jsonl >g.jsonl
    [ "$(wc -l <g.jsonl)" -eq 8 ]
}

@test "SFT streams have no old log-probs: no logp_diff_max in the stats" {
    samples qwen2-tiny
    out=$(pic-update -q -m "$M/qwen2-tiny" -o next --loss sft s.jsonl)
    [ "$(field logp_diff_max "$out")" = null ]
}
