#!/usr/bin/env bats
# pic-rollout --score against transformers' log-probs and entropies.
load helpers

M="$FIXTURES/models"

# every logprob within max(1e-5, 1.5e-6 |ref|) of expect_logprobs (see
# docs/model.md: the oracle's own float32 noise), every entropy within
# expect_entropy_tol, the bound its logits' rounding gives (derive_score.py)
agrees() {
    local n
    n=$(jq -s '[.[] | (.response_ids | length)] | add' "$1")
    jq -r '[.logprobs, .expect_logprobs] | transpose[] | @tsv' "$1" |
        awk -v n="$n" '{ d = $1 - $2; if (d < 0) d = -d; r = ($2 < 0 ? -$2 : $2) * 1.5e-6;
                          if (d > (r > 1e-5 ? r : 1e-5)) { print "logprob " $1 " vs " $2; bad = 1 } c++ }
                        END { if (c != n) { print c " log-probs for " n " response tokens"; bad = 1 } exit bad }'
    jq -r '[.entropy, .expect_entropy, .expect_entropy_tol] | transpose[] | @tsv' "$1" |
        awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > $3) { print "entropy " $1 " vs " $2 " (tol " $3 ")"; bad = 1 } } END { exit bad }'
}

@test "qwen2-tiny (fp32, tied, q/k/v bias): log-probs and entropies equal transformers'" {
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q "$M/derived/score_qwen2-tiny.jsonl" >out
    [ "$(wc -l <out)" -eq 3 ]
    agrees out
}

@test "qwen3-tiny (bf16, q/k norm) and llama-tiny (sharded, llama3 RoPE)" {
    for m in qwen3-tiny llama-tiny; do
        pic-rollout --score -m "$M/$m" --plain -q "$M/derived/score_$m.jsonl" >out
        agrees out
    done
}

@test "dynamic NTK RoPE: inside max_position_embeddings transformers keeps the default frequencies, so the same log-probs" {
    cp -r "$M/qwen2-tiny" d && chmod -R u+w d
    jq '.rope_scaling = {"type": "dynamic", "factor": 1.6756756756756757}' "$M/qwen2-tiny/config.json" >d/config.json
    pic-rollout --score -m d --plain -q "$M/derived/score_qwen2-tiny.jsonl" >out
    agrees out
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q "$M/derived/score_qwen2-tiny.jsonl" >ref
    cmp out ref
}

# ref NAME CONFIG [DTYPE]: a model of config.json CONFIG (vocabulary 64)
# with tests/model_ref.py's random weights, scored on records, against
# model_ref.py's forward pass of transformers' code (1e-4 relative)
ref() {
    mkdir "$1"
    echo "$2" >"$1/config.json"
    python3 "$PIC_ROOT/tests/model_ref.py" weights "$1" 7 "${3:-F32}"
    pic-rollout --score -m "$1" --plain -q records >"$1.scored"
    python3 "$PIC_ROOT/tests/model_ref.py" check "$1" "$1.scored"
}

records() {
    printf '%s\n' '{"prompt_ids":[1,5,9,33,2],"response_ids":[7,60,12,3,41],"temperature":0.7}' \
        '{"prompt_ids":[63,0,17],"response_ids":[22,22,8,50,31,19,4],"temperature":1.3}' >records
    # 50 positions: RoPE's scalings differ from the default's well before 64
    python3 -c 'import json, random; r = random.Random(3)
print(json.dumps({"prompt_ids": [r.randrange(64) for _ in range(30)], "response_ids": [r.randrange(64) for _ in range(20)]}))' >>records
}

S='"vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4'

@test "architectures the fixtures lack agree with a transformers-faithful reference (model_ref.py)" {
    records
    # head_dim apart from hidden / heads, every bias Llama has, GQA
    ref llama "{\"model_type\": \"llama\", $S, \"head_dim\": 12, \"num_key_value_heads\": 2, \"attention_bias\": true, \"mlp_bias\": true}"
    # MQA, tied, an rms_norm_eps that matters, a small theta
    ref mqa "{\"model_type\": \"llama\", $S, \"num_key_value_heads\": 1, \"tie_word_embeddings\": true, \"rms_norm_eps\": 0.3, \"rope_theta\": 37.5}"
    # null key/value heads are the attention heads; swish is silu
    ref mha "{\"model_type\": \"llama\", $S, \"num_key_value_heads\": null, \"hidden_act\": \"swish\"}" BF16
    # Qwen2: q/k/v biases whatever attention_bias and mlp_bias say
    ref qwen2 "{\"model_type\": \"qwen2\", $S, \"num_key_value_heads\": 2, \"head_dim\": 16, \"attention_bias\": false, \"mlp_bias\": true}"
    # Qwen3: q/k norms, attention_bias on q/k/v/o, head_dim's default of 128
    ref qwen3 "{\"model_type\": \"qwen3\", $S, \"num_key_value_heads\": 4, \"attention_bias\": true, \"rms_norm_eps\": 0.2}" F16
    ref mistral "{\"model_type\": \"mistral\", $S, \"num_key_value_heads\": 2, \"head_dim\": 12, \"sliding_window\": null, \"attention_bias\": true, \"mlp_bias\": true}"
}

@test "every RoPE type pic loads agrees with the reference (model_ref.py)" {
    records
    local s="$S, \"num_key_value_heads\": 2, \"max_position_embeddings\": 64, \"rope_theta\": 100"
    ref linear "{\"model_type\": \"llama\", $s, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 3.0}}"
    ref dynamic "{\"model_type\": \"llama\", $s, \"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 3.0}}"
    ref llama3 "{\"model_type\": \"llama\", $s, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 4.0, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 16}}"
    ref yarn "{\"model_type\": \"qwen2\", $s, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16}}"
    ref yarn_af "{\"model_type\": \"qwen3\", $s, \"head_dim\": 16, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16, \"attention_factor\": 1.7, \"beta_fast\": 8, \"beta_slow\": 2, \"truncate\": false}}"
    ref yarn_mscale "{\"model_type\": \"llama\", $s, \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 50, \"factor\": null, \"original_max_position_embeddings\": 16, \"mscale\": 2, \"mscale_all_dim\": 0.5}}"
    # yarn's ramp ends where they change it (head_dim 8 clamps them away):
    # truncate's ceil and beta_slow's default of 1 (2 at head_dim 16);
    # high clamped to dim - 1 (theta 1.5); low == high nudged by 0.001
    # (an original context of 4 puts both at 0)
    ref yarn_trunc "{\"model_type\": \"qwen3\", $s, \"head_dim\": 16, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16}}"
    ref yarn_high "{\"model_type\": \"qwen3\", $S, \"num_key_value_heads\": 2, \"max_position_embeddings\": 64, \"rope_theta\": 1.5, \"head_dim\": 16, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16}}"
    ref yarn_flat "{\"model_type\": \"qwen3\", $s, \"head_dim\": 16, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 4}}"
    ref nested "{\"model_type\": \"qwen3\", $s, \"head_dim\": 16, \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 2.0, \"rope_theta\": 300}}}"
}

@test "the output is zstd unless --plain, unknown fields pass through in order" {
    head -1 "$M/derived/score_qwen2-tiny.jsonl" | jq -c '{z: 1} + . + {after: [1, "x"]}' >in
    pic-rollout --score -m "$M/qwen2-tiny" -q in >out.zst
    [ "$(head -c 4 out.zst | od -An -tx1 | tr -d ' ')" = 28b52ffd ]
    run bash -c "zstdcat out.zst | jq -c 'keys_unsorted'"
    [ "$output" = '["z","id","prompt_ids","response_ids","temperature","expect_logprobs","expect_entropy","expect_entropy_tol","after","logprobs","entropy"]' ]
}

@test "thread count and batch composition change nothing (batch-invariant products)" {
    cat "$M/derived/score_qwen2-tiny.jsonl" "$M/derived/score_qwen2-tiny.jsonl" >in
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q in >a
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q --threads 1 in >b
    cmp a b
    # every record alone in its forward pass: the same bits (docs/rollout.md)
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q --batch-tokens 1 in >c
    cmp a c
    agrees c
}

@test "records at different temperatures in one batch score as each would alone" {
    # the head runs once per stretch of one temperature: 0.6, 0.6, then 1.3, 0.6, greedy (T 1), 0.6
    jq -c --argjson t '[0.6, 0.6, 1.3, 0.6, 0, 0.6]' --slurp '. + . | to_entries[] | .value + {temperature: $t[.key]}' \
        "$M/derived/score_qwen2-tiny.jsonl" >in
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q in >together
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q --batch-tokens 1 in >alone
    cmp together alone
    # and each at its own temperature: the 0.6 records agree with transformers, the others differ
    jq -c 'select(.temperature == 0.6)' together >at06
    [ "$(wc -l <at06)" -eq 4 ]
    agrees at06
    [ "$(jq -s '[.[] | select(.temperature != 0.6) | .logprobs[0] != .expect_logprobs[0]] | all' together)" = true ]
    # a greedy record's log-probs are those at T 1
    sed -n 5p in | pic-rollout --score -m "$M/qwen2-tiny" --plain -q -t 1 >t1
    [ "$(sed -n 5p together | jq -c .logprobs)" = "$(jq -c .logprobs t1)" ]
}

@test "--temperature overrides the records'; without either T is 1" {
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q -t 0.6 <(jq -c 'del(.temperature)' "$M/derived/score_qwen2-tiny.jsonl") >out
    agrees out
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q <(jq -c 'del(.temperature)' "$M/derived/score_qwen2-tiny.jsonl") >t1
    run bash -c "jq -s '[.[0].logprobs[0], .[0].expect_logprobs[0]]' -c t1"
    [ "$status" -eq 0 ]
    [ "$(jq -s '.[0].logprobs[0] != .[0].expect_logprobs[0]' t1)" = true ]
}

@test "--logprobs-field and --entropy-field name the fields; '' leaves entropy out" {
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q --logprobs-field ref_lp --entropy-field '' \
        "$M/derived/score_qwen2-tiny.jsonl" >out
    [ "$(jq -c '[has("ref_lp"), has("logprobs"), has("entropy")]' out | sort -u)" = '[true,false,false]' ]
}

@test "text records are tokenized with the model's tokenizer" {
    jq -nc '{prompt: "What is 12 + 30?", response: " The answer is 42."}' >in
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q in >out
    jq -e '(.logprobs | length) > 3 and (.logprobs | length) == (.entropy | length) and all(.logprobs[]; . < 0)' out
}

@test "an empty response gives empty arrays; several files are read in turn; -o writes a file" {
    echo '{"prompt_ids": [1, 2], "response_ids": []}' >a
    head -1 "$M/derived/score_qwen2-tiny.jsonl" >b
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q -o out a b
    [ "$(jq -c '.logprobs | length' out | tr '\n' ' ')" = "0 11 " ]
}

@test "bad records name the file, line and field; --skip-bad counts them" {
    { echo '{"prompt_ids": [1], "response_ids": [2]}'
      echo '{"prompt_ids": [1], "response_ids": [2, 512]}'
      echo '{"prompt_ids": [], "response_ids": [2]}'
      echo '{"response_ids": [2]}'
      echo '{"prompt_ids": [1], "response_ids": [2], "temperature": -1}'
      echo 'not json'
      jq -nc '{prompt_ids: [range(500) | 1], response_ids: [range(13) | 2]}'; } >in
    run pic-rollout --score -m "$M/qwen2-tiny" --plain in
    fails_with 1 "^pic-rollout: in:2: field 'response_ids': element 1: expected a token id in \[0, 512\)"
    run pic-rollout --score -m "$M/qwen2-tiny" --plain --skip-bad -o out in
    [ "$status" -eq 0 ]
    [[ "$output" == *"scored 1 record, "*"6 bad records skipped"* ]]
    # longer than the context (512), as generation refuses
    sed -n 7p in >one
    run pic-rollout --score -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: field 'response_ids': the prompt's and response's 513 tokens exceed the model's context of 512"
    # a key given twice
    echo '{"prompt_ids": [1], "response_ids": [2], "prompt_ids": [3]}' >one
    run pic-rollout --score -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: malformed JSON.*duplicate"
    sed -n 3p in >one
    run pic-rollout --score -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: field 'prompt_ids': empty"
    sed -n 4p in >one
    run pic-rollout --score -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: field 'problem': missing"
    # generation's temperatures: below 0.001 the numbers overflowed float
    # (1e-300, a float 0, was blamed on the model), beyond 1e6 are no use
    for t in 1e-30 1e-300 0.0009 1e39 -1 '"1"'; do
        echo "{\"prompt_ids\": [1], \"response_ids\": [2], \"temperature\": $t}" >one
        run pic-rollout --score -m "$M/qwen2-tiny" --plain one
        fails_with 1 "^pic-rollout: one:1: field 'temperature': expected 0 \(greedy\) or a number from 0.001 to 1e6$"
    done
    # the bounds themselves are temperatures generation takes (-t 0.001, -t 1e6): scored
    for t in 0.001 1e6; do
        echo "{\"prompt_ids\": [1], \"response_ids\": [2], \"temperature\": $t}" >one
        pic-rollout --score -m "$M/qwen2-tiny" --plain -q one >sc
        [ "$(jq '.logprobs | length' sc)" = 1 ]
    done
}

@test "broken model files name the file and the tensor" {
    cp -r "$M/qwen2-tiny" m && chmod -R u+w m
    truncate -s 400000 m/model.safetensors
    run pic-rollout --score -m m --plain </dev/null
    fails_with 1 "m/model.safetensors: tensor '[^']+': data_offsets .* (truncated\?)"
    cp -r "$M/llama-tiny" l && chmod -R u+w l && rm l/model-00003-of-00003.safetensors
    run pic-rollout --score -m l --plain </dev/null
    fails_with 1 "model.safetensors.index.json: shard .*model-00003-of-00003.safetensors of tensor '[^']+' is missing"
    cp -r "$M/qwen2-tiny" c && chmod -R u+w c
    jq '.rope_scaling = {"rope_type": "longrope", "factor": 2}' "$M/qwen2-tiny/config.json" >c/config.json
    run pic-rollout --score -m c --plain </dev/null
    fails_with 1 "c/config.json: unsupported rope_type longrope"
    run pic-rollout --score -m nowhere --plain </dev/null
    fails_with 1 "nowhere"
}

@test "usage errors exit 2 and name the option" {
    run pic-rollout --score
    fails_with 2 "--model"
    run pic-rollout -m "$M/qwen2-tiny" --batch-tokens 8
    fails_with 2 "belong to --score"
    run pic-rollout --score -m "$M/qwen2-tiny" --n 2
    fails_with 2 "--score takes no generation option"
    run pic-rollout --score -m "$M/qwen2-tiny" -t 0
    fails_with 2 "--temperature"
    # generation's rule: 1e-30 scored -8e30, 1e-300 blamed the model
    for t in 1e-30 1e-300 0.0009999999999; do
        run pic-rollout --score -m "$M/qwen2-tiny" -t $t </dev/null
        fails_with 2 "^pic-rollout: --temperature: --score needs T >= 0.001"
    done
    run pic-rollout --score -m "$M/qwen2-tiny" --batch-tokens x
    fails_with 2 "--batch-tokens"
    run pic-rollout --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
    run pic-rollout --version
    [ "$status" -eq 0 ]
    [[ "$output" == "pic-rollout (pic) "* ]]
}

@test "--score of text adds the ids it tokenized; ids given are kept" {
    m="$FIXTURES/models/qwen2-tiny"
    echo '{"id":1,"prompt":"What is 2","response":" + 3?"}' | pic-rollout --score -m "$m" --plain -q > s.jsonl
    echo '{"text":"What is 2"}' | pic-tok -q -t "$m" encode --plain > p.jsonl
    echo '{"text":" + 3?"}' | pic-tok -q -t "$m" encode --plain > r.jsonl
    [ "$(jq -c .prompt_ids s.jsonl)" = "$(jq -c .ids p.jsonl)" ]
    [ "$(jq -c .response_ids s.jsonl)" = "$(jq -c .ids r.jsonl)" ]
    [ "$(jq '.logprobs | length' s.jsonl)" = "$(jq '.ids | length' r.jsonl)" ]
    jq -c '.response_ids' s.jsonl > before
    pic-rollout --score -m "$m" --plain -q s.jsonl | jq -c .response_ids > after
    cmp before after
    # a null id field (pandas writes one for a missing column) is absent: the
    # text is scored, and the ids it tokenized replace the null in its place
    echo '{"id":1,"prompt_ids":null,"prompt":"What is 2","response_ids":null,"response":" + 3?"}' |
        pic-rollout --score -m "$m" --plain -q > n.jsonl
    [ "$(jq -c .prompt_ids n.jsonl)" = "$(jq -c .ids p.jsonl)" ]
    [ "$(jq -c .response_ids n.jsonl)" = "$(jq -c .ids r.jsonl)" ]
    [ "$(jq -c 'keys_unsorted' n.jsonl)" = '["id","prompt_ids","prompt","response_ids","response","logprobs","entropy"]' ]
    [ "$(jq -c .logprobs n.jsonl)" = "$(jq -c .logprobs s.jsonl)" ]
}

@test "a model whose numbers overflow float: an error naming the record, the field and the model" {
    pic-init -q -o big --hidden 16 --layers 1
    # layer 0's input norm weight set to 1e38 (finite, so the load's check passes):
    # the products after it overflow to inf, and the log-probabilities are NaN
    perl -e 'open my $f, "+<", "big/model.safetensors" or die; binmode $f; read $f, my $n, 8;
             $n = unpack "Q<", $n; read $f, my $h, $n;
             $h =~ /"model\.layers\.0\.input_layernorm\.weight":\{[^}]*"data_offsets":\[(\d+),(\d+)\]/ or die;
             seek $f, 8 + $n + $1, 0; print $f pack("f<*", (1e38) x (($2 - $1) / 4))'
    printf '{"prompt_ids":[1,2,3],"response_ids":[4,5,6]}\n' >in.jsonl
    run pic-rollout --score -m big --plain in.jsonl
    fails_with 1 "^pic-rollout: in.jsonl:1: field 'logprobs': response token 0 scored .*: the model's numbers overflow float \(big\)"
    echo '{"id": "a1", "problem": "1+1"}' >p.jsonl
    run pic-rollout -m big -n 1 --plain --max-new-tokens 2 -o out.jsonl p.jsonl
    fails_with 1 "^pic-rollout: prompt 1 of the input \(id \"a1\"\), sample 0, response token 0: .*overflow float \(big\)"
    [ ! -e out.jsonl ]
}

@test "a config.json that claims more parameters than the weights hold is refused before they are allocated" {
    pic-init -q -o m --hidden 16 --layers 1
    jq '.vocab_size = 100000000' m/config.json >c && mv c m/config.json
    printf '{"prompt_ids":[1,2,3],"response_ids":[4,5,6]}\n' >in.jsonl
    # (before: 6 GB and 15 s of allocation, then the tensor shapes' error)
    run timeout 5 pic-rollout --score -m m --plain in.jsonl
    fails_with 1 "^pic-rollout: m/model.safetensors: tensor 'model.embed_tokens.weight': shape \[[0-9]+, 16\], the config implies \[100000000, 16\]"
}
