#!/usr/bin/env bats
# explore.sh, the exploration comparison on Countdown, in its quick form
# (the full comparison takes hours; docs/demo.md), and filter.sh with the
# countdown reward.
load helpers

@test "explore.sh --quick: every stage runs and summary.json holds the comparison" {
    # (an option given wins over --quick's preset: --pool was overridden)
    run explore.sh --quick -q --out x --pool 20 --targets 0.5
    [ "$status" -eq 0 ]
    [ -f x/init/model.safetensors ]
    [ -f x/sft/model.safetensors ]
    # the exploration block the demo's summary is to gain
    run jq -e '[.exploration | (.entropic, .grpo) | (.pass_at_k | keys_unsorted) == ["1","2","4"]
        and (.pass_at_k | all(.[]; type == "number" and . >= 0 and . <= 1))
        and (.accuracy_greedy | type == "number")] | all' x/summary.json
    [ "$status" -eq 0 ]
    # pass@k never falls as k grows
    jq -e '[.methods[] | (.final, .best)[] | .pass_at_k | [.[]] | . == sort] | all' x/summary.json
    # one target, half the SFT model's entropy (--targets 0.5); tau is the paper's
    h0=$(cat x/start_entropy)
    t=$(jq -n "$h0 * 0.5 * 10000 | round / 10000")
    [ "$t" != "$h0" ]
    [ "$(jq -c '.targets' x/summary.json)" = "[$t]" ]
    [ "$(jq -r .tau "x/seed-1/target-$t/settings.json")" = 0.95 ]
    [ "$(jq -r .reward_args "x/seed-1/grpo/settings.json")" = "--task countdown" ]
    # both runs trained 2 steps on the countdown reward, with best and final checkpoints
    for r in "target-$t" grpo; do
        [ "$(wc -l < "x/seed-1/$r/log.jsonl")" -eq 2 ]
        [ -L "x/seed-1/$r/best" ]
        [ -L "x/seed-1/$r/final" ]
        [ "$(zstdcat "x/seed-1/$r/rollouts/step-000001.jsonl.zst" | jq -r 'has("verdict")' | sort -u)" = true ]
    done
    # the held-out sets: no problem (numbers as a multiset, target) of the
    # SFT data, the training pool or the validation set; the harder one draws
    # its three numbers from 1..50, its targets up to 500
    key='(.numbers | sort | map(tostring) | join(",")) + "=" + (.target | tostring)'
    { pic-task -q --plain --task countdown -n 128 --seed 11 -d 1; cat x/pool.jsonl x/val.jsonl; } |
        jq -r "$key" | sort -u > seen
    [ "$(wc -l < seen)" -gt 100 ]
    [ "$(jq -r "$key" x/heldout/same.jsonl | sort -u | wc -l)" -eq 4 ]
    [ -z "$(jq -r "$key" x/heldout/same.jsonl x/heldout/harder.jsonl | grep -Fxf seen)" ]
    [ "$(zstdcat x/sft.jsonl.zst | wc -l)" -eq 128 ]
    [ "$(jq -r '.numbers | length' x/heldout/same.jsonl | sort -u)" = 3 ]
    [ "$(jq -r '.numbers | length' x/heldout/harder.jsonl | sort -u)" = 3 ]
    jq -se 'all(.[]; all(.numbers[]; . <= 50) and .target <= 500)' x/heldout/harder.jsonl
    [ "$(jq -r .harder_args x/summary.json)" = "--max-number 50 --max-target 500" ]
    # evaluation too scores with the countdown reward, greedy with one sample per problem
    [ "$(zstdcat x/eval/sft/t06/same.jsonl.zst | jq -r 'has("verdict")' | sort -u)" = true ]
    [ "$(zstdcat x/eval/sft/greedy/harder.jsonl.zst | wc -l)" -eq 4 ]
    # the off-policy leg: P (Ki 0) and PI (Ki 0.15) at the first target and
    # GRPO, 4 optimizer steps per batch at lr 1.5e-4
    for r in p pi grpo; do
        jq -e '.mini_batches == "4" and .lr == "1.5e-4"' "x/offpolicy-seed-1/$r/settings.json"
        [ "$(wc -l < "x/offpolicy-seed-1/$r/log.jsonl")" -eq 2 ]
    done
    jq -e --arg t "$t" '.target == $t and .ki == "0"' x/offpolicy-seed-1/p/settings.json
    jq -e --arg t "$t" '.target == $t and .ki == "0.15"' x/offpolicy-seed-1/pi/settings.json
    jq -e '.target == "off"' x/offpolicy-seed-1/grpo/settings.json
    jq -e '.lr == "5e-4" and .ki == "0.5" and .mini_batches == "1"' "x/seed-1/target-$t/settings.json"
    jq -e --argjson t "$t" '.offpolicy[0].target == $t
        and (.offpolicy[0].entropy_second_half | keys) == ["grpo", "p", "pi"]' x/summary.json
    # each run's summary row covers the SFT model, final and best, both levels
    [ "$(jq '.runs | length' x/summary.json)" -eq 10 ]
    jq -e '.methods["offpolicy-pi"].final.same.seeds == 1' x/summary.json
    # each method's training end (entropy, reward), and the tables for people
    jq -e '.methods.grpo.end | (.entropy | type == "number") and (.reward >= 0 and .reward <= 1)' x/summary.json
    grep -q '^| run | seeds | entropy at the end | pass@1 | pass@4 | greedy | T 0.6 |$' x/results.md
    [ "$(grep -c '^| grpo | 1 | ' x/results.md)" -eq 4 ]
    jq -e '.sft.same.accuracy_greedy != null and .sft.harder.pass_at_k["4"] != null' x/summary.json
    # the filter's outcome is recorded (the quick model solves nothing: the pool is used)
    jq -e '.filter.pool == 20 and .filter.n == 4 and (.filter.applied | type == "boolean")' x/summary.json
    # rerunning resumes: nothing is redone, the summary is the same
    cp x/summary.json s1.json
    run explore.sh --quick -q --out x --pool 20 --targets 0.5
    [ "$status" -eq 0 ]
    cmp s1.json x/summary.json
    # a rerun with other settings of the stages it would resume is refused,
    # not given the first run's model, held-out sets and evaluations
    run explore.sh --quick -q --out x --pool 20 --targets 0.5 --eval-problems 8
    fails_with 1 'x was made with other settings \(--eval-problems 4 then, 8 now\)'
    run explore.sh -q --out x --pool 20 --targets 0.5
    fails_with 1 '--quick true then, false now'
    cmp s1.json x/summary.json
    # more --steps: the runs go on, and their final checkpoints are
    # evaluated again (the tables of step 2's were kept as step 3's)
    explore.sh --quick -q --out x --pool 20 --targets 0.5 --steps 3 > /dev/null
    [ "$(wc -l < x/seed-1/grpo/log.jsonl)" -eq 3 ]
    jq -e '.steps == 3' x/summary.json
    for m in t06 greedy; do
        jq -r .model "x/eval/seed-1/grpo-final/$m/same.settings.json" | head -n 1 | grep -q '/ckpt/step-000003$'
    done
    # a step whose responses had no token logs entropy null: no value, where
    # the mean over the run's end counted it as 0
    # (train.sh makes log.jsonl anew from the steps' records)
    jq -c '.entropy = null' x/seed-1/grpo/steps/step-000003.json > step.tmp
    cp step.tmp x/seed-1/grpo/steps/step-000003.json
    explore.sh --quick -q --out x --pool 20 --targets 0.5 --steps 3 > /dev/null
    jq -e '.methods.grpo.end.entropy == null and .methods.grpo.end.entropy_sd == null' x/summary.json
    [ "$(grep -c '^| grpo | 1 | n/a | ' x/results.md)" -eq 4 ]
    # a table it cannot write (the temporary a link to /dev/full, a full
    # disk), or one whose part fails (jq on one table): named, the previous
    # stays, no temporary (the group's own, or one cut short, stayed)
    cp x/results.md results.before
    ln -s /dev/full x/results.md.tmp
    run explore.sh --quick -q --out x --pool 20 --targets 0.5 --steps 3
    fails_with 1 '^explore\.sh: x/results\.md: cannot write it$'
    cmp results.before x/results.md
    mkdir shim
    { echo '#!/bin/sh'
      echo 'case "$*" in *"def pct"*) echo "jq: broken" >&2; exit 5 ;; esac'
      echo "exec $(command -v jq) \"\$@\""; } > shim/jq
    chmod +x shim/jq
    PATH="$PWD/shim:$PATH" run explore.sh --quick -q --out x --pool 20 --targets 0.5 --steps 3
    fails_with 1 '^explore\.sh: x/results\.md: cannot write it$'
    cmp results.before x/results.md
    [ -z "$(find x -name '*.tmp')" ]
    # a failed part of evals.json inside printf's arguments (jq on one
    # checkpoint's metrics) passed unsaid, and the rest was published
    cp x/evals.json evals.before
    { echo '#!/bin/sh'
      echo 'case "$*" in *accuracy_t06*) echo "jq: broken" >&2; exit 5 ;; esac'
      echo "exec $(command -v jq) \"\$@\""; } > shim/jq
    PATH="$PWD/shim:$PATH" run explore.sh --quick -q --out x --pool 20 --targets 0.5 --steps 3
    fails_with 1 '^explore\.sh: x/evals\.json: cannot write it$'
    cmp evals.before x/evals.json
    [ -z "$(find x -name '*.tmp')" ]
}

@test "filter.sh --reward-args '--task countdown': scored by the countdown verdict, 0 < correct < n kept" {
    for id in 1 2 3; do
        jq -cn --argjson id "$id" '{id: $id, problem: "p", answer: "a", numbers: [3, 5, 2], target: 16}'
    done > prompts.jsonl
    # id 1 always solved, id 2 sometimes, id 3 never
    { for r in '\boxed{(3+5)*2}' '\boxed{2*(3+5)}'; do jq -c --arg r "$r" '.response = $r' <(sed -n 1p prompts.jsonl); done
      for r in '\boxed{(3+5)*2}' '\boxed{16}'; do jq -c --arg r "$r" '.response = $r' <(sed -n 2p prompts.jsonl); done
      for r in '\boxed{3+5+2}' 'none'; do jq -c --arg r "$r" '.response = $r' <(sed -n 3p prompts.jsonl); done
    } | pic-reward -q --task countdown -o scored.jsonl.zst
    filter.sh -q --scored scored.jsonl.zst --n 2 -o kept.jsonl prompts.jsonl
    [ "$(jq -r .id kept.jsonl)" = 2 ]
    run filter.sh -q --scored scored.jsonl.zst --samples again.zst --n 2 -o kept.jsonl prompts.jsonl
    fails_with 2 "not with --scored"
    # nor the options of sampling, which did nothing there
    for o in "--model m" "--temperature 1" "--max-new-tokens 8" "--template chatml" "--seed 2" "--eos x" \
             "--reward-args --strict"; do
        # shellcheck disable=SC2086
        run filter.sh -q --scored scored.jsonl.zst $o --n 2 -o kept.jsonl prompts.jsonl
        fails_with 2 "filter.sh: ${o%% *} is for sampling: --scored samples nothing"
    done
    # sampling with a model: the reward arguments reach pic-reward
    pic-task -q --plain --task countdown --solutions -n 50 > corpus.jsonl
    pic-init -q -o m --corpus corpus.jsonl --merges 8
    pic-task -q --plain --task countdown -n 3 > p.jsonl
    filter.sh -q --model m --n 2 --max-new-tokens 8 --template chatml --reward-args '--task countdown' \
        --samples s.jsonl.zst -o k.jsonl p.jsonl
    [ "$(zstdcat s.jsonl.zst | jq -r 'has("verdict")' | sort -u)" = true ]
    [ "$(zstdcat s.jsonl.zst | wc -l)" -eq 6 ]
}

@test "explore.sh: a settings file it cannot write stops it naming the file, before any stage" {
    mkdir x
    # the temporary a link to /dev/full, a full disk: printf failed inside
    # an && list, which set -e passed over, and every stage ran without
    # the settings that hold a rerun to them
    ln -s /dev/full x/settings.json.tmp
    run timeout 60 explore.sh --quick -q --out x --pool 20
    fails_with 1 '^explore\.sh: x/settings\.json: cannot write it$'
    [ ! -e x/settings.json ]
    [ ! -e x/settings.json.tmp ]
    [ ! -e x/init ]
}

@test "explore.sh rejects bad options" {
    run explore.sh --targets 1.5
    fails_with 2 "not a fraction in"
    run explore.sh --eval-n 48
    fails_with 2 "not a power of 2"
    run explore.sh --difficulty 6
    fails_with 2 "--difficulty: 6 is outside \\[1, 5\\]"
    run explore.sh --difficulty 2
    fails_with 2 "needs --harder-args"
    run explore.sh --seeds 1,1
    fails_with 2 "a seed appears twice"
    # (decimal, as train.sh's --seed: 01 is seed 1, 010 no octal 8)
    run explore.sh --seeds 01,1
    fails_with 2 "a seed appears twice"
    run explore.sh --seeds 99999999999999
    fails_with 2 "--seeds: 99999999999999 is too large"
    run explore.sh --steps 08 --pool 0
    fails_with 2 "--pool: '0' is not a positive integer"
    run explore.sh --off-policy -1
    fails_with 2 "not a non-negative integer"
    # (refused at once, not by train.sh after the SFT and the filter)
    run explore.sh --quick --out y --lr 5e-4x
    fails_with 2 "--lr: '5e-4x' is not a decimal number"
    run explore.sh --quick --out y --kp ''
    fails_with 2 "--kp needs a value"
    [ ! -e y ]
    run explore.sh --bogus
    fails_with 2 "unknown option"
    run explore.sh --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
}
