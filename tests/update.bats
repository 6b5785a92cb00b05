#!/usr/bin/env bats
# pic-update end to end: golden losses through the command line, checkpoints
# (atomic, reloadable, resumable bit for bit), micro-batching, the
# co-process, baselines, and the errors bad streams get.

load helpers

M="$FIXTURES/models"
U="$FIXTURES/update"
BASE=(--lr 1e-3 --threads 1 -q)
SPEC=(--clip-high 0.28 "${BASE[@]}") # BASE for the losses that clip nothing (KL-Cov, SFT)
# golden's tau for model $1 (chosen so that half the response tokens pass it)
tau() { jq .pg_spec.tau "$M/$1/golden.json"; }

field() { sed -E "s/.*\"$1\":([^,}]*).*/\1/" <<<"$2"; }

# llama-tiny's golden old log-probabilities are logp plus noise, and one of
# them (0.064) is above 0, which pic-update rejects: the tests that need no
# golden number read a copy with it at 0.
setup_file() {
    jq -c '.logprobs |= map(if . > 0 then 0 else . end)' "$FIXTURES/update/llama-tiny-step.jsonl" \
        >"$BATS_FILE_TMPDIR/llama-tiny-step.jsonl"
}
LLAMA_STEP="$BATS_FILE_TMPDIR/llama-tiny-step.jsonl"

@test "--help, --version and usage errors" {
    run pic-update --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--entropic-norm"* ]]
    run pic-update --version
    [ "$status" -eq 0 ]
    [[ "$output" == "pic-update (pic) "* ]]
    # a bad value names the option as typed, wherever it sits in the table
    for o in --threads --lr --max-shard-size --mask-quadrant; do
        run pic-update -m m -o out "$o" bogus "$U/qwen2-tiny-step.jsonl"
        fails_with 2 "^pic-update: $o: "
    done
    run pic-update -o out "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "model DIR is required"
    run pic-update -m "$M/qwen2-tiny" -o out --loss-agg token-sum "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "--loss-agg: 'token-sum'"
    run pic-update -m "$M/qwen2-tiny" -o out --kl k2 "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "--kl needs --ref"
    # SFT has no advantage to sign a quadrant: the mask was taken, did
    # nothing and said "quadrant_masked":0
    run pic-update -m "$M/qwen2-tiny" -o out --loss sft --mask-quadrant hi-pos "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "--loss sft takes none of .*--mask-quadrant"
    [ ! -e out ]
}

@test "an option that would do nothing without its controlling option is a usage error" {
    # OPTION VALUE | what it needs; with that it runs, so a default never trips it
    while IFS='|' read -r ov with; do
        o=${ov%% *}
        # shellcheck disable=SC2086 # word-split on purpose
        run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" $ov "$U/qwen2-tiny-step.jsonl"
        fails_with 2 "^pic-update: $o needs ${with%% *}"
        [ ! -e out ]
        # shellcheck disable=SC2086
        run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" $ov ${with//REF/$M/qwen2-tiny} "$U/qwen2-tiny-step.jsonl"
        [ "$status" -eq 0 ] || { echo "$ov $with: $output" >&2; false; }
        rm -r out
    done <<'EOF'
--kl-coef 0.1|--ref REF
--norm-len 100|--loss-agg seq-mean-token-sum-norm
--cov-ratio 0.1|--pg kl-cov
--clip-cov-lb 0|--pg clip-cov
--clip-cov-ub 10|--pg clip-cov
--seed 3|--pg clip-cov
--kl-cov-coef 2|--pg kl-cov
--w-lambda 0.5|--adv w-reinforce
--aec-delta 0.001|--aec-target 0.2
--aec-max 0.01|--aec-target 0.2
--aec-init 0.001|--aec-target 0.2
--mpt-prob 0.9|--dmmpt-target 1
--total-steps 10|--schedule cosine
--min-lr-ratio 0.1|--schedule cosine --total-steps 10
--entropic-norm all|--alpha 0.1
--entropic-tokens low|--alpha 0.1
EOF
}

@test "defaults: --max-grad-norm 1, --w-lambda 0.1, --entropic-tokens high, --kl k3 with --ref" {
    s="$U/qwen2-tiny-step.jsonl"
    jq -c 'del(.advantage) | .reward = (if .id == "golden-1" then 0 else 1 end) | .id = "g"' "$s" >g.jsonl
    # each default's run is the run with the value written out, and another
    # value gives another step (so the default is the one the help says)
    # same OPTS...: 0 when the default's stats and checkpoint are OPTS's, 1
    # when either differs, 2 on a failure
    same() {
        pic-update -m "$M/qwen2-tiny" -o a "${SPEC[@]}" "${pre[@]}" g.jsonl >a.json || return 2
        pic-update -m "$M/qwen2-tiny" -o b "${SPEC[@]}" "${pre[@]}" "$@" g.jsonl >b.json || return 2
        local st=0 ck=0 d='del(.tokens_per_s, .seconds, .load_seconds, .save_seconds)'
        [ "$(jq -c "$d" a.json)" = "$(jq -c "$d" b.json)" ] || st=1
        cmp -s a/model.safetensors b/model.safetensors || ck=1
        return $((st | ck))
    }
    differs() { run same "$@"; [ "$status" -eq 1 ]; }
    # the gradient norm (~8.9) is above 1: clipping at 1 changes the step
    pre=()
    [ "$(jq '.grad_norm > 1' <(pic-update -m "$M/qwen2-tiny" -o a "${SPEC[@]}" g.jsonl))" = true ]
    same --max-grad-norm 1
    differs --max-grad-norm 0
    differs --max-grad-norm 2
    pre=(--adv w-reinforce)
    same --w-lambda 0.1
    differs --w-lambda 0.5
    pre=(--tau "$(tau qwen2-tiny)" --alpha 0.3)
    same --entropic-tokens high
    differs --entropic-tokens low
    # a reference one step away from the model, so that k1, k2, k3 differ
    pic-update -m "$M/qwen2-tiny" -o ref "${SPEC[@]}" g.jsonl >/dev/null
    pre=(--ref ref --kl-coef 1)
    same --kl k3
    differs --kl k1
    differs --kl k2
}

@test "--max-shard-size: KB, MB and GB are powers of 10, as transformers' convert_file_size_to_int" {
    # 50 KB and 50 KiB split qwen2-tiny's tensors differently
    s="$U/qwen2-tiny-step.jsonl"
    layout() { pic-update -m "$M/qwen2-tiny" -o "$1" "${SPEC[@]}" --max-shard-size "$2" "$s" >/dev/null
               jq -cS .weight_map "$1/model.safetensors.index.json"; }
    [ "$(layout k 50KB)" = "$(layout d 50000)" ]
    [ "$(layout k 50KB)" != "$(layout i 51200)" ]
    [ "$(layout k 0.05MB)" = "$(layout d 50000)" ]
    [ "$(layout k 0.00005GB)" = "$(layout d 50000)" ]
}

@test "out-of-range values and options that exclude each other are usage errors; --serve takes --entropic-norm" {
    # VALUE | message: each refused before the model is read
    while IFS='|' read -r ov msg; do
        # shellcheck disable=SC2086 # word-split on purpose
        run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" $ov "$U/qwen2-tiny-step.jsonl"
        fails_with 2 "^pic-update: $msg"
        [ ! -e out ]
    done <<'EOF'
--clip-low 2|--clip-low: 2 is outside \[0, 1\]
--tau 0|--tau: 0 is outside \[1e-30, 1\]
--mini-batches 0|--mini-batches: 0 is outside \[1,
--max-shard-size 0.5B|--max-shard-size: 0.5B is outside \[1, 1e15\] bytes
--alpha 0.1 --alpha-cmd cat|--alpha and --alpha-cmd exclude each other
--aec-target 0.2 --entropy-coef 0.01|--aec-target and --entropy-coef exclude each other
--schedule cosine --warmup 5 --total-steps 5|--schedule cosine needs --total-steps greater than --warmup
--device cpu --dtype bf16|--dtype bf16: the CPU computes in f32 only
EOF
    run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --device cpu --dtype f32 "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    # a request may carry alpha: --serve's --entropic-norm is not idle
    run pic-update -m "$M/qwen2-tiny" --serve "${BASE[@]}" --device cpu --entropic-norm all --entropic-tokens low </dev/null
    [ "$status" -eq 0 ]
}

@test "the clip options need a loss that clips: KL-Cov clips nothing, Clip-Cov has no dual clip, SFT no ratio" {
    # verl's compute_policy_loss_kl_cov takes -A r unclipped, _clip_cov the
    # clip without clip_ratio_c: each option was taken there and did nothing
    for o in "--clip-low 0.1" "--clip-high 0.28" "--clip-ratio-c 2"; do
        # shellcheck disable=SC2086
        run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --pg kl-cov $o "$U/qwen2-tiny-step.jsonl"
        fails_with 2 "^pic-update: ${o% *} needs --pg clip"
        # shellcheck disable=SC2086
        run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --loss sft $o "$U/qwen2-tiny-step.jsonl"
        fails_with 2 "^pic-update: --loss sft takes none of .*${o% *}"
        [ ! -e out ]
    done
    run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --pg clip-cov --clip-ratio-c 2 "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "^pic-update: --clip-ratio-c needs --pg clip "
    run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --pg clip-cov --clip-low 0.1 --clip-high 0.28 \
        "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    run pic-update -m "$M/qwen2-tiny" -o out "${BASE[@]}" --pg clip --clip-ratio-c 2 "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
}

@test "golden losses and grad norm through the command line, all three models" {
    run pic-update -m "$M/llama-tiny" -o pg "${SPEC[@]}" "$U/llama-tiny-step.jsonl"
    fails_with 1 "llama-tiny-step.jsonl:1: field 'logprobs': element 7: 0.0638318 is above 0"
    for m in qwen2-tiny qwen3-tiny; do # llama-tiny's oracle: test_loss
        want_pg=$(jq '."loss.pg"' "$M/$m/golden.json")
        want_e=$(jq '."loss.entropic"' "$M/$m/golden.json")
        want_ea=$(jq '."loss.entropic_all"' "$M/$m/golden.json")
        want_gn=$(jq '.adamw.grad_norm_before_clip' "$M/$m/golden.json")
        run pic-update -m "$M/$m" -o pg "${SPEC[@]}" "$U/$m-step.jsonl"
        [ "$status" -eq 0 ]
        near "$(field loss "$output")" "$want_pg" 1e-5
        run pic-update -m "$M/$m" -o e "${SPEC[@]}" --tau "$(tau $m)" --alpha 0.3 "$U/$m-step.jsonl"
        near "$(field loss "$output")" "$want_e" 1e-5
        near "$(field grad_norm "$output")" "$want_gn" 1e-3
        run pic-update -m "$M/$m" -o ea "${SPEC[@]}" --tau "$(tau $m)" --alpha 0.3 --entropic-norm all "$U/$m-step.jsonl"
        near "$(field loss "$output")" "$want_ea" 1e-5
    done
}

@test "--loss sft gives golden's loss.sft; the stats line has every field" {
    want=$(jq '."loss.sft"' "$M/qwen2-tiny/golden.json")
    run pic-update -m "$M/qwen2-tiny" -o s --loss sft -q "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    near "$(field loss "$output")" "$want" 1e-5
    run pic-update -m "$M/qwen2-tiny" -o e "${SPEC[@]}" --tau "$(tau qwen2-tiny)" --alpha 0.3 "$U/qwen2-tiny-step.jsonl"
    for k in step loss pg_loss entropy alpha clipfrac_low clipfrac_high clipfrac_dual hi_frac approx_kl \
             grad_norm lr tokens tokens_per_s seconds load_seconds save_seconds device dtype; do
        jq -e "has(\"$k\")" <<<"$output" >/dev/null || { echo "no $k"; false; }
    done
    [ "$(jq .step <<<"$output")" = 1 ]
    [ "$(jq .tokens <<<"$output")" = 34 ]
    [ "$(jq .hi_frac <<<"$output")" = 0.5 ]
    # SFT takes --loss-agg; the stats line said "loss_agg":"sft" whatever it
    # was. Per sequence: the mean over sequences of each one's mean NLL (T = 1)
    run pic-update -m "$M/qwen2-tiny" -o s --loss sft --loss-agg seq-mean-token-mean -q "$U/qwen2-tiny-step.jsonl"
    [ "$(jq -r .loss_agg <<<"$output")" = seq-mean-token-mean ]
    got=$(jq .loss <<<"$output")
    want=$(pic-rollout --score -m "$M/qwen2-tiny" --temperature 1 --threads 1 --plain -q "$U/qwen2-tiny-step.jsonl" |
        jq -s 'map(.logprobs | map(-.) | add / length) | add / length')
    near "$got" "$want" 1e-5
    run pic-update -m "$M/qwen2-tiny" -o s --loss sft -q "$U/qwen2-tiny-step.jsonl"
    [ "$(jq -r .loss_agg <<<"$output")" = token-mean ]
}

@test "the stats line's clipfrac_high counts the clips at 1 + clip_high (A > 0), clipfrac_low those at 1 - clip_low" {
    # golden-0 (11 response tokens): A = 1, old log-probs -50, every ratio far
    # above 1.28; golden-1 (4 tokens): A = -1, old log-probs 0, every ratio
    # the token's probability, below 0.8 and above no dual clip
    head -n 2 "$U/qwen2-tiny-step.jsonl" | jq -c 'if .id == "golden-0"
        then .advantage = 1 | .logprobs |= map(-50) else .advantage = -1 | .logprobs |= map(0) end' >s.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --lr 0 s.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .tokens <<<"$output")" = 15 ]
    near "$(jq .clipfrac_high <<<"$output")" "$(awk 'BEGIN { printf "%.17g", 11 / 15 }')" 1e-12
    near "$(jq .clipfrac_low <<<"$output")" "$(awk 'BEGIN { printf "%.17g", 4 / 15 }')" 1e-12
    [ "$(jq .clipfrac_dual <<<"$output")" = 0 ]
}

@test "a checkpoint loads back bit for bit and resuming equals an uninterrupted run" {
    # six samples in two halves: two invocations vs one with two mini-batches
    { cat "$U/qwen2-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen2-tiny-step.jsonl"; } >six.jsonl
    head -3 six.jsonl >a.jsonl
    tail -3 six.jsonl >b.jsonl
    SPEC+=(--tau "$(tau qwen2-tiny)")
    pic-update -m "$M/qwen2-tiny" -o s1 "${SPEC[@]}" --alpha 0.3 a.jsonl >/dev/null
    pic-update -m s1 -o s2 "${SPEC[@]}" --alpha 0.3 b.jsonl >/dev/null
    pic-update -m "$M/qwen2-tiny" -o u "${SPEC[@]}" --alpha 0.3 --mini-batches 2 six.jsonl >stats
    cmp s2/model.safetensors u/model.safetensors
    cmp s2/optimizer.safetensors u/optimizer.safetensors
    [ "$(jq .step stats)" = 2 ]
    [ "$(jq '.steps | length' stats)" = 2 ]
    # lr 0 and no decay: the weights written back are the weights read
    pic-update -m s2 -o same "${SPEC[@]}" --lr 0 --weight-decay 0 a.jsonl >/dev/null
    cmp s2/model.safetensors same/model.safetensors
    cmp s2/config.json same/config.json && cmp s2/tokenizer.json same/tokenizer.json
}

@test "Clip-Cov draws anew at each optimizer step, and a resumed run draws what one run does" {
    # verl's compute_policy_loss_clip_cov takes torch.randperm from a generator
    # that advances from step to step; the draw was a function of --seed and
    # the step's token count only, so identical steps (pipelines/train.sh
    # passes one seed) dropped the same positions of the candidate list.
    { cat "$U/qwen2-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen2-tiny-step.jsonl"; } >six.jsonl
    head -3 six.jsonl >a.jsonl
    tail -3 six.jsonl >b.jsonl
    # lr 0, so both steps see the same weights and tokens; 3 of 34 tokens
    # picked a step, whose loss is 0
    C=(--pg clip-cov --cov-ratio 0.1 --clip-cov-lb -100 --clip-cov-ub 100 --lr 0 --threads 1 -q)
    pic-update -m "$M/qwen2-tiny" -o u "${C[@]}" --mini-batches 2 six.jsonl >stats
    [ "$(jq .cov_selected stats)" = 6 ]
    [ "$(jq '.steps[0].loss != .steps[1].loss' stats)" = true ]
    # resumed: the second step from the first's checkpoint draws as the second mini-batch did
    pic-update -m "$M/qwen2-tiny" -o s1 "${C[@]}" a.jsonl >one
    [ "$(jq .loss one)" = "$(jq .steps[0].loss stats)" ]
    pic-update -m s1 -o s2 "${C[@]}" b.jsonl >two
    [ "$(jq .loss two)" = "$(jq .steps[1].loss stats)" ]
    # and a step of the same checkpoint with --reset-optimizer draws as its first
    pic-update -m s1 -o s3 "${C[@]}" --reset-optimizer a.jsonl >three
    [ "$(jq .loss three)" = "$(jq .loss one)" ]
    # the draw does not depend on the micro-batches (the sums' order does, by an ulp)
    pic-update -m "$M/qwen2-tiny" -o m "${C[@]}" --mini-batches 2 --micro-tokens 20 six.jsonl >micro
    for k in 0 1; do near "$(jq ".steps[$k].loss" micro)" "$(jq ".steps[$k].loss" stats)" 1e-12; done
}

@test "--mini-batches K: the per-token rates are over all K steps' tokens, the per-step values means over K" {
    # uneven slices: 3 samples of 11, 4 and 19 tokens in 2 steps (1 + 2).
    # The entropy is the batch's token-mean, as verl's actor/entropy
    # (ray_trainer: agg_loss over the whole batch's response mask), not the
    # mean of the steps' entropies; loss, grad_norm, lr and alpha are the
    # means of the steps' values, as verl's metrics over its mini-batches.
    S=("${SPEC[@]}" --tau "$(tau qwen2-tiny)" --alpha 0.2 --lr 0)
    pic-update -m "$M/qwen2-tiny" -o c1 "${S[@]}" "$U/qwen2-tiny-step.jsonl" >one
    pic-update -m "$M/qwen2-tiny" -o c2 "${S[@]}" --mini-batches 2 "$U/qwen2-tiny-step.jsonl" >two
    [ "$(jq -c "[.steps[].tokens]" two)" = "[11,23]" ]
    [ "$(jq '.tokens == ([.steps[].tokens] | add)' two)" = true ]
    # lr 0: both runs see the same weights, so the batch's numbers are one run's
    for f in entropy hi_frac clipfrac_low clipfrac_high approx_kl; do
        near "$(jq .$f two)" "$(jq .$f one)" 1e-12
    done
    # (a value that is exactly a float32 prints as its float32 shortest form)
    near "$(jq .entropy two)" "$(jq '[.steps[] | .entropy * .tokens] | add / 34' two)" 1e-7
    # (and the unweighted mean is another number: the test can fail)
    run near "$(jq .entropy two)" "$(jq '[.steps[].entropy] | add / 2' two)" 1e-6
    [ "$status" -ne 0 ]
    for f in loss grad_norm lr alpha; do
        near "$(jq .$f two)" "$(jq "[.steps[].$f] | add / 2" two)" 1e-12
    done
}

@test "the stats line: logp_diff_max over every token, either sign; sums and means over --mini-batches" {
    s="$U/qwen2-tiny-step.jsonl"
    # the model's own log-probs (every one below -1), one of them moved
    pic-rollout --score -m "$M/qwen2-tiny" --threads 1 --plain -q "$s" >own.jsonl
    jq -c 'if .id == "golden-0" then .logprobs[0] -= 0.5 else . end' own.jsonl >first.jsonl
    jq -c 'if .id == "golden-2" then .logprobs[(.logprobs | length) - 1] += 0.25 else . end' own.jsonl >last.jsonl
    for f in first:0.5 last:0.25; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" "${f%:*}.jsonl"
        near "$(jq .logp_diff_max <<<"$output")" "${f#*:}" 1e-5
    done
    # two optimizer steps, lr 0: micro-batches and masking steps are summed,
    # the losses and the bonus are means over the steps, so that loss is
    # still their sum (the bonus of each step its own entropy's)
    t=$(tau qwen2-tiny)
    jq -c '.advantage = (if .id == "golden-1" then -1 else 1 end)' "$s" >pm.jsonl
    pic-update -m "$M/qwen2-tiny" -o ref "${SPEC[@]}" "$s" >/dev/null # a reference a step away
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --lr 0 --mini-batches 2 --tau "$t" --alpha 0.3 \
        --ref ref --kl-coef 1 --entropy-coef 0.01 --dmmpt-target 5 --mpt-prob 0.5 pm.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.micro_batches, .mpt_masking_steps, .entropy_coef, .tokens_total]' <<<"$output")" = \
      "[2,2,0.01,$(jq -s 'map(.prompt_ids + .response_ids | length) | add' "$s")]" ]
    got=$(jq '.pg_loss + .entropic_loss + .kl_loss - .entropy_coef * ([.steps[].entropy] | add / 2)' <<<"$output")
    near "$(jq .loss <<<"$output")" "$got" 1e-9
}

@test "pad_token_id's embedding row learns nothing from the tokens read, as nn.Embedding(padding_idx)" {
    # untied: the pad token's row of embed_tokens has only its inputs' gradient
    mkdir m
    echo '{"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
           "num_hidden_layers": 1, "num_attention_heads": 4, "pad_token_id": -59}' >m/config.json
    python3 "$PIC_ROOT/tests/model_ref.py" weights m 3
    echo '{"prompt_ids": [1, 5, 9, 5], "response_ids": [7, 5, 12], "logprobs": [-1, -1, -1], "advantage": 1}' >r.jsonl
    pic-update -m m -o out "${SPEC[@]}" --lr 1e-2 --weight-decay 0 r.jsonl >/dev/null
    # row 5 (-59 from the end of 64, as torch counts) as it was; row 9 trained
    rows() { python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import model_ref as r
w = r.read_st(sys.argv[2] + "/model.safetensors")["model.embed_tokens.weight"][1]
print(" ".join("%r" % (w[i * 32:(i + 1) * 32] == r.read_st("m/model.safetensors")["model.embed_tokens.weight"][1][i * 32:(i + 1) * 32]) for i in (5, 9)))' "$PIC_ROOT/tests" "$1"; }
    [ "$(rows out)" = "True False" ]
    # out of the vocabulary: nn.Embedding refuses the padding_idx
    jq '.pad_token_id = 64' m/config.json >c && mv c m/config.json
    run pic-update -m m -o out2 "${SPEC[@]}" r.jsonl
    fails_with 1 "pad_token_id': 64 is out of range \\[-64, 63\\]"
}

@test "micro-batches give the unbatched loss and gradient, with and without the pre-pass" {
    t=$(tau llama-tiny)
    # Micro-batches change the matrix shapes, so each log-prob may round
    # differently by a few ulps. The PPO terms use exp(logp - old_logp) ~ 1,
    # where that is ~1e-7 per token; KL-Cov's penalty is built from the
    # log-probs themselves (|log p| up to 32 in this stream, ulp 3.8e-6), so
    # its loss is held to 4 ulps of 32 instead.
    for extra in "" "--tau $t --alpha 0.3" "--tau $t --alpha 0.3 --loss-agg seq-mean-token-mean" "--pg kl-cov --cov-ratio 0.05"; do
        tol=1e-6
        if [[ $extra == *kl-cov* ]]; then tol=1.5e-5; fi
        spec=("${SPEC[@]}")
        if [[ $extra == *kl-cov* ]]; then spec=("${BASE[@]}"); fi
        run pic-update -m "$M/llama-tiny" -o one "${spec[@]}" $extra "$LLAMA_STEP"
        one=$output
        run pic-update -m "$M/llama-tiny" -o many "${spec[@]}" $extra --micro-tokens 20 "$LLAMA_STEP"
        [ "$(jq .micro_batches <<<"$output")" = 3 ]
        near "$(field loss "$output")" "$(field loss "$one")" "$tol"
        near "$(field grad_norm "$output")" "$(field grad_norm "$one")" 1e-3 # 1e-5 relative
        near "$(field hi_frac "$output")" "$(field hi_frac "$one")" 0
    done
}

@test "micro-batches: a budget the samples fill exactly holds them; DMMPT and --alpha-cmd see the whole step" {
    t=$(tau llama-tiny)
    # samples of 13, 41 and 35 tokens: 54 holds the first two, 53 does not
    for mt in 54:2 53:3; do
        run pic-update -m "$M/llama-tiny" -o o "${SPEC[@]}" --micro-tokens "${mt%:*}" "$LLAMA_STEP"
        [ "$(jq .micro_batches <<<"$output")" = "${mt#*:}" ]
    done
    # two micro-batches need the pre-pass as three do: the high-probability
    # count that divides the EntroPIC term is the whole step's
    run pic-update -m "$M/llama-tiny" -o one "${SPEC[@]}" --tau "$t" --alpha 0.3 "$LLAMA_STEP"
    one=$output
    run pic-update -m "$M/llama-tiny" -o many "${SPEC[@]}" --tau "$t" --alpha 0.3 --micro-tokens 54 "$LLAMA_STEP"
    near "$(jq .loss <<<"$output")" "$(jq .loss <<<"$one")" 1e-6
    # the controller is asked the step's entropy before the first micro-batch's loss
    run pic-update -m "$M/llama-tiny" -o many "${SPEC[@]}" --tau "$t" --alpha-cmd 'while read h; do echo 0.3; done' \
        --micro-tokens 20 "$LLAMA_STEP"
    [ "$status" -eq 0 ]
    [ "$(jq .alpha <<<"$output")" = 0.3 ]
    near "$(jq .loss <<<"$output")" "$(jq .loss <<<"$one")" 1e-6
    # DMMPT decides its mask on the step's entropy (below 5) before the loss
    run pic-update -m "$M/llama-tiny" -o one "${SPEC[@]}" --dmmpt-target 5 --mpt-prob 1e-9 "$LLAMA_STEP"
    one=$output
    [ "$(jq .mpt_masking_steps <<<"$one")" = 1 ]
    run pic-update -m "$M/llama-tiny" -o many "${SPEC[@]}" --dmmpt-target 5 --mpt-prob 1e-9 --micro-tokens 20 "$LLAMA_STEP"
    [ "$(jq -c '[.mpt_masking_steps, .mpt_masked]' <<<"$output")" = "$(jq -c '[.mpt_masking_steps, .mpt_masked]' <<<"$one")" ]
    near "$(jq .loss <<<"$output")" "$(jq .loss <<<"$one")" 1e-6
}

@test "a run killed at any moment leaves the previous checkpoint whole" {
    pic-update -m "$M/llama-tiny" -o ck "${SPEC[@]}" "$LLAMA_STEP" >/dev/null
    for d in 0.01 0.02 0.03 0.05 0.08 0.12; do
        pic-update -m "$M/llama-tiny" -o ck "${SPEC[@]}" --alpha 0.3 "$LLAMA_STEP" >/dev/null &
        pid=$!
        sleep "$d"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        # whatever instant it died at, ck is a complete checkpoint
        pic-update -m ck -o check "${SPEC[@]}" --lr 0 "$LLAMA_STEP" >/dev/null
    done
}

@test "a stats line that cannot be written commits no checkpoint" {
    [ -w /dev/full ] || skip "no /dev/full"
    s="$U/qwen2-tiny-step.jsonl"
    run bash -c 'pic-update "$@" >/dev/full' _ -m "$M/qwen2-tiny" -o ck "${SPEC[@]}" "$s"
    fails_with 1 "standard output \(/dev/full\): write error: No space left on device"
    [ -z "$(ls)" ]
    # in place of a previous NEXT: that one stays, whole
    pic-update -m "$M/qwen2-tiny" -o ck "${SPEC[@]}" "$s" >/dev/null
    cp -r ck before
    run bash -c 'pic-update "$@" >/dev/full' _ -m ck -o ck "${SPEC[@]}" "$s"
    fails_with 1 "standard output \(/dev/full\): write error: No space left on device"
    diff -r before ck
    [ "$(ls)" = "$(printf 'before\nck')" ]
}

@test "a full disk: the file that could not be written and why, exit 1, the previous checkpoint whole" {
    # a file system of its own, a little larger than the weights and too
    # small for AdamW's state beside them (root may mount one; else skip)
    mkdir fs
    mount -t tmpfs -o size=1400k tmpfs fs 2>/dev/null || skip "cannot mount a tmpfs here"
    s="$U/qwen2-tiny-step.jsonl"
    mkdir fs/ck && cp "$M"/qwen2-tiny/{config.json,model.safetensors,tokenizer.json} fs/ck/
    cp -r fs/ck before
    run pic-update -m fs/ck -o fs/next "${SPEC[@]}" "$s"
    st=$status out=$output
    run pic-update -m fs/ck -o fs/ck "${SPEC[@]}" "$s"
    left=$(ls -a fs | tr '\n' ' ')
    same=$(diff -r before fs/ck && echo same)
    umount fs
    [ "$left" = ". .. ck " ] # no temporary, no half-written output
    [ "$same" = same ]
    fails_with 1 "^pic-update: fs/ck\.tmp\.[0-9]+\.[A-Za-z0-9]+/optimizer\.safetensors: write error: No space left on device$"
    status=$st output=$out
    fails_with 1 "^pic-update: fs/next\.tmp\.[0-9]+\.[A-Za-z0-9]+/optimizer\.safetensors: write error: No space left on device$"
}

@test "--output replaces only a checkpoint or an empty directory; ck/ is ck" {
    s="$U/qwen2-tiny-step.jsonl"
    # a file, or someone's folder, would have been moved aside and deleted
    echo precious >notes.txt
    run pic-update -m "$M/qwen2-tiny" -o notes.txt "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: notes.txt: exists and is not a directory"
    [ "$(cat notes.txt)" = precious ]
    mkdir work && echo x >work/thesis.tex
    run pic-update -m "$M/qwen2-tiny" -o work "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: work: is a directory with no config.json in it"
    [ "$(ls work)" = thesis.tex ]
    [ "$(ls | sort | tr '\n' ' ')" = "notes.txt work " ] # no temporary left
    # an empty directory, and a checkpoint named with a trailing slash
    mkdir empty
    pic-update -m "$M/qwen2-tiny" -o empty "${SPEC[@]}" "$s" >/dev/null
    [ -f empty/config.json ]
    pic-update -m empty -o empty/ "${SPEC[@]}" "$s" >/dev/null
    [ "$(ls -a empty | grep -c tmp)" -eq 0 ]
    [ "$(ls | sort | tr '\n' ' ')" = "empty notes.txt work " ]
    run pic-update -m empty -o . "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: \.: not a name a checkpoint directory can take"
    # a model read from "." is fine (nothing of it is replaced)
    (cd empty && pic-update -m . -o ../fromdot "${SPEC[@]}" "$s" >/dev/null)
    [ -f fromdot/config.json ]
}

@test "a kill leaves temporaries the next run removes; a kill between the two renames is recovered" {
    pic-update -m "$M/llama-tiny" -o ck "${SPEC[@]}" "$LLAMA_STEP" >/dev/null
    cp ck/model.safetensors before.safetensors
    # killed between moving ck aside and renaming the new one into place
    run env PIC_TEST_ABORT_AT=dir-commit-between-renames pic-update -m ck -o ck "${SPEC[@]}" "$LLAMA_STEP"
    [ "$status" -ne 0 ]
    [ ! -e ck ]
    ls -d ck.old.* ck.tmp.*
    # the next run finds the previous checkpoint, whole, and clears the rest
    run pic-update -m ck -o ck "${SPEC[@]}" --lr 0 "$LLAMA_STEP"
    [ "$status" -eq 0 ]
    [[ "$output" == *"ck: restored from"* ]]
    [ "$(ls)" = "$(printf 'before.safetensors\nck')" ]
    cmp ck/model.safetensors before.safetensors # --lr 0: the restored weights, unchanged
    # a temporary of a writer that is gone is removed; one of a live writer is not
    mkdir ck.tmp.999999999.abcdef "ck.tmp.$$.abcdef"
    pic-update -m ck -o ck "${SPEC[@]}" --lr 0 "$LLAMA_STEP" >/dev/null
    [ ! -e ck.tmp.999999999.abcdef ]
    [ -d "ck.tmp.$$.abcdef" ]
    # a writer killed a moment ago is a zombie until reaped: gone all the same
    # (a resume started at once kept its leftovers)
    # (a parent that never waits: perl forks and sleeps; a shell's child
    # could be reaped by the shell itself before its exec, as one CI run showed)
    perl -e 'my $p = fork // die; exit 0 unless $p; open my $f, ">", "zpid.new" or die; print $f "$p\n";
             close $f; rename "zpid.new", "zpid"; sleep 60' 3>&- &
    holder=$!
    # (up to 30 s: a loaded CI machine running the sanitizer build beside other tests)
    for _ in $(seq 300); do [ -s zpid ] && [ "$(awk '{print $3}' "/proc/$(cat zpid)/stat" 2>/dev/null)" = Z ] && break; sleep 0.1; done
    [ "$(awk '{print $3}' "/proc/$(cat zpid)/stat")" = Z ]
    mkdir "ck.tmp.$(cat zpid).abcdef"
    pic-update -m ck -o ck "${SPEC[@]}" --lr 0 "$LLAMA_STEP" >/dev/null
    kill "$holder"
    [ ! -e "ck.tmp.$(cat zpid).abcdef" ]
}

@test "--alpha-cmd: a co-process answers alpha for each optimizer step" {
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --tau "$(tau qwen2-tiny)" --alpha-cmd 'while read h; do echo 0.3; done' \
        "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    near "$(field loss "$output")" "$(jq '."loss.entropic"' "$M/qwen2-tiny/golden.json")" 1e-5
    # pictl as the controller, its state kept across steps
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --mini-batches 3 \
        --alpha-cmd 'pictl --state pi.json --target 0.1 --alpha-max 0.5' "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq '.steps[0].alpha' <<<"$output")" = 0.5 ]
    [ "$(jq .step pi.json)" = 3 ]
    # an optimizer step without a response token measures nothing: pictl is
    # not asked (a 0 would enter its integral), and alpha is 0 there. The
    # co-process's first line is then a short one: no deadlock either
    jq -c 'if .id == "golden-0" then .response_ids = [] | .logprobs = [] else . end' \
        "$U/qwen2-tiny-step.jsonl" >e.jsonl
    rm -f pi.json
    run timeout 60 pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --mini-batches 3 \
        --alpha-cmd 'tee -a asked.txt | pictl --state pi.json --target 0.1' e.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.steps[].alpha == 0]' <<<"$output")" = '[true,false,false]' ]
    [ "$(jq .step pi.json)" = 2 ]
    [ "$(wc -l <asked.txt)" -eq 2 ]
    ! grep -qx 0 asked.txt || false
    # the controller is given the entropy the stats line records, every digit
    [ "$(jq -sc . asked.txt)" = "$(jq -c '[.steps[1:][].entropy]' <<<"$output")" ]
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'echo not-a-number' "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "answered 'not-a-number'"
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'while read h; do echo 0.3x; done' "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "answered '0.3x', not a number"
    # a controller that answered, then failed (its state not saved, say)
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'while read h; do echo 0.3; done; exit 3' \
        "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "--alpha-cmd 'while read h; do echo 0.3; done; exit 3' failed \(exit 3\)"
    rm -rf c
    # beyond --alpha's range: a controller gone wrong, not a step to take
    rm -rf c
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'while read h; do echo -5e3; done' \
        "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "answered -5e3, outside \[-1000, 1000\] \(as --alpha\)"
    [ ! -e c ] || false
    # strtod stops at a NUL byte: "0.3\0junk" was read as 0.3
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd "while read h; do printf '0.3\\000junk\\n'; done" \
        "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "answered a line with a NUL byte at column 4, not a number"
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'exit 3' "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "ended without answering"
    [ ! -e c.tmp ] || false
}

@test "--alpha-cmd: a step that fails after the controller answered says that its state moved" {
    # pictl saves its state at the end of its input, which a pic-update that
    # dies gives it: a retry from that state would integrate the step's
    # error twice (train.sh retries from its copy of the step before). An
    # advantage within float32 that overflows the gradient of a token sum:
    jq -c '.advantage = 1e38' "$U/qwen2-tiny-step.jsonl" >big.jsonl
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --loss-agg seq-mean-token-sum \
        --alpha-cmd 'pictl --state pi.json --target 0.1' big.jsonl
    fails_with 1 "the gradient is not finite .*no step taken; the controller \(--alpha-cmd\) already took this step's entropy: restore its state before retrying$"
    [ ! -e c ]
    [ "$(jq .step pi.json)" = 1 ]
    # any failure after the answer says it (a stats line that cannot be written)
    if [ -w /dev/full ]; then
        run bash -c 'pic-update "$@" >/dev/full' _ -m "$M/qwen2-tiny" -o c "${SPEC[@]}" \
            --alpha-cmd 'pictl --state pi.json --target 0.1' "$U/qwen2-tiny-step.jsonl"
        fails_with 1 "standard output \(/dev/full\): write error: No space left on device; the controller \(--alpha-cmd\) already took"
        [ "$(jq .step pi.json)" = 2 ]
    fi
    # a controller that never answered took nothing
    run pic-update -m "$M/qwen2-tiny" -o c "${SPEC[@]}" --alpha-cmd 'exit 3' "$U/qwen2-tiny-step.jsonl"
    # (a controller gone before pic-update wrote its entropy also gives the write's error)
    fails_with 1 "ended without answering entropy [0-9.e+-]*(: Broken pipe)?$"
}

@test "baselines: GRPO from rewards, W-REINFORCE, NSR, Clip-Cov, KL-Cov, KL to a reference, AEC" {
    # drop the advantages: rewards 1, 0 in one group, 1 alone in another
    jq -c 'del(.advantage) | .reward = (if .id == "golden-1" then 0 else 1 end) | .id = (if .id == "golden-2" then "g2" else "g" end)' \
        "$U/qwen2-tiny-step.jsonl" >r.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" r.jsonl
    fails_with 1 "r.jsonl:3: field 'id': a group of one sample"
    jq -c '.id = "g"' r.jsonl >g.jsonl
    for a in grpo w-reinforce nsr psr; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv $a g.jsonl
        [ "$status" -eq 0 ]
    done
    # the fixed-sign estimators have no std to divide by: --adv-norm did nothing
    for a in w-reinforce nsr psr; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv $a --adv-norm none g.jsonl
        fails_with 2 "^pic-update: --adv-norm needs --adv grpo"
    done
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv grpo --adv-norm none g.jsonl
    [ "$status" -eq 0 ]
    # SFT takes no advantage at all
    for a in "--adv nsr" "--adv grpo --adv-norm none" "--adv w-reinforce --w-lambda 0.5"; do
        # shellcheck disable=SC2086
        run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" --loss sft $a g.jsonl
        fails_with 2 "^pic-update: --loss sft takes none of .*--adv"
    done
    # nor a policy loss or an entropy bonus, at their defaults too: they
    # were checked by value, so '--pg clip' and '--entropy-coef 0' were
    # taken and did nothing
    for a in "--pg clip" "--entropy-coef 0"; do
        # shellcheck disable=SC2086
        run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" --loss sft $a g.jsonl
        fails_with 2 "^pic-update: --loss sft takes none of .*${a% *}"
    done
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --pg clip-cov --cov-ratio 0.1 --clip-cov-lb -100 --clip-cov-ub 100 g.jsonl
    [ "$(jq .cov_selected <<<"$output")" = 3 ]
    run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" --pg kl-cov --cov-ratio 0.1 g.jsonl
    [ "$(jq .cov_selected <<<"$output")" = 3 ]
    # max(1, ratio x n) picked a token at ratio 0 too (verl asserts ratio > 0)
    for pg in clip-cov kl-cov; do
        run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" --pg $pg --cov-ratio 0 g.jsonl
        fails_with 2 "^pic-update: --cov-ratio: 0 would still select one token"
    done
    # the model as its own reference: every estimator is 0
    for k in k1 k2 k3; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --ref "$M/qwen2-tiny" --kl $k --kl-coef 1 g.jsonl
        near "$(field kl_loss "$output")" 0 1e-9
    done
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --aec-target 5 --mini-batches 3 g.jsonl
    [ "$status" -eq 0 ]
}

@test "GRPO reads a record's correct as reward 1 or 0 when it has no reward, as pic-reward's default" {
    # docs/update.md's Input takes `correct` beside `reward`; GRPO died of
    # "no reward and no advantage" on a stream that carried only correct
    jq -c 'del(.advantage) | .reward = (if .id == "golden-1" then 0 else 1 end) | .id = "g"' \
        "$U/qwen2-tiny-step.jsonl" >r.jsonl
    jq -c '.correct = (.reward == 1) | del(.reward)' r.jsonl >c.jsonl
    # and a group of both: one record's reward, the others' correct
    jq -c 'if .response_ids | length == 4 then . else .correct = (.reward == 1) | del(.reward) end' r.jsonl >m.jsonl
    run pic-update -m "$M/qwen2-tiny" -o a "${SPEC[@]}" r.jsonl
    [ "$status" -eq 0 ]
    want=$(jq -c '{loss, grad_norm}' <<<"$output")
    for f in c m; do
        run pic-update -m "$M/qwen2-tiny" -o $f "${SPEC[@]}" $f.jsonl
        [ "$status" -eq 0 ]
        [ "$(jq -c '{loss, grad_norm}' <<<"$output")" = "$want" ]
        cmp a/model.safetensors $f/model.safetensors
    done
    # a reward wins over correct (pic-reward's --correct 0.5 gives both)
    jq -c '.correct = (.reward == 0)' r.jsonl >both.jsonl
    run pic-update -m "$M/qwen2-tiny" -o b "${SPEC[@]}" both.jsonl
    [ "$(jq -c '{loss, grad_norm}' <<<"$output")" = "$want" ]
    # a group of one is one, whichever label it carries
    { cat c.jsonl; head -1 c.jsonl | jq -c '.id = "alone"'; } >c4.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" c4.jsonl
    fails_with 1 "c4.jsonl:4: field 'id': a group of one sample"
    # neither label nor advantage: the message names every way to give one
    jq -c 'del(.correct)' m.jsonl >none.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" none.jsonl
    fails_with 1 "none.jsonl:1: field 'reward': missing, and no correct or advantage either"
}

@test "NSR and PSR train on one class only, token-mean over its tokens (RLVR-Decomposed)" {
    # RLVR-Decomposed, verl/trainer/ppo/ray_trainer.py RayPPOTrainer.fit:
    # batch.subset(incorrect_idx) for NSR, batch.subset(correct_idx) for PSR,
    # then advantages -1 / +1 (core_algos.compute_psr_nsr_outcome_advantage)
    # and masked_mean over the remaining samples' tokens. The same step by
    # hand: only those samples, with their advantage given.
    jq -c 'del(.advantage) | .reward = (if .id == "golden-1" then 0 else 1 end) | .id = "g"' \
        "$U/qwen2-tiny-step.jsonl" >g.jsonl
    jq -c 'select(.reward == 0) | .advantage = -1' g.jsonl >neg.jsonl
    jq -c 'select(.reward == 1) | .advantage = 1' g.jsonl >pos.jsonl
    for a in nsr:neg psr:pos; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv "${a%:*}" g.jsonl
        [ "$status" -eq 0 ]
        got=$output
        run pic-update -m "$M/qwen2-tiny" -o h "${SPEC[@]}" "${a#*:}.jsonl"
        [ "$(jq .loss <<<"$got")" = "$(jq .loss <<<"$output")" ]
        [ "$(jq .tokens <<<"$got")" = "$(jq .tokens <<<"$output")" ]
        cmp o/model.safetensors h/model.safetensors
    done
    [ "$(jq .sequences_dropped <<<"$got")" = 1 ]
    # a step without any sample of the class takes no optimizer step
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv nsr pos.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .step <<<"$output")" = 0 ]
    [ "$(jq .sequences <<<"$output")" = 0 ]
    # a record with its own advantage and neither reward nor correct is of
    # its advantage's sign (it was counted negative: PSR dropped it always)
    jq -c 'del(.reward, .correct)' pos.jsonl >own.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv psr own.jsonl
    [ "$(jq .sequences <<<"$output")" = "$(wc -l <own.jsonl)" ]
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --adv nsr own.jsonl
    [ "$(jq .sequences <<<"$output")" = 0 ]
}

@test "AEC with Skywork-OR1's recipe: step 1e-4, cap 0.005, gated on the previous step's entropy" {
    # SkyworkAI/Skywork-OR1 or1_scripts/train/7b_8k.sh: ENTROPY_COEFF=0.0
    # (c_0), DELTA_ENT_COEF=0.0001, MAX_ENT_COEF=0.005, MIN_ENT_COEF=0,
    # TGT_ENTROPY=0.2. The tiny model's entropy is ~2.4.
    s="$U/qwen2-tiny-step.jsonl"
    run pic-update -m "$M/qwen2-tiny" -o s1 "${SPEC[@]}" --aec-target 0.2 "$s"
    # no measurement yet: no bonus; 2.4 > 0.2: c stays at its floor 0
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    [ "$(jq .aec_next_coef <<<"$output")" = 0 ]
    # the previous step measured 2.4 <= 5: the bonus is on (at c = 0), and c
    # rises by 1e-4; next step the bonus is 1e-4
    run pic-update -m s1 -o s2 "${SPEC[@]}" --aec-target 5 "$s"
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    near "$(jq .aec_next_coef <<<"$output")" 1e-4 1e-11
    run pic-update -m s2 -o s3 "${SPEC[@]}" --aec-target 5 "$s"
    near "$(jq .entropy_coef <<<"$output")" 1e-4 1e-11
    near "$(jq .aec_next_coef <<<"$output")" 2e-4 1e-11
    # 2.4 > 0.2 measured: the bonus is off although c = 1e-4, and c falls to 0
    run pic-update -m s2 -o s4 "${SPEC[@]}" --aec-target 0.2 "$s"
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    near "$(jq .aec_next_coef <<<"$output")" 0 1e-11
    # the cap: from 0.005, a rise stays at 0.005
    run pic-update -m "$M/qwen2-tiny" -o c1 "${SPEC[@]}" --aec-target 5 --aec-init 0.005 "$s"
    near "$(jq .aec_next_coef <<<"$output")" 0.005 1e-11
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --aec-target 0.2 --aec-init 0.01 "$s"
    fails_with 2 "--aec-init 0.01 is above --aec-max 0.005"
}

@test "AEC: a step without a response token measures nothing: c_k and the last measurement stay" {
    s="$U/qwen2-tiny-step.jsonl"
    jq -c '.response_ids = [] | .logprobs = []' "$s" >e.jsonl
    # (pictl's controller holds too, docs/pictl.md; an entropy of 0 here raised c and turned the bonus on)
    run pic-update -m "$M/qwen2-tiny" -o s1 "${SPEC[@]}" --aec-target 5 --aec-init 0.001 e.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    near "$(jq .aec_next_coef <<<"$output")" 0.001 1e-9
    # still no measurement: no bonus; this one measures ~2.4 <= 5, so c rises
    run pic-update -m s1 -o s2 "${SPEC[@]}" --aec-target 5 "$s"
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    near "$(jq .aec_next_coef <<<"$output")" 0.0011 1e-9
    # an empty step between: the bonus from the measurement before it, c as it was
    run pic-update -m s2 -o s3 "${SPEC[@]}" --aec-target 5 e.jsonl
    near "$(jq .entropy_coef <<<"$output")" 0.0011 1e-9
    near "$(jq .aec_next_coef <<<"$output")" 0.0011 1e-9
    run pic-update -m s3 -o s4 "${SPEC[@]}" --aec-target 5 "$s"
    near "$(jq .entropy_coef <<<"$output")" 0.0011 1e-9
    near "$(jq .aec_next_coef <<<"$output")" 0.0012 1e-9
}

@test "a step without a response token: its token-means are null, not a measured 0" {
    s="$U/qwen2-tiny-step.jsonl"
    jq -c '.response_ids = [] | .logprobs = []' "$s" >e.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" e.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.tokens, .entropy, .clipfrac_low, .clipfrac_high, .clipfrac_dual, .hi_frac, .approx_kl]' <<<"$output")" = \
      '[0,null,null,null,null,null,null]' ]
    [ "$(jq .loss <<<"$output")" = 0 ]
    # two mini-batches, one of them empty: the line's means are the other's, the empty step's null
    { jq -c '.id = "e" + .id' e.jsonl; cat "$s"; } >mixed.jsonl
    run pic-update -m "$M/qwen2-tiny" -o m "${SPEC[@]}" --mini-batches 2 mixed.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.steps[] | .entropy == null]' <<<"$output")" = '[true,false]' ]
    [ "$(jq '.entropy == .steps[1].entropy and .entropy > 0' <<<"$output")" = true ]
}

@test "an entropy bonus enters the gradient, not only the loss, under AEC too" {
    s="$U/qwen2-tiny-step.jsonl"
    gn() { pic-update -m "$1" -o "$2" "${SPEC[@]}" "${@:3}" "$s" | jq .grad_norm; }
    g0=$(gn "$M/qwen2-tiny" a)
    # the gradient of -C H: a bonus of 1 moves the norm by far more than rounding
    run near "$(gn "$M/qwen2-tiny" b --entropy-coef 1)" "$g0" 1e-3
    [ "$status" -ne 0 ]
    # AEC: c_1 = 0.005 (on after a first step that measured H <= 5)
    pic-update -m "$M/qwen2-tiny" -o c1 "${SPEC[@]}" --lr 0 --aec-target 5 --aec-init 0.005 "$s" >/dev/null
    g1=$(gn c1 c2 --aec-target 5 --aec-max 1)
    pic-update -m "$M/qwen2-tiny" -o z1 "${SPEC[@]}" --lr 0 --aec-target 5 "$s" >/dev/null
    run near "$g1" "$(gn z1 z2 --aec-target 5 --aec-max 1)" 1e-9
    [ "$status" -ne 0 ]
}

@test "AEC and DMMPT at their targets exactly: the bonus is on at H, c_k stays, nothing is masked" {
    # --lr 0: every step sees the same weights, so measures the same entropy H
    s="$U/qwen2-tiny-step.jsonl"
    S=("${SPEC[@]}" --lr 0)
    # before any measurement no bonus, whatever c_0
    run pic-update -m "$M/qwen2-tiny" -o s1 "${S[@]}" --aec-target 5 --aec-init 0.001 "$s"
    [ "$(jq .entropy_coef <<<"$output")" = 0 ]
    near "$(jq .aec_next_coef <<<"$output")" 0.0011 1e-9
    h=$(field entropy "$output") # every digit, as printed
    # H exactly the target: c_k neither rises nor falls
    run pic-update -m s1 -o s2 "${S[@]}" --aec-target "$h" "$s"
    [ "$(field entropy "$output")" = "$h" ]
    near "$(jq .aec_next_coef <<<"$output")" 0.0011 1e-9
    # the gate reads the measurement as optimizer.safetensors keeps it (f32):
    # at or below the target, the bonus is on
    h32=$(python3 -c 'import struct, sys; print(repr(struct.unpack("f", struct.pack("f", float(sys.argv[1])))[0]))' "$h")
    run pic-update -m s1 -o s3 "${S[@]}" --aec-target "$h32" "$s"
    near "$(jq .entropy_coef <<<"$output")" 0.0011 1e-9
    # DMMPT masks while the entropy is below its target, not at it
    jq -c '.advantage = (if .id == "golden-1" then -1 else 1 end)' "$s" >pm.jsonl
    run pic-update -m "$M/qwen2-tiny" -o d "${S[@]}" --dmmpt-target "$h" --mpt-prob 1e-9 pm.jsonl
    [ "$(field entropy "$output")" = "$h" ]
    [ "$(jq .mpt_masking_steps <<<"$output")" = 0 ]
}

@test "Dr. GRPO divides by a constant, the generation budget; DMMPT through the command line" {
    s="$U/qwen2-tiny-step.jsonl"
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --loss-agg seq-mean-token-sum-norm "$s"
    fails_with 2 "needs --norm-len"
    # sum / n_seq / 1000 against sum / n_seq (3 sequences), same tokens and losses
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --loss-agg seq-mean-token-sum-norm --norm-len 1000 "$s"
    a=$(jq .pg_loss <<<"$output")
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --loss-agg seq-mean-token-sum "$s"
    b=$(jq .pg_loss <<<"$output")
    near "$(awk -v a="$a" 'BEGIN { print a * 1000 }')" "$b" "$(awk -v b="$b" 'BEGIN { print (b < 0 ? -b : b) * 1e-6 }')"
    # a mean over the samples, as Dr. GRPO's 1/G: the same samples twice are
    # the same loss (it was twice the loss and the gradient)
    cat "$s" "$s" >s2.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --loss-agg seq-mean-token-sum-norm --norm-len 1000 s2.jsonl
    near "$(jq .pg_loss <<<"$output")" "$a" "$(awk -v a="$a" 'BEGIN { print (a < 0 ? -a : a) * 1e-6 }')"
    # DMMPT: the entropy (~2.4) is below 5, so positive tokens with p >= 1e-9
    # (all of them) are masked; below 0.1 it is not, and nothing is
    jq -c '.advantage = (if .id == "golden-1" then -1 else 1 end)' "$s" >pm.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --dmmpt-target 5 --mpt-prob 1e-9 pm.jsonl
    [ "$(jq .mpt_masking_steps <<<"$output")" = 1 ]
    [ "$(jq .mpt_masked <<<"$output")" = "$(jq -s '[.[] | select(.id != "golden-1") | .response_ids | length] | add' "$s")" ]
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --dmmpt-target 0.1 pm.jsonl
    [ "$(jq .mpt_masking_steps <<<"$output")" = 0 ]
    [ "$(jq .mpt_masked <<<"$output")" = 0 ]
    # with a quadrant mask beside it, each stat counts its own mask's tokens
    # (both said the union): DMMPT the positive samples' tokens, lo-neg
    # (tau 1: every token is low) the negative sample's
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --dmmpt-target 5 --mpt-prob 1e-9 --mask-quadrant lo-neg --tau 1 pm.jsonl
    [ "$(jq .mpt_masked <<<"$output")" = "$(jq -s '[.[] | select(.id != "golden-1") | .response_ids | length] | add' "$s")" ]
    [ "$(jq .quadrant_masked <<<"$output")" = "$(jq -s '[.[] | select(.id == "golden-1") | .response_ids | length] | add' "$s")" ]
}

@test "bad streams get errors naming file, line and field" {
    s="$U/qwen2-tiny-step.jsonl"
    jq -c 'if .id == "golden-1" then del(.logprobs) else . end' "$s" >nolp.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o nolp.jsonl
    fails_with 1 "nolp.jsonl:2: field 'logprobs': missing"
    jq -c '.logprobs |= .[1:]' "$s" >short.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o short.jsonl
    fails_with 1 "short.jsonl:1: field 'logprobs': 10 values for 11 response tokens"
    jq -c 'del(.advantage) | .reward = "nan"' "$s" >nan.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o nan.jsonl
    fails_with 1 "nan.jsonl:1: field 'reward': not a finite number"
    jq -c 'del(.advantage) | .reward = (if .sample == 0 then 1e308 else 0 end)' "$s" >huge.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o huge.jsonl
    fails_with 1 "huge.jsonl:1: field 'reward': 1e\+308: above 1e150 in size"
    # a log-probability just above 0 is no log-probability
    jq -c '.logprobs[0] = 1e-4' "$s" >pos.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o pos.jsonl
    fails_with 1 "pos.jsonl:1: field 'logprobs': element 0: 0.0001 is above 0"
    # the model's context (512) is the most a sample may fill: exactly, it trains
    jq -c 'select(.id == "golden-0") | .prompt_ids = [range(501) | 1]' "$s" >ctx.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" ctx.jsonl
    [ "$status" -eq 0 ]
    rm -rf o
    jq -c '.prompt_ids += [1]' ctx.jsonl >ctx1.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o ctx1.jsonl
    fails_with 1 "ctx1.jsonl:1: field 'response_ids': the prompt's and response's 513 tokens exceed the model's context of 512"
    # Dr. GRPO's r - mean is not divided by a std: below 1e150 but beyond
    # float32's range, it became inf in the loss and the step died of a
    # gradient not finite, naming no record
    jq -c 'del(.advantage) | .id = "g" | .reward = (if (.prompt_ids | length) == 2 then 1e39 else 0 end)' "$s" >drbig.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o --adv-norm none drbig.jsonl
    fails_with 1 "^pic-update: drbig.jsonl:1: field 'reward': its advantage r - mean, 6.66667e\+38, is above 3.40282e\+38 in size"
    run pic-update -m "$M/qwen2-tiny" -o o drbig.jsonl # (divided by the std, it is within float32's range)
    [ "$status" -eq 0 ]
    rm -rf o
    # an advantage is a float32 in the loss: beyond its range, the gradient
    # was not finite and no record was named
    jq -c 'if .id == "golden-1" then .advantage = 1e39 else . end' "$s" >bigadv.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o bigadv.jsonl
    fails_with 1 "^pic-update: bigadv.jsonl:2: field 'advantage': 1e\+39: above 3.40282e\+38 in size"
    jq -c '.advantage = -1e300' "$s" >bigadv.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o bigadv.jsonl
    fails_with 1 "^pic-update: bigadv.jsonl:1: field 'advantage': -1e\+300: above 3.40282e\+38 in size"
    [ ! -e o ]
    sed 's/"advantage":[^,]*/"reward":NaN/' "$s" >nanlit.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o nanlit.jsonl
    fails_with 1 "nanlit.jsonl:1"
    # a raw NUL byte after a number: jansson dropped it and the record trained
    head -1 "$s" | sed 's/"sample":0/"sample":0\x00/' >rawnul.jsonl
    grep -qaP '"sample":0\x00' rawnul.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o rawnul.jsonl
    fails_with 1 "rawnul.jsonl:1: malformed JSON at column [0-9]+: a raw NUL byte"
    # ids compare as C strings: two problems would train as one GRPO group
    jq -c 'del(.advantage) | .reward = 1 | .id = "p\u0000\(.sample)"' "$s" >nulid.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o nulid.jsonl
    fails_with 1 "nulid.jsonl:1: field 'id': contains a NUL character"
    jq -c '.response_ids[0] = 512' "$s" >vocab.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o vocab.jsonl
    fails_with 1 "vocab.jsonl:1: field 'response_ids': element 0 is not a token id"
    # a log-probability above 0 is a probability above 1
    jq -c '.logprobs[2] = 0.5' "$s" >pos.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o pos.jsonl
    fails_with 1 "pos.jsonl:1: field 'logprobs': element 2: 0.5 is above 0"
    # a log-probability that is -inf as a float32: the stats line lost
    # approx_kl and logp_diff_max, silently
    jq -c 'if .id == "golden-2" then .logprobs[3] = -1e308 else . end' "$s" >neginf.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o neginf.jsonl
    fails_with 1 "^pic-update: neginf.jsonl:3: field 'logprobs': element 3: -1e\+308 is below -3.40282e\+38"
    [ ! -e o ]
    # a key given twice: which value would count?
    head -1 "$s" | sed 's/^{/{"logprobs":[0],/' >dup.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o dup.jsonl
    fails_with 1 "dup.jsonl:1: malformed JSON.*duplicate"
    # longer than the model's context (512 positions), as generation refuses
    jq -c '.prompt_ids = [range(502) | 1]' "$s" | head -1 >long.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o long.jsonl
    fails_with 1 "long.jsonl:1: field 'response_ids': the prompt's and response's 513 tokens exceed the model's context of 512"
    { head -1 short.jsonl; echo 'not json'; tail -2 "$s"; } >mixed.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o --skip-bad mixed.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"2 bad records skipped"* ]]
    [ -s o/model.safetensors ]
    : >empty.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o empty.jsonl
    fails_with 1 "^pic-update: empty.jsonl: no samples to train on$"
    printf 'not json\n' >bad.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o --skip-bad empty.jsonl bad.jsonl
    fails_with 1 "^pic-update: empty.jsonl, bad.jsonl: no samples to train on \(1 bad record skipped, --skip-bad\)$"
    run pic-update -m nowhere -o o "$s"
    fails_with 1 "nowhere"
}

@test "--skip-bad: a GRPO group left with one sample by skipped records is dropped, said and counted" {
    # three samples of problem 7; the first and the last are bad, and one of
    # problem 8 (also bad) does not count for 7
    jq -c 'del(.advantage) | .id = 7 | .reward = .response_ids[0] % 2' "$U/qwen2-tiny-step.jsonl" |
        sed '1s/"logprobs":\[/"logprobs":[-1,/; 3s/"prompt_ids":\[/"prompt_ids":[-1,/' >g.jsonl
    head -1 g.jsonl | sed 's/"id":7/"id":8/' >>g.jsonl
    # and a whole group, 9, that trains
    jq -c 'del(.advantage) | .id = 9 | .reward = .response_ids[0] % 2' "$U/qwen2-tiny-step.jsonl" | head -2 >nine.jsonl
    pic-update -m "$M/qwen2-tiny" -o o --clip-high 0.28 --lr 1e-3 --threads 1 --skip-bad g.jsonl nine.jsonl \
        >stats.json 2>err.txt
    grep -qx "pic-update: g.jsonl:2: field 'id': a group of one sample has no GRPO baseline: the other 2 records of id '7' were skipped as bad; dropped (--skip-bad)" err.txt
    grep -qx "pic-update: 3 bad records skipped (--skip-bad)" err.txt
    grep -qx "pic-update: 1 GRPO group dropped, left with one sample by skipped records (--skip-bad)" err.txt
    jq -e '.groups_dropped == 1 and .sequences == 2 and .sequences_dropped == null' stats.json
    [ -s o/model.safetensors ]
    # the step is group 9's alone
    pic-update -m "$M/qwen2-tiny" -o nine --clip-high 0.28 --lr 1e-3 --threads 1 -q nine.jsonl >nine.json
    cmp o/model.safetensors nine/model.safetensors
    # a group that keeps two samples has its baseline: a skipped member drops nothing
    head -1 g.jsonl | sed 's/"id":7/"id":9/' >bad9.jsonl
    pic-update -m "$M/qwen2-tiny" -o o2 --clip-high 0.28 --lr 1e-3 --threads 1 -q --skip-bad nine.jsonl bad9.jsonl >two.json
    jq -e '.groups_dropped == null and .sequences == 2' two.json
    cmp o2/model.safetensors nine/model.safetensors
    # every group dropped: no samples, as when every record is bad
    run pic-update -m "$M/qwen2-tiny" -o x "${SPEC[@]}" --skip-bad g.jsonl
    [ "$status" -eq 1 ]
    [[ "${lines[0]}" == "pic-update: g.jsonl:2: field 'id': a group of one sample has no GRPO baseline: the other 2 records of id '7' were skipped as bad; dropped (--skip-bad)" ]]
    [[ "${lines[1]}" == "pic-update: g.jsonl: no samples to train on (3 bad records skipped, --skip-bad)" ]]
    [ ! -e x ]
    # a string id, one record skipped
    sed -n '1,2p' g.jsonl | sed 's/"id":7/"id":"p\/1"/' >h.jsonl
    run pic-update -m "$M/qwen2-tiny" -o x "${SPEC[@]}" --skip-bad h.jsonl nine.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"h.jsonl:2: field 'id': a group of one sample has no GRPO baseline: the other 1 record of id 'p/1' was skipped as bad; dropped"* ]]
    # a group of one from the start is no skipped record's doing: still an error
    sed -n 2p g.jsonl | sed 's/"id":7/"id":5/' >five.jsonl
    run pic-update -m "$M/qwen2-tiny" -o y "${SPEC[@]}" --skip-bad g.jsonl five.jsonl nine.jsonl
    fails_with 1 "^pic-update: five.jsonl:1: field 'id': a group of one sample has no GRPO baseline$"
    [ ! -e y ]
    # without --skip-bad the first bad record is the error, as before
    run pic-update -m "$M/qwen2-tiny" -o y "${SPEC[@]}" g.jsonl
    fails_with 1 "^pic-update: g.jsonl:1: field 'logprobs'"
    sed -n 2p g.jsonl >one.jsonl
    run pic-update -m "$M/qwen2-tiny" -o y "${SPEC[@]}" one.jsonl nine.jsonl
    fails_with 1 "^pic-update: one.jsonl:1: field 'id': a group of one sample has no GRPO baseline$"
    [ ! -e y ]
}

@test "temperature: greedy's 0 is T = 1; --temperature overrides every record's; SFT uses 1" {
    # pic-rollout -t 0 records "temperature": 0 and its numbers at T = 1
    # (docs/rollout.md): on-policy, exactly, and the same step as records of 1
    printf '{"id":1,"problem":"2+2","answer":"4"}\n' |
        pic-rollout -m "$M/qwen2-tiny" -t 0 -n 2 --max-new-tokens 8 -q --plain | pic-reward -q --plain >g.jsonl
    [ "$(jq -s '[.[].temperature] | unique' -c g.jsonl)" = "[0]" ]
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" g.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .logp_diff_max <<<"$output")" = 0 ]
    h1=$(jq .entropy <<<"$output")
    jq -c '.temperature = 1' g.jsonl >one.jsonl
    run pic-update -m "$M/qwen2-tiny" -o one "${SPEC[@]}" one.jsonl
    [ "$(jq .entropy <<<"$output")" = "$h1" ]
    cmp o/model.safetensors one/model.safetensors
    # records that disagree need --temperature, which then overrides them all
    jq -c '.temperature = (if .sample == 0 then 0.7 else 0.5 end)' g.jsonl >mixed.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" mixed.jsonl
    fails_with 1 "mixed.jsonl:2: field 'temperature': 0.5 differs from the 0.7 .*give --temperature"
    jq -c '.temperature = 0.6' g.jsonl >six.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" six.jsonl
    h6=$(jq .entropy <<<"$output")
    [ "$h6" != "$h1" ]
    for f in mixed g; do
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --temperature 0.6 $f.jsonl
        [ "$status" -eq 0 ]
        [ "$(jq .entropy <<<"$output")" = "$h6" ]
    done
    # --temperature takes what a record may carry: up to 1e6, as pic-rollout
    jq -c '.temperature = 5000' g.jsonl >hot.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" hot.jsonl
    h5k=$(jq .entropy <<<"$output")
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --temperature 5000 g.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .entropy <<<"$output")" = "$h5k" ]
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --temperature 2e6 g.jsonl
    fails_with 2 "--temperature"
    # --skip-bad: the records that differ from most records are the bad ones;
    # a stray first record made every record after it bad (and here its
    # group one sample: no samples to train on)
    { jq -c '.temperature = 0.5' g.jsonl | head -n 1; cat six.jsonl; } >stray.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o --clip-high 0.28 --lr 1e-3 --threads 1 --skip-bad stray.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"pic-update: 1 bad record skipped"* ]]
    [ "$(jq .entropy <<<"${lines[0]}")" = "$h6" ]
    [ "$(jq .sequences <<<"${lines[0]}")" = 2 ]
    # ... and when two values are as common, nothing tells the stray ones
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --skip-bad mixed.jsonl
    fails_with 1 "^pic-update: mixed.jsonl:1: field 'temperature': 0.7 is as common as 0.5 \(1 record each\)"
    # SFT trains at T = 1 whatever the records say
    for f in g mixed six; do
        run pic-update -m "$M/qwen2-tiny" -o o "${BASE[@]}" --loss sft $f.jsonl
        [ "$status" -eq 0 ]
        [ "$(jq .entropy <<<"$output")" = "$h1" ]
    done
    jq -c '.temperature = -1' g.jsonl >neg.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" --temperature 0.6 neg.jsonl
    fails_with 1 "neg.jsonl:1: field 'temperature': -1: expected 0 \(greedy\) or a number from 0.001 to 1e6"
    jq -c '.temperature = "hot"' g.jsonl >str.jsonl
    run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" str.jsonl
    fails_with 1 "str.jsonl:1: field 'temperature': not a number"
    # pic-rollout's range: a float 0 below 1e-46, an infinite T above float's
    for t in 1e-50 1e-4 1e39; do
        jq -c ".temperature = $t" g.jsonl >odd.jsonl
        run pic-update -m "$M/qwen2-tiny" -o o "${SPEC[@]}" odd.jsonl
        fails_with 1 "odd.jsonl:1: field 'temperature': .*expected 0 \(greedy\) or a number from 0.001 to 1e6"
    done
}

@test "a checkpoint without tokenizer.json trains on, with a warning naming it" {
    s="$U/qwen2-tiny-step.jsonl"
    mkdir notok
    cp "$M/qwen2-tiny/config.json" "$M/qwen2-tiny/model.safetensors" notok/
    run pic-update -m notok -o next "${SPEC[@]}" "$s"
    [ "$status" -eq 0 ]
    [[ "$output" == *"pic-update: notok has no tokenizer.json, so neither has next: pic-rollout cannot load it"* ]]
    [ -s next/model.safetensors ]
    [ ! -e next/tokenizer.json ]
    run pic-update -m "$M/qwen2-tiny" -o next "${SPEC[@]}" "$s"
    [ "$status" -eq 0 ]
    [[ "$output" != *tokenizer* ]]
    cmp "$M/qwen2-tiny/tokenizer.json" next/tokenizer.json
}

@test "every tokenizer file transformers reads is carried to the checkpoint, byte for byte" {
    # AutoTokenizer.from_pretrained reads these beside tokenizer.json: a
    # slow tokenizer's vocabulary (tokenizer.model for Llama and Mistral,
    # vocab.json and merges.txt for Qwen2) and the legacy added_tokens.json
    mkdir in
    cp "$M/qwen2-tiny/config.json" "$M/qwen2-tiny/model.safetensors" "$M/qwen2-tiny/tokenizer.json" in/
    files=(tokenizer_config.json special_tokens_map.json generation_config.json chat_template.jinja vocab.json
        merges.txt added_tokens.json tokenizer.model)
    for f in "${files[@]}"; do printf '{"%s": 1}\n' "$f" >"in/$f"; done
    printf 'not a tokenizer file\n' >in/README.md
    pic-update -m in -o next "${SPEC[@]}" "$U/qwen2-tiny-step.jsonl" >/dev/null
    for f in config.json tokenizer.json "${files[@]}"; do cmp "in/$f" "next/$f"; done
    [ ! -e next/README.md ]
}

@test "optimizer state of another shape than its parameter's, with as many values, is refused naming the tensor" {
    s="$U/qwen2-tiny-step.jsonl"
    pic-update -m "$M/qwen2-tiny" -o ck "${SPEC[@]}" "$s" >/dev/null
    pic-update -m ck -o next "${SPEC[@]}" "$s" >/dev/null # as written, it resumes
    w=model.layers.0.mlp.down_proj.weight
    # [64, 176] stored as [176, 64]: each moment would land on another weight
    cp -r ck tr
    st_edit tr/optimizer.safetensors ".[\"v.$w\"].shape |= reverse"
    run pic-update -m tr -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: tr/optimizer.safetensors: tensor 'v.$w' is F32 \[176, 64\]; the model needs F32 \[64, 176\]"
    [ ! -e next2 ]
    # a vector stored as a matrix of its values
    cp -r ck sq
    st_edit sq/optimizer.safetensors '.["m.model.norm.weight"].shape = [8, 8]'
    run pic-update -m sq -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "tensor 'm.model.norm.weight' is F32 \[8, 8\]; the model needs F32 \[64\]"
    # a tensor of no parameter (here a third layer's, as a deeper model of
    # the same width has): the file is another model's, whose other moments
    # fitted by shape and were taken
    cp -r ck deep
    n=$(head -c 8 deep/optimizer.safetensors | od -An -tu8 | tr -d ' ')
    end=$(($(stat -c %s deep/optimizer.safetensors) - 8 - n))
    x=m.model.layers.2.input_layernorm.weight
    st_edit deep/optimizer.safetensors ".[\"$x\"] = {dtype: \"F32\", shape: [64], data_offsets: [$end, $end + 256]}"
    head -c 256 /dev/zero >> deep/optimizer.safetensors
    run pic-update -m deep -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: deep/optimizer.safetensors: tensor '$x' is the state of no parameter of the model"
    [ ! -e next2 ]
    # a negative second moment (a corrupt file): AdamW's sqrt made a NaN
    # weight, written into next2 with exit 0
    cp -r ck neg
    n=$(head -c 8 neg/optimizer.safetensors | od -An -tu8 | tr -d ' ')
    at=$((8 + n + $(head -c $((8 + n)) neg/optimizer.safetensors | tail -c +9 | jq ".[\"v.$w\"].data_offsets[0] + 8")))
    printf '\x00\x00\x80\xbf' | dd of=neg/optimizer.safetensors bs=1 seek="$at" conv=notrunc status=none
    run pic-update -m neg -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: neg/optimizer.safetensors: tensor 'v.$w': element 2 is -1; a second moment is at least 0"
    [ ! -e next2 ]
    # a second moment missing: refused, not resumed with v reset
    cp -r ck nov
    st_edit nov/optimizer.safetensors "with_entries(if .key == \"v.$w\" then .key = \"x.$w\" else . end)"
    run pic-update -m nov -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: nov/optimizer.safetensors: tensor 'v.$w' is missing"
    # an f32 checkpoint's weights are its master weights: none written twice
    n=$(head -c 8 ck/optimizer.safetensors | od -An -tu8 | tr -d ' ')
    head -c $((8 + n)) ck/optimizer.safetensors | tail -c +9 | jq -e 'has("step") and (keys | map(select(startswith("master."))) | length) == 0'
    # step is the file's last 4 bytes: 1.5 is not a step count
    [ "$(head -c $((8 + n)) ck/optimizer.safetensors | tail -c +9 | jq '.step.data_offsets[1] + 8')" -eq $(($(stat -c %s ck/optimizer.safetensors) - n)) ]
    cp -r ck half
    printf '\x00\x00\xc0\x3f' | dd of=half/optimizer.safetensors bs=1 seek=$(($(stat -c %s ck/optimizer.safetensors) - 4)) conv=notrunc status=none
    run pic-update -m half -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: half/optimizer.safetensors: tensor 'step' is 1.5, not a step count"
    # a NaN step, a step of another dtype or of two numbers: each error says which
    cp -r ck nan
    printf '\x00\x00\xc0\x7f' | dd of=nan/optimizer.safetensors bs=1 seek=$(($(stat -c %s ck/optimizer.safetensors) - 4)) conv=notrunc status=none
    run pic-update -m nan -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: nan/optimizer.safetensors: tensor 'step': element 0 is NaN$"
    cp -r ck int
    st_edit int/optimizer.safetensors '.step.dtype = "I32"'
    run pic-update -m int -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: int/optimizer.safetensors: tensor 'step': dtype I32 is not a float type \(F32, BF16, F16\)$"
    cp -r ck pair
    truncate -s +4 pair/optimizer.safetensors
    st_edit pair/optimizer.safetensors '.step |= (.shape = [2] | .data_offsets[1] += 4)'
    run pic-update -m pair -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: pair/optimizer.safetensors: tensor 'step' holds 2 numbers, not one$"
    [ ! -e next2 ]
    # and without it the file is refused, not read as step 0
    cp -r ck nostep
    truncate -s -4 nostep/optimizer.safetensors
    st_edit nostep/optimizer.safetensors 'del(.step)'
    run pic-update -m nostep -o next2 "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: nostep/optimizer.safetensors: tensor 'step' is missing"
    [ ! -e next2 ]
    # --reset-optimizer does not read it
    pic-update -m tr -o next2 "${SPEC[@]}" --reset-optimizer "$s" >/dev/null
}

@test "--save-grads inside the checkpoint written is refused before the step: that folder is replaced whole" {
    s="$U/qwen2-tiny-step.jsonl"
    pic-update -m "$M/qwen2-tiny" -o ck "${SPEC[@]}" "$s" >/dev/null
    cp -r ck ck0
    # the file went into the old ck, then away with it, and the run said nothing (exit 0)
    for g in ck/grads.safetensors ./ck/../ck/g; do
        run pic-update -m ck -o ck/ "${SPEC[@]}" --save-grads "$g" "$s"
        fails_with 1 "^pic-update: $g: the gradients' file is inside ck/, the checkpoint written whole"
        same_ckpt ck0 ck
        [ ! -e "$g" ]
    done
    run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < <(request "$s" ck '"save_grads": "ck/g"')
    fails_with 1 "^pic-update: ck/g: the gradients' file is inside ck, "
    same_ckpt ck0 ck
    # beside it, it stays
    pic-update -m ck -o ck "${SPEC[@]}" --save-grads ck.grads "$s" >/dev/null
    [ -s ck.grads ]
}

@test "a tokenizer pic-rollout would refuse is refused before the step, naming its file" {
    s="$U/qwen2-tiny-step.jsonl"
    # a truncated tokenizer.json was copied into the new checkpoint as it was
    cp -r "$M/qwen2-tiny" cut
    head -c 300 "$M/qwen2-tiny/tokenizer.json" >cut/tokenizer.json
    run pic-update -m cut -o next "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: cut/tokenizer.json:[0-9]+:[0-9]+: malformed JSON"
    [ ! -e next ]
    # well-formed JSON the loader refuses: an id past the ids the file describes
    cp -r "$M/qwen2-tiny" far
    jq '.model.vocab["zz"] = 100000' "$M/qwen2-tiny/tokenizer.json" >far/tokenizer.json
    run pic-update -m far -o next "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: far/tokenizer.json: field 'model.vocab'"
    [ ! -e next ]
    # and before the samples are read: a bad stream is not the first complaint
    run pic-update -m cut -o next "${SPEC[@]}" /dev/null
    fails_with 1 "^pic-update: cut/tokenizer.json"
}

@test "--max-shard-size: weights beyond it in shards with an index, as transformers writes them" {
    s="$U/qwen2-tiny-step.jsonl"
    pic-update -m "$M/qwen2-tiny" -o one "${SPEC[@]}" "$s" >/dev/null
    [ -f one/model.safetensors ]
    # one file has an index too, naming it for every tensor: vLLM and SGLang
    # load every *.safetensors of a folder without one (optimizer.safetensors
    # too, whose m.*, v.* and step no model takes) and filter by the index
    jq -e '(.weight_map | length) > 0 and ([.weight_map[]] | unique) == ["model.safetensors"]
        and .metadata.total_size > 0' one/model.safetensors.index.json
    [ -f one/optimizer.safetensors ]
    pic-update -m "$M/qwen2-tiny" -o sh "${SPEC[@]}" --max-shard-size 100KB "$s" >/dev/null
    [ ! -e sh/model.safetensors ]
    n=$(ls sh/model-*-of-*.safetensors | wc -l)
    [ "$n" -gt 1 ]
    [ -f "sh/model-00001-of-$(printf %05d "$n").safetensors" ]
    # every shard within the limit unless one tensor alone is larger; the index names them all
    jq -e '.metadata.total_size > 0 and (.weight_map | length) > 0' sh/model.safetensors.index.json
    [ "$(jq -r '.weight_map[]' sh/model.safetensors.index.json | sort -u | wc -l)" -eq "$n" ]
    # the same weights: scored alike, and the sharded checkpoint trains on
    printf '{"prompt_ids":[1,2,3],"response_ids":[4,5,6]}\n' >in.jsonl
    cmp <(pic-rollout --score -m one --plain in.jsonl) <(pic-rollout --score -m sh --plain in.jsonl)
    pic-update -m sh -o sh "${SPEC[@]}" --lr 0 "$s" >/dev/null
    [ -f sh/model.safetensors ]
    [ -z "$(ls sh/model-*-of-*.safetensors 2>/dev/null)" ]
    [ "$(jq -r '[.weight_map[]] | unique | join(" ")' sh/model.safetensors.index.json)" = model.safetensors ]
    # a bad size is quoted as typed, suffix and all (10TB was '10T')
    for v in 5XB 10TB 5.5GB.; do
        run pic-update -m "$M/qwen2-tiny" -o x --max-shard-size "$v" "$s"
        fails_with 2 "^pic-update: --max-shard-size: '$v' is not "
    done
    run pic-update -m "$M/qwen2-tiny" -o x --max-shard-size 2000000GB "$s"
    fails_with 2 "^pic-update: --max-shard-size: 2000000GB is outside \[1, 1e15\] bytes"
    [ ! -e x ]
}

# request FILE OUTPUT [EXTRA JSON FIELDS]: one --serve request line
request() { printf '{"samples": "%s", "output": "%s"%s}\n' "$1" "$2" "${3:+, $3}"; }

@test "--serve: a step a request, each checkpoint pic-update's one step at a time, bit for bit" {
    s="$U/qwen2-tiny-step.jsonl"
    S0=("${SPEC[@]}" --tau "$(tau qwen2-tiny)" --mini-batches 2)
    S=("${S0[@]}" --alpha 0.1)
    ctl="pictl --state ctl.json --target 1.5"
    # one process a step, as train.sh has run them: alpha as given, then a
    # controller inside the step, then gradients saved
    pic-update -m "$M/qwen2-tiny" -o a1 "${S[@]}" "$s" > a.jsonl
    pic-update -m a1 -o a2 "${S[@]}" --alpha 0.4 "$s" >> a.jsonl
    rm -f ctl.json
    pic-update -m a2 -o a3 "${S0[@]}" --alpha-cmd "$ctl" "$s" >> a.jsonl
    cp ctl.json ctl-a.json
    pic-update -m a3 -o a4 "${S[@]}" --save-grads ga.safetensors "$s" >> a.jsonl
    # one process for all, the optimizer state in memory; b2 and b4 ask for
    # the weights alone (b4, the last, gets its state at the end all the same)
    rm -f ctl.json
    { request "$s" b1
      request "$s" b2 '"alpha": 0.4, "state": false'
      echo
      request "$s" b3 "\"alpha_cmd\": \"$ctl\""
      request "$s" b4 '"save_grads": "gb.safetensors", "state": false'
    } > requests
    pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < requests > b.jsonl
    cmp ctl.json ctl-a.json
    [ "$(wc -l < b.jsonl)" -eq 4 ]
    [ "$(jq -c '[.step, .optimizer_state]' b.jsonl | tr -d '\n')" = "[2,true][4,false][6,true][8,false]" ]
    # the same stats but for the clocks
    strip='del(.seconds, .load_seconds, .save_seconds, .tokens_per_s, .optimizer_state)'
    cmp <(jq -c "$strip" a.jsonl) <(jq -c "$strip" b.jsonl)
    for i in 1 2 3 4; do cmp "a$i/model.safetensors" "b$i/model.safetensors"; done
    for i in 1 3 4; do cmp "a$i/optimizer.safetensors" "b$i/optimizer.safetensors"; done
    cmp ga.safetensors gb.safetensors
    cmp "$M/qwen2-tiny/tokenizer.json" b2/tokenizer.json
    # the weights alone: rollout loads them, training refuses to resume from them
    [ ! -e b2/optimizer.safetensors ]
    [ -f b2/optimizer-not-saved.json ]
    printf '{"prompt_ids":[1,2,3],"response_ids":[4,5,6]}\n' > in.jsonl
    cmp <(pic-rollout --score -m a2 --plain in.jsonl) <(pic-rollout --score -m b2 --plain in.jsonl)
    run pic-update -m b2 -o c "${SPEC[@]}" "$s"
    fails_with 1 "^pic-update: b2: a checkpoint written without its optimizer state .*--reset-optimizer"
    [ ! -e c ]
    pic-update -m b2 -o c "${SPEC[@]}" --reset-optimizer "$s" > /dev/null
    [ -f c/optimizer.safetensors ]
    [ ! -e c/optimizer-not-saved.json ]
    # AEC's coefficient carries between requests as a checkpoint carries it
    # (f32): 3e-4 steps are not exact there, and the next steps saw the difference
    A=("${SPEC[@]}" --aec-target 10 --aec-delta 3e-4)
    pic-update -m "$M/qwen2-tiny" -o e1 "${A[@]}" "$s" > e.jsonl
    for i in 2 3 4; do pic-update -m "e$((i - 1))" -o "e$i" "${A[@]}" "$s" >> e.jsonl; done
    for i in 1 2 3 4; do request "$s" "f$i" '"state": false'; done | pic-update -m "$M/qwen2-tiny" --serve "${A[@]}" > f.jsonl
    cmp <(jq -c "$strip" e.jsonl) <(jq -c "$strip" f.jsonl)
    cmp e4/model.safetensors f4/model.safetensors
    cmp e4/optimizer.safetensors f4/optimizer.safetensors
    # CRLF line ends, a blank line, a last line without its newline
    printf '%s\r\n \n%s' "$(request "$s" g1)" "$(request "$s" g2)" | pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" > g.jsonl
    [ "$(jq -c .step g.jsonl | tr -d '\n')" = 12 ]
    [ -f g2/optimizer.safetensors ]
    # no request, no step: nothing written, exit 0
    run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < /dev/null
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "--serve: a stop signal saves AdamW's state with the last checkpoint, gives up a step not yet taken, then dies of the signal" {
    s="$U/qwen2-tiny-step.jsonl"
    S=(--clip-high 0.28 --lr 1e-3 --threads 1 --micro-tokens 20 --mini-batches 3) # not -q: its messages are checked
    answer='while read -r e; do echo 0.1; done' # a controller that says 0.1
    # what the server's checkpoints must be: served to the end of its input
    { request "$s" r1 '"state": false'; request "$s" r2 "\"alpha_cmd\": \"$answer\""; } |
        pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" > /dev/null
    request "$s" r0 | pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" > /dev/null # r1, with its state
    # waiting for a request, the weights-only checkpoint just written gets
    # its state; the server dies of the signal (a background job ignores
    # SIGINT: given its default, as from a terminal)
    for sig in TERM INT HUP; do
        rm -rf b1 req out.jsonl && mkfifo req
        env --default-signal=INT pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < req > out.jsonl 2> err &
        pid=$!
        exec 7> req
        request "$s" b1 '"state": false' >&7
        while [ ! -s out.jsonl ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        [ -f b1/optimizer-not-saved.json ]
        kill "-$sig" "$pid"
        st=0 && wait "$pid" || st=$?
        exec 7>&-
        [ "$st" -eq $((128 + $(kill -l "$sig"))) ]
        grep -q "^pic-update: SIG$sig: b1 written again with its optimizer state" err
        same_ckpt r0 b1
        [ ! -e b1/optimizer-not-saved.json ]
    done
    # a signal in a step before its first optimizer step (the controller
    # sends it when first asked, after the first micro-batches): the step
    # is given up, its checkpoint never written, and the one before gets
    # its state; the requests after it are not read. A second SIGTERM (the
    # group's and train.sh's) changes nothing.
    kill_first="kill -TERM \$PPID; sleep 0.1; kill -TERM \$PPID; $answer"
    rm -rf b1 && run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'
        request "$s" b2 "\"alpha_cmd\": \"$kill_first\""; request "$s" b3)
    [ "$status" -eq 143 ]
    [ "$(grep -c '^{' <<<"$output")" -eq 1 ]
    [[ "$output" == *"SIGTERM: the step of the request on line 2 given up (b2 not written); the controller (--alpha-cmd) already took this step's entropy"* ]]
    same_ckpt r0 b1
    [ ! -e b2 ]
    [ ! -e b3 ]
    [ -z "$(find . -name '*.tmp*')" ]
    # a SIGTERM to the process group (scancel) ends the controller too: the
    # step it could not answer is given up all the same
    kill_both="kill -TERM \$PPID \$\$"
    rm -rf b1 && run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'
        request "$s" b2 "\"alpha_cmd\": \"$kill_both\"")
    [ "$status" -eq 143 ]
    [[ "$output" == *"SIGTERM: the step of the request on line 2 given up (b2 not written)"* ]]
    [[ "$output" != *"already took"* ]] # (it never answered)
    same_ckpt r0 b1
    [ ! -e b2 ]
    # after its first optimizer step the request is taken to its end (its
    # weights have moved): its checkpoint is written, with its state
    kill_second="read -r e; echo 0.1; read -r e; kill -TERM \$PPID; echo 0.1; $answer"
    rm -rf b1 b2 && run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'
        request "$s" b2 "\"alpha_cmd\": \"$kill_second\""; request "$s" b3)
    [ "$status" -eq 143 ]
    [ "$(grep -c '^{' <<<"$output")" -eq 2 ]
    [[ "$output" == *"SIGTERM: stopped; the last checkpoint, with its state: b2"* ]]
    same_ckpt r2 b2
    [ -f b1/optimizer-not-saved.json ]
    [ ! -e b3 ]
}

@test "--serve: a failed request still gives the last checkpoint its state, when the weights are still its own" {
    s="$U/qwen2-tiny-step.jsonl"
    S=(--clip-high 0.28 --lr 1e-3 --threads 1 --micro-tokens 20 --mini-batches 3) # not -q: its messages are checked
    request "$s" r0 | pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" > /dev/null # b1, with its state
    # a missing samples file, a bad record in one (its message went out
    # without the hook that saves the state), a bad request, an output or
    # gradients' file in a folder that is not there or a gradients' file
    # that is a folder (each found when written, after the step): the step
    # had not begun
    head -c 100 "$s" > cut.jsonl
    mkdir -p adir
    for bad in "$(request nothere o)" "$(request cut.jsonl o)" '{"samples": "x"' "$(request "$s" nodir/o)" \
        "$(request "$s" o '"save_grads": "nodir/g"')" "$(request "$s" o '"save_grads": "adir"')"; do
        rm -rf b1
        run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'; printf '%s\n' "$bad")
        [ "$status" -eq 1 ]
        [[ "$output" == *"b1 written again with its optimizer state before the exit"* ]]
        same_ckpt r0 b1
        [ ! -e b1/optimizer-not-saved.json ]
        [ ! -e o ]
        [ -z "$(find . -name '*.tmp*')" ]
    done
    # an answer that cannot be written (a full disk; a driver gone, whose
    # closed pipe killed the server with SIGPIPE) fails after b1 is in
    # place, with the weights still its own: it gets its state all the same
    rm -rf b1
    st=0 && pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false') \
        > /dev/full 2> err || st=$?
    [ "$st" -eq 1 ]
    grep -q "^pic-update: standard output (/dev/full): write error: No space left on device" err
    grep -q "b1 written again with its optimizer state before the exit" err
    same_ckpt r0 b1
    rm -rf b1
    # (the request comes once the reader is gone)
    pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(sleep 0.5; request "$s" b1 '"state": false'; sleep 1) \
        2> err | true
    [ "${PIPESTATUS[0]}" -eq 1 ]
    grep -q "^pic-update: standard output (a pipe): write error: Broken pipe" err
    same_ckpt r0 b1
    # a controller that fails in the step's second mini-batch, after its
    # first optimizer step moved the weights: b1 cannot get this state, and
    # the server says so
    rm -rf b1
    run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'
        request "$s" b2 '"alpha_cmd": "read -r e; echo 0.1"')
    [ "$status" -eq 1 ]
    [[ "$output" == *"b1 keeps no optimizer state (the failed step had changed the weights): resume from it with --reset-optimizer"* ]]
    [ -f b1/optimizer-not-saved.json ]
    [ ! -e b2 ]
}

@test "--serve: a step that dies of a non-finite gradient leaves AEC's coefficient as the last checkpoint had it" {
    # the step measured its entropy and moved AEC's coefficient before it
    # found its gradient not finite: the last checkpoint, written again with
    # its state, took that coefficient and entropy from a step never taken
    s="$U/qwen2-tiny-step.jsonl"
    jq -c '.advantage = 1e38' "$s" >big.jsonl # overflows the gradient of a token sum
    S=(--clip-high 0.28 --lr 1e-3 --threads 1 --loss-agg seq-mean-token-sum --aec-target 100 --aec-init 0.001)
    request "$s" r0 | pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" >/dev/null 2>&1
    run pic-update -m "$M/qwen2-tiny" --serve "${S[@]}" < <(request "$s" b1 '"state": false'; request big.jsonl b2)
    [ "$status" -eq 1 ]
    [[ "$output" == *"the gradient is not finite"* ]]
    [[ "$output" == *"b1 written again with its optimizer state before the exit"* ]]
    same_ckpt r0 b1
    [ ! -e b2 ]
}

@test "--serve: a bad request ends the server naming its line and field; the steps before it stay" {
    s="$U/qwen2-tiny-step.jsonl"
    while IFS='|' read -r line msg; do
        rm -rf ok
        run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < <(request "$s" ok; printf '%s\n' "${line//@S/$s}")
        fails_with 1 "^pic-update: standard input, request on line 2: $msg"
        [ -f ok/optimizer.safetensors ]
        [ "$(grep -c '^{' <<<"$output")" -eq 1 ] # ok's stats line came out
    done <<'EOF2'
{"samples": "@S"|malformed JSON
[1, 2]|expected a JSON object
{"output": "o"|malformed JSON
{"output": "o"}|field 'samples': missing
{"samples": "@S"}|field 'output': missing
{"samples": [], "output": "o"}|field 'samples': expected a file name or a non-empty array
{"samples": "@S", "output": "o", "ouput": "p"}|field 'ouput': not a request field
{"samples": "@S", "output": "o", "alpha": 0.1, "alpha_cmd": "pictl"}|field 'alpha_cmd': alpha and alpha_cmd exclude
{"samples": "-", "output": "o"}|field 'samples': '-' is standard input
{"samples": "@S", "output": "o", "state": 1}|field 'state': expected true or false
{"samples": "@S", "output": "o", "alpha": "big"}|field 'alpha': expected a number
{"samples": "@S", "output": "o", "alpha": 2000}|field 'alpha': expected a number in \[-1000, 1000\]
{"samples": "@S", "output": "o", "output": "p"}|malformed JSON
{"samples": "@S", "output": ""}|field 'output': expected a non-empty string
EOF2
    # CRLF line ends: a request's '\r' and a blank line's are line end, not text
    run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < <(request "$s" ok | sed 's/$/\r/'; printf '\r\n')
    [ "$status" -eq 0 ]
    # a sample file that is not there, or holds a bad record, as pic-update says it
    run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < <(request "$s" ok; request nothere o)
    fails_with 1 "^pic-update: nothere: "
    head -c 100 "$s" > cut.jsonl
    run pic-update -m "$M/qwen2-tiny" --serve "${SPEC[@]}" < <(request "$s" ok; request cut.jsonl o)
    fails_with 1 "^pic-update: cut.jsonl:1: "
    [ ! -e o ]
    # what --serve takes from its requests is not on its command line
    run pic-update -m "$M/qwen2-tiny" --serve -o x < /dev/null
    fails_with 2 "--serve takes each checkpoint's DIR from its request"
    run pic-update -m "$M/qwen2-tiny" --serve "$s" < /dev/null
    fails_with 2 "--serve reads the samples' FILEs from its requests"
    run pic-update -m "$M/qwen2-tiny" --serve --save-grads g < /dev/null
    fails_with 2 "--serve takes --save-grads from a request"
    run pic-update -m "$M/qwen2-tiny" --serve --loss sft < <(request "$s" o '"alpha": 1')
    fails_with 1 "field 'alpha': --loss sft takes no alpha"
}
