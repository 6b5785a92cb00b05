#!/usr/bin/env bats
# pic-init: new checkpoints that pic's own loaders (and transformers) read.
load helpers

@test "a default checkpoint loads, tokenizes and scores" {
    run pic-init -o m
    [ "$status" -eq 0 ]
    for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
        [ -s "m/$f" ]
    done
    [ "$(jq .vocab_size m/config.json)" = 259 ]
    # --help's size of the default model is the one written
    n=$(sed -n 's/.*qwen2, \([0-9]*\) parameters.*/\1/p' <<<"$output")
    [ "$(pic-init --help | sed -n 's/.*about \([0-9.]*\)M parameters.*/\1/p')" = "$(awk -v n="$n" 'BEGIN { printf "%.2f", n / 1e6 }')" ]
    [ "$(jq -c .eos_token_id m/config.json)" = "[258,256]" ]
    echo '{"text":"What is 3 + 5? <|im_end|>"}' | pic-tok -q -t m encode --plain > ids.jsonl
    [ "$(jq -c .ids ids.jsonl)" = "[87,104,97,116,32,105,115,32,51,32,43,32,53,63,32,258]" ]
    printf '{"prompt_ids":[87,104,97],"response_ids":[116,32,258]}\n' |
        pic-rollout --score --model m --plain > scored.jsonl
    [ "$(jq '.logprobs | length' scored.jsonl)" = 3 ]
    # random weights of std 0.02: nearly uniform over 259 tokens
    jq -e '.entropy | all(. > 5.4 and . < 5.6)' scored.jsonl
}

@test "merges are learned from a corpus (64 unless --merges says) and the same seed gives the same bytes" {
    pic-task -q -n 500 --solutions > corpus.zst
    pic-init -q -o a --corpus corpus.zst --merges 100 --seed 3
    pic-init -q -o b --corpus corpus.zst --merges 100 --seed 3
    cmp a/model.safetensors b/model.safetensors
    cmp a/tokenizer.json b/tokenizer.json
    pic-init -q -o c --corpus corpus.zst --merges 100 --seed 4
    ! cmp -s a/model.safetensors c/model.safetensors || false
    merges=$(jq '.model.merges | length' a/tokenizer.json)
    [ "$merges" -gt 5 ]
    [ "$(jq .vocab_size a/config.json)" = $((256 + merges + 3)) ]
    # encoding with merges, then decoding, gives the text back
    echo '{"text":"What is 12 + 30? 12 + 30 = 42. \\boxed{42}"}' | pic-tok -q -t a encode --plain |
        pic-tok -q -t a decode --plain > back.jsonl
    [ "$(jq -r .text back.jsonl)" = 'What is 12 + 30? 12 + 30 = 42. \boxed{42}' ]
    [ "$(jq '.ids | length' back.jsonl)" -lt 40 ]
    # a corpus without --merges is not read for nothing: the demo's 64
    pic-init -q -o d --corpus corpus.zst --seed 3
    pic-init -q -o d64 --corpus corpus.zst --merges 64 --seed 3
    cmp d/tokenizer.json d64/tokenizer.json
    [ "$(jq '.model.merges | length' d/tokenizer.json)" -gt 5 ]
    # that corpus teaches fewer: one with more to teach gets 64, no more
    w="abcdefghijklmnopqrstuvwxyz zyxwvutsrqponmlkjihgfedcba qwertyuiopasdfghjklzxcvbnm"
    printf '{"text":"%s %s"}\n' "$w" "$w" >abc.jsonl
    pic-init -q -o e --corpus abc.jsonl --hidden 16 --layers 1
    [ "$(jq '.model.merges | length' e/tokenizer.json)" = 64 ]
    pic-init -q -o e2 --corpus abc.jsonl --merges 100 --hidden 16 --layers 1
    [ "$(jq '.model.merges | length' e2/tokenizer.json)" -gt 64 ]
    # a text is learned whole, \u0000 and all (it was cut there: no merges)
    printf '{"text":"x\\u0000 zq zq zq zq zq"}\n' >nul.jsonl
    pic-init -q -o n --corpus nul.jsonl --merges 3 --hidden 16 --layers 1
    [ "$(jq -c .model.merges n/tokenizer.json)" = '[["Ġ","z"],["Ġz","q"]]' ]
    # a pair seen once is no merge: "ab" once, " cd" twice
    printf '{"text":"ab cd cd"}\n' >once.jsonl
    pic-init -q -o o --corpus once.jsonl --merges 5 --hidden 16 --layers 1
    [ "$(jq -c .model.merges o/tokenizer.json)" = '[["Ġ","c"],["Ġc","d"]]' ]
}

@test "the weights are a fixed stream of the seed: the same bits on 1, 2 or 3 threads" {
    # 262144-element products: several of the draw's 65536-element pieces,
    # each started where the one-thread loop would be (splitmix64 skips);
    # (a hash of the bytes would pin libm's log and cos, which differ by CPU)
    for t in 1 2 3; do pic-init -q -o w$t --hidden 256 --layers 1 --intermediate 1024 --seed 3 --threads $t; done
    cmp w1/model.safetensors w2/model.safetensors
    cmp w1/model.safetensors w3/model.safetensors
    pic-init -q -o l1 --model-type llama --untied --seed 7 --bf16 --hidden 64 --layers 2 --threads 1
    pic-init -q -o l3 --model-type llama --untied --seed 7 --bf16 --hidden 64 --layers 2 --threads 3
    cmp l1/model.safetensors l3/model.safetensors
    run pic-init -q -o z --threads 0
    [ "$status" -eq 2 ]
    [[ "$output" == *"--threads: 0 is outside"* ]]
}

@test "merges are learned within the words encoding splits text into, so each can apply" {
    # Qwen2's pattern splits "\n    y" as "\n", "   ", " y", and "l'sad" as
    # "l", "'s", "ad": a word "\n   " or "'sad" taught merges never used
    for i in $(seq 50); do printf '{"text":"if x:\\n    y = 1\\n    z = 2 l'"'"'sad"}\n'; done >ind.jsonl
    pic-init -q -o t --corpus ind.jsonl --merges 20 --hidden 16 --layers 1
    run jq -c '.model.merges[] | select(.[0] == "Ċ" or .[1] == "Ċ" and .[0] != ":" or .[0] == "s")' t/tokenizer.json
    [ -z "$output" ]
    jq -e '.model.merges | index([["\u0027", "s"]]) and index([["a", "d"]])' t/tokenizer.json
    # every word of a text given twice is learned whole, and nothing else is:
    # its 13 words by Qwen2's pattern ("I", "'M", "ok", "!!\n\n", "z",
    # "  \n", " ", " x", " ", "7", "7", "\ty", " \u00ad\u00ad") need 12 merges,
    # and encode to 13 ids
    T='I'"'"'Mok!!\n\nz  \n  x 77\ty \u00ad\u00ad'
    printf '{"text":"%s"}\n{"text":"%s"}\n' "$T" "$T" >w.jsonl
    pic-init -q -o tw --corpus w.jsonl --merges 500 --hidden 16 --layers 1
    [ "$(jq '.model.merges | length' tw/tokenizer.json)" = 12 ]
    [ "$(head -1 w.jsonl | pic-tok -q -t tw encode --plain | jq '.ids | length')" = 13 ]
}

@test "memory: thousands of merges need no (256 + merges)^2 table" {
    [ -x /usr/bin/time ] || skip "no GNU time"
    ! ldd "$(command -v pic-init)" | grep -q libasan || skip "memory is not measured under AddressSanitizer"
    # 6000 lines of three made-up words each: enough distinct pairs for 2500 merges
    seq 1 6000 | awk '{ s = ""; x = $1 * 7919; for (i = 0; i < 3; i++) { w = ""; y = x
        while (y > 0) { w = w sprintf("%c", 97 + y % 26); y = int(y / 26) }
        s = s w " "; x = int(x / 3) + i * 977 } printf "{\"text\":\"%s\"}\n", s }' >words.jsonl
    /usr/bin/time -f %M -o rss pic-init -q -o w --corpus words.jsonl --merges 2500 --hidden 16 --layers 1
    [ "$(jq '.model.merges | length' w/tokenizer.json)" = 2500 ]
    # a dense table of counts was 2756^2 x 8 bytes = 61 MB, and 63 MB of peak RSS
    [ "$(cat rss)" -lt 30000 ] || { echo "rss $(cat rss) KB" >&2; false; }
}

@test "architecture options and --config shape the model" {
    pic-init -q -o q3 --model-type qwen3 --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --untied --bf16
    jq -e '.model_type == "qwen3" and .hidden_size == 32 and .num_hidden_layers == 1 and .tie_word_embeddings == false and .dtype == "bfloat16"' q3/config.json
    # the head size is --hidden over --heads for every type (Qwen3's class
    # would take 128 if config.json left it out; the weights follow config.json)
    jq -e '.head_dim == 16' q3/config.json
    printf '{"prompt_ids":[1,2],"response_ids":[3]}\n' | pic-rollout --score --model q3 --plain > s.jsonl
    [ "$(jq '.logprobs | length' s.jsonl)" = 1 ]
    pic-init -q -o fromcfg --config "$FIXTURES/models/llama-tiny/config.json"
    [ "$(jq .vocab_size fromcfg/config.json)" = "$(jq .vocab_size "$FIXTURES/models/llama-tiny/config.json")" ]
}

@test "--config: a parameter count past 2^64 is refused, not wrapped to a small buffer" {
    # 16 layers x (2^30 - 21) + 336 = 2^34 rows of 2^30: 2^64 parameters,
    # which wrapped to 0 in size_t, and drawing the weights overran it
    printf '{"model_type":"llama","vocab_size":335,"hidden_size":1073741824,"intermediate_size":357913931,"num_hidden_layers":16,"num_attention_heads":1,"num_key_value_heads":1,"head_dim":2,"tie_word_embeddings":true}\n' >big.json
    run pic-init -q -o m --config big.json
    fails_with 1 '^pic-init: big.json: about 1.84e\+19 parameters \(hidden_size 1073741824, .*more than a float buffer can address$'
    [ ! -e m ]
}

@test "--config and --tokenizer: the special ids are the tokenizer's, so generation stops" {
    # llama-tiny names bos 509 and eos 510, which pic-init's 259-token
    # tokenizer does not have
    pic-init -q -o m --config "$FIXTURES/models/llama-tiny/config.json"
    jq -e '.bos_token_id == null and .eos_token_id == [258, 256]' m/config.json
    jq -e '.bos_token_id == null and .eos_token_id == [258, 256]' m/generation_config.json
    [ "$(pic-tok -q -t m info | jq -r .eos)" = '<|im_end|>' ]
    [ "$(jq -c '{ids: [.eos_token_id[0]]}' m/config.json | pic-tok -q -t m decode --plain | jq -r .text)" = '<|im_end|>' ]
    # generation_config names tokenizer_config's pad token, as Qwen2.5-Instruct's
    # does: without it transformers' generate() warns and pads with eos
    [ "$(jq -c '{ids: [.pad_token_id]}' m/generation_config.json | pic-tok -q -t m decode --plain | jq -r .text)" = "$(jq -r .pad_token m/tokenizer_config.json)" ]
    # a tokenizer.json given: looked up by content, not counted (GPT-2 lists
    # <|endoftext|> in both its vocabulary and its added tokens)
    xz -dc "$FIXTURES/tokenizers/gpt2/tokenizer.json.xz" >gpt2.json
    pic-init -q -o g --tokenizer gpt2.json --hidden 16 --layers 1 --heads 2 --kv-heads 1 --intermediate 16
    jq -e '.vocab_size == 50257 and .eos_token_id == 50256' g/config.json
    jq -e '.eos_token_id == [50256]' g/generation_config.json
    # no tokenizer_config.json names a pad token there
    jq -e 'has("pad_token_id") | not' g/generation_config.json
    # ours names ChatML's tokens and Qwen2's class, which would be wrong here
    [ ! -e g/tokenizer_config.json ]
    pic-init --help | grep -q 'tokenizer_config.json (not with$'
    # SentencePiece's </s> ends generation too (stories260K: id 2), as do
    # Llama 3's <|eot_id|> and <|end_of_text|>
    cp "$FIXTURES/tokenizers/stories260K/tokenizer.json" st.json
    pic-init -q -o sp --tokenizer st.json --hidden 16 --layers 1 --heads 2 --kv-heads 1 --intermediate 16
    jq -e '.eos_token_id == 2' sp/config.json
    xz -dc "$FIXTURES/tokenizers/llama3/tokenizer.json.xz" >l3.json
    pic-init -q -o l3 --tokenizer l3.json --hidden 16 --layers 1 --heads 2 --kv-heads 1 --intermediate 16
    jq -e '.eos_token_id == [128009, 128001]' l3/config.json
    # with no end token at all, a --config's ids are kept when they name tokens
    jq '.model.vocab["</x>"] = .model.vocab["</s>"] | del(.model.vocab["</s>"])
        | .added_tokens |= map(if .content == "</s>" then .content = "</x>" else . end)' st.json >noend.json
    run pic-init -q -o x --tokenizer noend.json
    fails_with 1 'noend.json: no end token .* to end generation'
    jq '.vocab_size = 512 | .eos_token_id = 2 | .bos_token_id = 1' "$FIXTURES/models/llama-tiny/config.json" >c.json
    pic-init -q -o s --config c.json --tokenizer noend.json
    jq -e '.bos_token_id == 1 and .eos_token_id == 2' s/config.json
    # an embedding row beyond the tokenizer's 512 tokens is no token
    jq '.vocab_size = 600 | .eos_token_id = 550' c.json >c550.json
    run pic-init -q -o x --config c550.json --tokenizer noend.json
    fails_with 1 'c550.json: eos id 550 is not a token of noend.json \(512 tokens\)'
    [ ! -e x ]
    # the ids run 0..511: 512 is the first past them, for eos and bos alike,
    # and a vocab_size one short of the tokenizer's is refused too
    jq '.vocab_size = 600 | .eos_token_id = 512' c.json >c512.json
    run pic-init -q -o x --config c512.json --tokenizer noend.json
    fails_with 1 'c512.json: eos id 512 is not a token of noend.json \(512 tokens\)'
    jq '.vocab_size = 600 | .bos_token_id = 512' c.json >b512.json
    run pic-init -q -o x --config b512.json --tokenizer noend.json
    fails_with 1 'b512.json: bos id 512 is not a token of noend.json \(512 tokens\)'
    jq '.vocab_size = 511' c.json >v511.json
    run pic-init -q -o x --config v511.json --tokenizer noend.json
    fails_with 1 'v511.json: vocab_size 511 is smaller than the tokenizer.s 512'
    [ ! -e x ]
}

# st_dtypes DIR: the dtypes of DIR/model.safetensors' tensors, from its header
st_dtypes() {
    local n
    n=$(od -An -t u8 -N 8 "$1/model.safetensors" | tr -d ' ')
    tail -c +9 "$1/model.safetensors" | head -c "$n" | jq -c '[del(.__metadata__)[].dtype] | unique'
}

@test "config.json's dtype is that of the weights written, not of a --config's model" {
    # qwen3-tiny says bfloat16, llama-tiny float32
    for m in qwen3-tiny llama-tiny; do
        pic-init -q -o f32 --config "$FIXTURES/models/$m/config.json"
        [ "$(jq -c '[.dtype, .torch_dtype]' f32/config.json)" = '["float32","float32"]' ]
        [ "$(st_dtypes f32)" = '["F32"]' ]
        pic-init -q -o bf16 --config "$FIXTURES/models/$m/config.json" --bf16
        [ "$(jq -c '[.dtype, .torch_dtype]' bf16/config.json)" = '["bfloat16","bfloat16"]' ]
        [ "$(st_dtypes bf16)" = '["BF16"]' ]
    done
    pic-init -q -o d
    [ "$(jq -r .dtype d/config.json)" = float32 ]
    [ "$(st_dtypes d)" = '["F32"]' ]
}

@test "config.json says the rope to transformers 4 and 5 alike" {
    # transformers 4 reads rope_theta and rope_scaling only: a config with
    # Qwen2.5's theta of 1e6, or a scaling, written only as rope_parameters
    # (transformers 5's key) loaded there as theta 10000 and no scaling
    jq '.rope_theta = 1000000' "$FIXTURES/models/qwen2-tiny/config.json" >q.json
    pic-init -q -o q --config q.json
    jq -e '.rope_theta == 1000000 and .rope_scaling == null and .rope_parameters == {rope_theta: 1000000, rope_type: "default"}' q/config.json
    jq '.rope_theta = 500000 | .max_position_embeddings = 4096 | .rope_scaling = {rope_type: "llama3", factor: 8,
        low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 512}' \
        "$FIXTURES/models/llama-tiny/config.json" >l.json
    pic-init -q -o l --config l.json
    # transformers 5 takes rope_scaling over rope_parameters and adds the
    # top-level rope_theta: the same object
    jq -e '.rope_theta == 500000 and (.rope_scaling + {rope_theta}) == .rope_parameters and
           .rope_scaling == {rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4,
                             original_max_position_embeddings: 512}' l/config.json
    # and pic reads it back as the model it was made from
    printf '{"prompt_ids":[1,2],"response_ids":[3]}\n' | pic-rollout --score --model l --plain >s.jsonl
    [ "$(jq '.logprobs | length' s.jsonl)" = 1 ]
}

@test "config.json's rms_norm_eps is the decimal it was given, not pic's float widened" {
    # pic computes with the float32 of 1e-6; written widened to a double
    # (9.9999999747524271e-07) transformers read another number than Qwen2's
    pic-init -q -o d
    jq -e '.rms_norm_eps == 1e-6' d/config.json
    grep -q '^  "rms_norm_eps": 1e-06,$' d/config.json
    jq '.rms_norm_eps = 1e-5 | .rope_theta = 1000000' "$FIXTURES/models/qwen2-tiny/config.json" >c.json
    pic-init -q -o q --config c.json
    jq -e '.rms_norm_eps == 1e-5' q/config.json
    grep -q '^  "rope_theta": 1000000.0,$' q/config.json
    # and pic reads it back as the float it trains with
    pic-init -q -o q2 --config q/config.json
    cmp q/config.json q2/config.json
}

@test "config.json and generation_config.json as transformers writes them: keys sorted, nested ones too" {
    # PretrainedConfig.to_json_string and GenerationConfig.to_json_string:
    # json.dumps(d, indent=2, sort_keys=True) + "\n"; the keys were in
    # pic's own order
    pic-init -q -o d
    pic-init -q -o y --config "$FIXTURES/models/llama-tiny/config.json"
    jq '.rope_scaling = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}' \
        "$FIXTURES/models/qwen2-tiny/config.json" > yarn.json
    pic-init -q -o q --config yarn.json
    for f in {d,y,q}/config.json {d,y,q}/generation_config.json; do
        jq -e '[.. | objects | keys_unsorted == keys] | all' "$f" > /dev/null
        if command -v python3 > /dev/null; then
            python3 -c 'import json, sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), indent=2, sort_keys=True) + "\n")' \
                "$f" > want
            cmp want "$f"
        fi
    done
    jq -e '.rope_scaling | keys_unsorted | length > 2' q/config.json > /dev/null
    # pic-update's checkpoint keeps the config it was given, byte for byte
    printf '{"prompt_ids":[1,2],"response_ids":[3],"logprobs":[-1.0],"reward":1.0,"advantage":1.0}\n' > s.jsonl
    jq --indent 4 . d/config.json > d/c && mv d/c d/config.json
    pic-update -q -m d -o u --lr 1e-4 s.jsonl > /dev/null
    cmp d/config.json u/config.json
}

@test "bad options and inputs are errors; a failed run leaves nothing behind" {
    run pic-init
    fails_with 2 '-o DIR is required'
    run pic-init -o x --merges 10
    fails_with 2 '--merges needs --corpus'
    run pic-init -o x --merges 0
    fails_with 2 '--merges needs --corpus'
    # a corpus with no merges to teach would be read and ignored
    echo '{"text":"aa aa"}' >c.jsonl
    run pic-init -o x --corpus c.jsonl --merges 0
    fails_with 2 '--corpus with --merges 0 teaches nothing'
    rm c.jsonl
    echo '{}' >tok.json
    run pic-init -o x --tokenizer tok.json --merges 0
    fails_with 2 '--tokenizer excludes --corpus and --merges'
    rm tok.json
    run pic-init -o x --heads 3
    fails_with 2 '--kv-heads 2 does not divide --heads 3'
    run pic-init -o x --heads 5
    fails_with 2 '--heads 5: --hidden 96 must be an even multiple'
    run pic-init -o x --hidden 8 --heads 8 --kv-heads 1
    fails_with 2 '--heads 8: --hidden 8'
    # --config gives the whole architecture: a shape option beside it would be ignored
    for opt in "--model-type qwen3" "--hidden 32" "--layers 1" "--heads 2" "--kv-heads 1" \
        "--intermediate 64" "--max-position 64" "--untied"; do
        run pic-init -o x --config "$FIXTURES/models/llama-tiny/config.json" $opt
        fails_with 2 "${opt%% *} cannot be combined with --config"
    done
    [ ! -e x ]
    [ -z "$(ls)" ]
    echo '{"id":1}' > nocorpus.jsonl
    run pic-init -o x --corpus nocorpus.jsonl --merges 5
    fails_with 1 'nocorpus.jsonl: no text fields'
    [ ! -e x ]
}

@test "--config: a head size of 0 or rms_norm_eps <= 0 is refused, not a SIGFPE later" {
    jq '.num_attention_heads = 128 | .num_key_value_heads = 128 | del(.head_dim)' "$FIXTURES/models/qwen2-tiny/config.json" >c0.json
    run pic-init -q -o x --config c0.json
    fails_with 1 "c0.json: hidden_size [0-9]+ over num_attention_heads 128 gives a head size of 0"
    jq '.rms_norm_eps = 0' "$FIXTURES/models/qwen2-tiny/config.json" >e0.json
    run pic-init -q -o x --config e0.json
    fails_with 1 "e0.json: key 'rms_norm_eps': 0 must be positive"
    [ ! -e x ]
}

@test "-o replaces only a checkpoint or an empty directory, before any work" {
    echo precious >notes.txt
    run pic-init -q -o notes.txt --hidden 16 --layers 1
    fails_with 1 "^pic-init: notes.txt: exists and is not a directory"
    [ "$(cat notes.txt)" = precious ]
    mkdir work && echo x >work/thesis.tex
    run pic-init -q -o work --hidden 16 --layers 1
    fails_with 1 "^pic-init: work: is a directory with no config.json in it"
    [ "$(ls work)" = thesis.tex ]
    for d in . / ..; do
        run pic-init -q -o "$d" --hidden 16 --layers 1
        fails_with 1 "not a name a checkpoint directory can take"
    done
    # a checkpoint is replaced, also when named with a trailing slash
    pic-init -q -o ck --hidden 16 --layers 1
    pic-init -q -o ck/ --hidden 16 --layers 1 --seed 2
    [ "$(ls | sort | tr '\n' ' ')" = "ck notes.txt work " ]
    [ -f ck/config.json ]
}

@test "--tokenizer goes through the loader the other programs use: a bad id is refused now" {
    pic-init -q -o ck --hidden 16 --layers 1
    # an id past int: it was cut by a cast into a checkpoint pic-rollout refused
    jq '.model.vocab["zz"] = 2147483647' ck/tokenizer.json >big.json
    run pic-init -q -o x --tokenizer big.json --hidden 16 --layers 1
    fails_with 1 "^pic-init: big.json: field 'model.vocab': expected a token id"
    jq '.model.vocab["zz"] = 1.5' ck/tokenizer.json >float.json
    run pic-init -q -o x --tokenizer float.json --hidden 16 --layers 1
    fails_with 1 "^pic-init: float.json: field 'model.vocab'"
    [ ! -e x ]
    # the checkpoint's own tokenizer goes through as it is
    pic-init -q -o y --tokenizer ck/tokenizer.json --hidden 16 --layers 1
    cmp ck/tokenizer.json y/tokenizer.json
    # \u0000 in an added token is text, as the loader reads it, and
    # "<|im_end|>\u0000" is not the end token <|im_end|>
    jq '.added_tokens[2].content = "<|im_end|>\u0000"' ck/tokenizer.json >nul.json
    pic-init -q -o z --tokenizer nul.json --hidden 16 --layers 1
    jq -e '.eos_token_id == 256' z/config.json
}
