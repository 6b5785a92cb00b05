#!/usr/bin/env bats
# pic-rollout-floor, the floor bench/rollout.sh compares generation with:
# its KV cache bytes, the whole run's floor from given rates, how it moves
# with the context, and its usage errors.
load helpers

M="$FIXTURES/models/llama-tiny"

# field NAME: the number after NAME in the floor line $output
field() { sed -E "s/.*$1 ([0-9.]+).*/\1/" <<<"$output"; }

# kv_mb B POSITIONS: layers x kv heads x head_dim x 2 (K, V) x 4 bytes x B x
# positions, in MB as the line prints it
kv_mb() {
    jq -r --argjson b "$1" --argjson pos "$2" \
        '.num_hidden_layers * .num_key_value_heads * (.hidden_size / .num_attention_heads) * 2 * 4 * $b * $pos' \
        "$M/config.json" | awk '{ printf "%.3f", $1 / 1e6 }'
}

# floor_formula B P N GBPS GFLOPS: the run's floor in tokens/s from
# llama-tiny's config (untied, no biases): a prefill of P rows (logits for
# the last), then N - 1 steps of B rows over P + i positions, each the
# larger of (weights + KV) / read rate and (matrix + attention FLOPs) / FLOP rate
floor_formula() {
    jq -r '[.vocab_size, .hidden_size, .intermediate_size, .num_hidden_layers, .num_attention_heads,
            .num_key_value_heads, .hidden_size / .num_attention_heads] | @tsv' "$M/config.json" |
        awk -v B="$1" -v P="$2" -v N="$3" -v R="$4e9" -v F="$5e9" '{
            V = $1; C = $2; FF = $3; L = $4; H = $5; KH = $6; D = $7
            qd = H * D; kvd = KH * D
            layer = C * (qd + 2 * kvd) + qd * C + 2 * C * FF + FF * C
            numel = V * C + L * (layer + 2 * C) + C + V * C
            kvpos = L * KH * D * 2 * 4
            total = 0
            for (i = 0; i < N; i++) {
                if (i == 0) { rows = P; head = 1; kv = P * kvpos; att = 4 * D * H * L * P * (P + 1) / 2 }
                else { rows = B; head = B; kv = B * (P + i) * kvpos; att = B * 4 * D * H * L * (P + i) }
                bytes = (numel - V * C + (rows < V ? rows : V) * C) * 4 + kv
                flops = 2 * (rows * layer * L + head * C * V) + att
                tr = bytes / R; tf = flops / F
                total += tr > tf ? tr : tf
            }
            printf "%.0f", B * N / total
        }'
}

@test "the KV cache printed is layers x kv heads x head_dim x 2 x 4 bytes x B x the last step's positions" {
    run pic-rollout-floor --prompt-tokens 100 --new-tokens 29 --read-rate 10 --sgemm-rate 100 "$M" 16 1
    [ "$status" -eq 0 ]
    # the last of 29 tokens comes from the step over 100 + 28 positions
    [ "$(field KV)" = "$(kv_mb 16 128)" ]
    [ "$(field KV)" = 0.786 ]
    # one token: the prefill alone, one sequence of the prompt's positions
    run pic-rollout-floor --prompt-tokens 100 --new-tokens 1 --read-rate 10 --sgemm-rate 100 "$M" 16 1
    [ "$status" -eq 0 ]
    [ "$(field KV)" = "$(kv_mb 1 100)" ]
}

@test "the floor is B x N over the sum of every step's larger time, read-bound or FLOP-bound" {
    run pic-rollout-floor -p 3 -n 3 --read-rate 10 --sgemm-rate 100 "$M" 4 1
    [ "$status" -eq 0 ]
    [[ "$output" == *"reads bound 3 of 3 steps"* ]]
    [ "$(sed -E 's/^floor ([0-9]+) tokens.*/\1/' <<<"$output")" = "$(floor_formula 4 3 3 10 100)" ]
    run pic-rollout-floor -p 50 -n 10 --read-rate 1000 --sgemm-rate 1 "$M" 64 1
    [ "$status" -eq 0 ]
    [[ "$output" == *"reads bound 0 of 10 steps"* ]]
    [ "$(sed -E 's/^floor ([0-9]+) tokens.*/\1/' <<<"$output")" = "$(floor_formula 64 50 10 1000 1)" ]
    # mixed: the prefill FLOP-bound, the decode steps read-bound
    run pic-rollout-floor -p 200 -n 8 --read-rate 0.1 --sgemm-rate 1 "$M" 2 1
    [ "$status" -eq 0 ]
    [[ "$output" == *"reads bound 7 of 8 steps"* ]]
    [ "$(sed -E 's/^floor ([0-9]+) tokens.*/\1/' <<<"$output")" = "$(floor_formula 2 200 8 0.1 1)" ]
}

# floor_at P N READ_GBPS GFLOPS: the floor's tokens/s for llama-tiny at B = 64
floor_at() {
    pic-rollout-floor -p "$1" -n "$2" --read-rate "$3" --sgemm-rate "$4" "$M" 64 1 | sed -E 's/^floor ([0-9]+) tokens.*/\1/'
}

@test "the floor falls as the context grows, from a longer prompt or more new tokens" {
    # read-bound (FLOPs all but free): each step's KV cache, 64 x 384 B per
    # position, outweighs the 0.7 MB of weights from ~30 positions on
    prev=
    for p in 1 64 256 480; do
        f=$(floor_at "$p" 8 20 1e6)
        [ -z "$prev" ] || [ "$f" -lt "$prev" ]
        prev=$f
    done
    [ "$prev" -lt $(($(floor_at 1 8 20 1e6) / 4)) ]
    [ "$(floor_at 1 400 20 1e6)" -lt $(($(floor_at 1 8 20 1e6) / 2)) ]
    # FLOP-bound (reads all but free): attention's FLOPs, 64 x 4 x 192 per
    # position, add ~40% to the matrix products' at ~200 positions
    [ "$(floor_at 1 400 1e5 100)" -lt $(($(floor_at 1 8 1e5 100) * 8 / 10)) ]
}

@test "measured rates: read on the threads asked for, a positive floor" {
    run pic-rollout-floor -p 16 -n 4 "$M" 8 2
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^floor\ [1-9][0-9]*\ tokens/s ]]
    [[ "$output" == *"on 2 threads"* ]]
    awk -v r="$(field 'read at')" -v f="$(field 'at the last step at')" 'BEGIN { exit !(r > 0 && f > 0) }'
}

@test "bad arguments exit 2 with a usage message" {
    run pic-rollout-floor "$M" 8 2 # the old call, without the run's shape
    fails_with 2 'prompt-tokens and --new-tokens are required'
    run pic-rollout-floor -p 16 "$M" 8
    fails_with 2 'required'
    run pic-rollout-floor -p 16 -n 4
    fails_with 2 'expected MODEL_DIR B'
    run pic-rollout-floor -p 16 -n 4 "$M"
    fails_with 2 'expected MODEL_DIR B'
    run pic-rollout-floor -p 16 -n 4 "$M" 8 2 9
    fails_with 2 "unexpected operand '9'"
    run pic-rollout-floor -p 16 -n 4 "$M" 0
    fails_with 2 'B'
    run pic-rollout-floor -p 0 -n 4 "$M" 8
    fails_with 2 'prompt-tokens'
    run pic-rollout-floor -p 16 -n x "$M" 8
    fails_with 2 'new-tokens'
    run pic-rollout-floor -p 16 -n 4 --read-rate 0 "$M" 8
    fails_with 2 'read-rate'
    run pic-rollout-floor -p 16 -n 4 --frobnicate "$M" 8
    fails_with 2 'Try'
    # llama-tiny's context is 512 positions
    run pic-rollout-floor -p 500 -n 13 "$M" 8
    fails_with 2 'exceed .*context of 512'
    run pic-rollout-floor -p 16 -n 4 /nonexistent 8
    fails_with 1 'nonexistent'
    run pic-rollout-floor --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
}
