#!/usr/bin/env bats
# The training pipeline end to end on a tiny model: steps, logs, the
# controller, resume after a kill at any moment, validation, sweeps.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    TRAIN=(--model m --prompts 4 --n 2 --max-new-tokens 8 --lr 1e-3 --template chatml --seed 5)
}

# The log without the fields that measure time.
timeless() { jq -c 'del(.tokens_per_s, .seconds)' "$1"; }

@test "two steps: rollouts, checkpoints, controller snapshots, a log line per step" {
    run train.sh --run r --steps 2 --target 2.0 "${TRAIN[@]}"
    [ "$status" -eq 0 ]
    [ "$(wc -l < r/log.jsonl)" -eq 2 ]
    [ -s r/rollouts/step-000002.jsonl.zst ] && [ -f r/ckpt/step-000002/model.safetensors ]
    [ "$(readlink r/final)" = ckpt/step-000002 ]
    [ "$(zstdcat r/rollouts/step-000001.jsonl.zst | wc -l)" -eq 8 ]
    zstdcat r/rollouts/step-000001.jsonl.zst | jq -e 'has("reward") and has("logprobs") and has("pred")' > /dev/null
    jq -e '.step and .entropy and (.target == 2) and has("alpha") and has("reward") and .grad_norm != null' r/log.jsonl > /dev/null
    # alpha is pictl's answer to the measured entropy: step 1 is Kp * (H - target)
    h=$(jq -s '.[0].entropy' r/log.jsonl)
    want=$(echo "$h" | pictl --target 2.0)
    near "$(jq -s '.[0].alpha' r/log.jsonl)" "$want" 1e-9
    [ "$(jq .step r/pictl/step-000002.json)" = 2 ]
    # the GRPO baseline has no target and alpha 0
    run train.sh --run g --steps 1 --target off "${TRAIN[@]}"
    [ "$status" -eq 0 ]
    jq -e '.target == null and .alpha == 0' g/log.jsonl > /dev/null
}

@test "killed at any moment and started again, a run ends as if never killed" {
    train.sh -q --run whole --steps 3 --target 2.0 "${TRAIN[@]}"
    for delay in 0.3 1.1 2.3; do
        rm -rf cut
        setsid train.sh -q --run cut --steps 3 --target 2.0 "${TRAIN[@]}" &
        pid=$!
        sleep "$delay"
        kill -9 -- -"$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        train.sh -q --run cut --steps 3 --target 2.0 "${TRAIN[@]}"
        cmp whole/ckpt/step-000003/model.safetensors cut/ckpt/step-000003/model.safetensors
        cmp whole/ckpt/step-000003/optimizer.safetensors cut/ckpt/step-000003/optimizer.safetensors
        cmp <(timeless whole/log.jsonl) <(timeless cut/log.jsonl)
        cmp whole/pictl/step-000003.json cut/pictl/step-000003.json
    done
    # more steps later extend the run; other settings are refused
    run train.sh -q --run whole --steps 4 --target 2.0 "${TRAIN[@]}"
    [ "$status" -eq 0 ] && [ "$(wc -l < whole/log.jsonl)" -eq 4 ]
    [ ! -e whole/ckpt/step-000002 ] # --keep 2
    run train.sh -q --run whole --steps 5 --target 1.0 "${TRAIN[@]}"
    fails_with 1 'started with other settings'
}

@test "validation every K steps, off-policy mini-batches with pictl inside pic-update" {
    run train.sh --run v --steps 2 --target 2.0 --val-every 2 --val-n 2 --mini-batches 2 "${TRAIN[@]}"
    [ "$status" -eq 0 ]
    [ "$(wc -l < v/val.jsonl)" -eq 1 ]
    jq -e '.step == 2 and (.accuracy >= 0)' v/val.jsonl > /dev/null
    [ -s v/val/step-000002/table.txt ] && [ -s v/val/step-000002/table.json ]
    jq -e '.accuracy != null' <(tail -n 1 v/log.jsonl) > /dev/null
    # two optimizer steps per batch, each with its own alpha from pictl
    [ "$(tail -n 1 v/log.jsonl | jq '.steps | length')" = 2 ]
    [ "$(jq .step v/pictl/step-000002.json)" = 4 ]
}

@test "a sweep of two targets and the baseline: runs, figure, table" {
    run sweep.sh --out s --targets 1.0,2.0 -j 2 -- --steps 2 "${TRAIN[@]}"
    [ "$status" -eq 0 ]
    for r in target-1.0 target-2.0 grpo; do [ "$(wc -l < s/$r/log.jsonl)" -eq 2 ]; done
    [ -s s/plot.png ] && [ -s s/plot.svg ]
    grep -q '| target-2.0 | 2 | 2 |' s/summary.md
    grep -q '^grpo ' <<<"$output"
}

@test "bad settings are refused with a clear message" {
    run train.sh --model m --steps 1
    fails_with 2 -- '--run DIR is required'
    run train.sh --run r --model nowhere
    fails_with 1 'nowhere: not a model directory'
    run train.sh --run r --model m --method magic
    fails_with 2 "unknown method 'magic'"
    run train.sh --run r --model m --steps two
    fails_with 2 "'two' is not a non-negative integer"
    run eval.sh --model m --out e
    fails_with 2 'no dataset given'
    run sweep.sh --out s --targets abc -- --model m
    fails_with 2 "'abc' is not a number"
}
