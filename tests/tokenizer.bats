#!/usr/bin/env bats
# pic-tok and the tokenizer library against HF's own outputs: every golden
# vector of Qwen2.5, Qwen3, Llama 3, GPT-2, the tiny models and stories260K,
# encode and decode; then the command line and its errors.
load helpers

TF="$FIXTURES/tokenizers"

setup_file() {
    # the real tokenizers are stored xz-compressed: unpack each into a model
    # directory once for the whole file
    local d="$BATS_FILE_TMPDIR"
    for t in qwen2.5 qwen3 llama3 gpt2; do
        mkdir -p "$d/$t"
        xz -dc "$TF/$t/tokenizer.json.xz" > "$d/$t/tokenizer.json"
        [ ! -f "$TF/$t/tokenizer_config.json" ] || cp "$TF/$t/tokenizer_config.json" "$d/$t/"
    done
    xz -dc "$TF/qwen2.5/hf_vectors.jsonl.xz" > "$d/qwen.vectors.jsonl"
    xz -dc "$TF/llama3/hf_vectors.jsonl.xz" > "$d/llama3.vectors.jsonl"
}

# golden_encode TOKENIZER FILE [FLAGS]: ids of every text equal the file's
# `ids` (or the field named by $WANT); prints the mismatches
golden_encode() {
    local tok=$1 file=$2 want=${WANT:-ids}
    shift 2
    pic-tok -q -t "$tok" "$@" encode --plain --ids-field got "$file" > got.jsonl
    [ "$(wc -l < got.jsonl)" -eq "$(grep -c . "$file")" ]
    jq -c "select(.got != .$want) | {text, got, $want}" got.jsonl > bad.jsonl
    head -c 2000 bad.jsonl
    [ ! -s bad.jsonl ]
}

# golden_decode TOKENIZER FILE: decoding `ids` gives `decoded`
golden_decode() {
    jq -c '{ids, decoded}' "$2" | pic-tok -q -t "$1" decode --plain > dec.jsonl
    jq -c 'select(.text != .decoded)' dec.jsonl > bad.jsonl
    head -c 2000 bad.jsonl
    [ ! -s bad.jsonl ]
    [ "$(wc -l < dec.jsonl)" -eq "$(grep -c . "$2")" ]
}

# llamacpp TOKENIZER NAME: llama.cpp's .inp/.out vectors, parsed as they are
llamacpp() {
    local inp="$TF/$2.inp" out="$TF/$2.out"
    jq -Rsc 'split("\n__ggml_vocab_test__\n")[:-1][] | {text: .}' "$inp" |
        pic-tok -q -t "$1" encode --plain | jq -c .ids > got
    jq -Rc 'split(" ") | map(select(length > 0) | tonumber)' "$out" > want
    [ "$(wc -l < want)" -eq 46 ]
    diff got want
}

@test "Qwen2.5: 946 HF vectors exact, encode (with and without --special) and decode" {
    golden_encode "$BATS_FILE_TMPDIR/qwen2.5" "$BATS_FILE_TMPDIR/qwen.vectors.jsonl"
    WANT=ids_with_special golden_encode "$BATS_FILE_TMPDIR/qwen2.5" "$BATS_FILE_TMPDIR/qwen.vectors.jsonl" --special
    golden_decode "$BATS_FILE_TMPDIR/qwen2.5" "$BATS_FILE_TMPDIR/qwen.vectors.jsonl"
}

@test "Qwen3: the same 946 vectors, encode and decode" {
    golden_encode "$BATS_FILE_TMPDIR/qwen3" "$BATS_FILE_TMPDIR/qwen.vectors.jsonl"
    golden_decode "$BATS_FILE_TMPDIR/qwen3" "$BATS_FILE_TMPDIR/qwen.vectors.jsonl"
}

@test "Llama 3: 946 vectors exact; --special prepends <|begin_of_text|> as the post-processor does" {
    golden_encode "$BATS_FILE_TMPDIR/llama3" "$BATS_FILE_TMPDIR/llama3.vectors.jsonl"
    WANT=ids_with_special golden_encode "$BATS_FILE_TMPDIR/llama3" "$BATS_FILE_TMPDIR/llama3.vectors.jsonl" --special
    golden_decode "$BATS_FILE_TMPDIR/llama3" "$BATS_FILE_TMPDIR/llama3.vectors.jsonl"
}

# oracle NAME TOKENIZER: tests/fixtures/tokenizers/oracle/NAME.jsonl.xz, the
# outputs of HF tokenizers 0.23.2 itself (difftest/difftest.js): ids with
# and without --special, decodings of those ids and of random id sequences
# with and without --skip-special
oracle() {
    local f="$BATS_TEST_TMPDIR/$1.jsonl"
    xz -dc "$TF/oracle/$1.jsonl.xz" > "$f"
    jq -c 'select(.text)' "$f" > texts.jsonl
    golden_encode "$2" texts.jsonl
    WANT=ids_special golden_encode "$2" texts.jsonl --special
    jq -c '{ids: (.ids_special // .ids), decoded}' "$f" > dec.in
    golden_decode "$2" dec.in
    jq -c '{ids: (.ids_special // .ids), decoded: .decoded_skip}' "$f" > skip.in
    pic-tok -q -t "$2" --skip-special decode --plain skip.in | jq -c 'select(.text != .decoded)' > bad.jsonl
    head -c 2000 bad.jsonl
    [ ! -s bad.jsonl ]
}

@test "HF tokenizers 0.23.2 itself: adversarial texts and ids, Unicode 16 letters" {
    oracle qwen2.5 "$BATS_FILE_TMPDIR/qwen2.5"
    oracle llama3 "$BATS_FILE_TMPDIR/llama3"
    oracle gpt2 "$BATS_FILE_TMPDIR/gpt2"
    oracle stories260K "$TF/stories260K"
}

@test "HF encodings of 202 edge-case texts: Qwen2.5, Llama 3, GPT-2" {
    golden_encode "$BATS_FILE_TMPDIR/qwen2.5" "$TF/qwen2.5/hf_encodings.jsonl"
    golden_encode "$BATS_FILE_TMPDIR/llama3" "$TF/llama3/hf_encodings.jsonl"
    golden_encode "$BATS_FILE_TMPDIR/gpt2" "$TF/gpt2/hf_encodings.jsonl"
}

@test "llama.cpp's vocab test vectors: Qwen2, Llama 3 BPE, GPT-2" {
    llamacpp "$BATS_FILE_TMPDIR/qwen2.5" qwen2.5/llamacpp-qwen2
    llamacpp "$BATS_FILE_TMPDIR/llama3" llama3/llamacpp-llama-bpe
    llamacpp "$BATS_FILE_TMPDIR/gpt2" gpt2/llamacpp-gpt-2
}

@test "split patterns: \\s is Oniguruma's White_Space, not PCRE2's (U+180E is no space)" {
    # HF runs the patterns through Oniguruma, whose Unicode \s is White_Space;
    # PCRE2's \s also matches U+180E MONGOLIAN VOWEL SEPARATOR (a space
    # before Unicode 6.3). So " \u180Eb" is " \u180E" (punctuation after a
    # space) then "b", not " " then "\u180Eb"; ids worked out by running
    # each pattern with \s written as \p{White_Space}
    printf '%s\n' '{"text":" \u180eb"}' '{"text":"x \u180eword"}' > in.jsonl
    for t in qwen2.5:86089,254,236,65:87,86089,254,236,1158 llama3:87189,254,236,65:87,87189,254,236,1178 \
             gpt2:28053,254,236,65:87,28053,254,236,4775; do
        IFS=: read -r name a b <<< "$t"
        run pic-tok -q -t "$BATS_FILE_TMPDIR/$name" --plain encode in.jsonl
        [ "$status" -eq 0 ]
        [ "$(jq -c .ids <<< "${lines[0]}")" = "[$a]" ]
        [ "$(jq -c .ids <<< "${lines[1]}")" = "[$b]" ]
    done
}

# split_encode REGEX VOCAB MERGES TEXT: the ids of TEXT under a BPE
# tokenizer.json (in model directory m) whose one pre-tokenizer splits on
# REGEX, isolated; REGEX and TEXT are JSON string contents
split_encode() {
    mkdir -p m
    cat > m/tokenizer.json <<EOF
{"version": "1.0", "added_tokens": [], "normalizer": null, "post_processor": null, "decoder": null,
 "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "$1"}, "behavior": "Isolated", "invert": false},
 "model": {"type": "BPE", "unk_token": null, "vocab": $2, "merges": $3}}
EOF
    local out
    out=$(echo "{\"text\":\"$4\"}" | pic-tok -q -t m --plain encode) || return
    jq -c .ids <<< "$out"
}

@test "split patterns: \\w is Oniguruma's word character (marks and U+203F are in words)" {
    # Oniguruma's \w is Alphabetic | Mark | Nd | Pc (its
    # make_unicode_property_data.py); PCRE2's is L, N and '_', so
    # U+0301 and U+203F would end a word and "a\u0301 a\u203Fb" become
    # six pieces, ids [0,1,4,0,2,3], where HF has three
    run split_encode '\\w+' '{"a": 0, "\u0301": 1, "\u203f": 2, "b": 3, " ": 4, "a\u0301": 5, "a\u203f": 6, "a\u203fb": 7}' \
        '["a \u0301", "a \u203f", "a\u203f b"]' 'a\u0301 a\u203fb'
    [ "$status" -eq 0 ]
    [ "$output" = "[5,4,7]" ]
}

@test "split patterns: POSIX brackets are Oniguruma's ([[:alpha:]] is Alphabetic)" {
    # Oniguruma's [:alpha:] is Alphabetic (its make_unicode_property_data.py);
    # PCRE2's is \p{L}, so U+0345 (Mn) and U+2160 (Nl) would stand alone and
    # "a\u0345 \u2160b" become five pieces, ids [0,1,4,2,3], where HF has three
    run split_encode '[[:alpha:]]+' '{"a": 0, "\u0345": 1, "\u2160": 2, "b": 3, " ": 4, "a\u0345": 5, "\u2160b": 6}' \
        '["a \u0345", "\u2160 b"]' 'a\u0345 \u2160b'
    [ "$status" -eq 0 ]
    [ "$output" = "[5,4,6]" ]
}

@test "split patterns: an unknown POSIX bracket is refused, as Oniguruma refuses it" {
    run split_encode '[[:Alpha:]]+' '{"a": 0}' '[]' 'a'
    [ "$status" -ne 0 ]
    [[ "$output" == *"unknown POSIX bracket '[:Alpha:]' at offset 1"* ]]
}

@test "tiny models' tokenizer cases, encode and decode" {
    golden_encode "$TF/tiny" "$TF/tiny/cases.jsonl"
    golden_decode "$TF/tiny" "$TF/tiny/cases.jsonl"
}

@test "stories260K: encodes like run.c, and its greedy ids decode to run.c's text" {
    echo '{"text": "Once upon a time"}' | pic-tok -q -t "$TF/stories260K" encode --special --plain > out
    [ "$(jq -c .ids out)" = "[1,403,407,261,378]" ]
    tr ' ' ',' < "$TF/stories260K/expected_greedy_ids.txt" | sed 's/^/{"ids":[/; s/,*$/]}/' |
        pic-tok -q -t "$TF/stories260K" decode --skip-special --plain | jq -j .text > text
    printf '\n' >> text
    cmp text "$TF/stories260K/expected_greedy_200.txt"
}

@test "a Llama tokenizer_config.json's add_prefix_space that contradicts the file's marker is refused" {
    # transformers' Llama tokenizer rebuilds the pipeline from a non-null
    # add_prefix_space (4.x: from the sentencepiece model, 5.x: Metaspace
    # with prepend_scheme never when false): false beside a file that
    # prepends the marker gives ids pic would not
    mkdir m
    cp "$TF/stories260K/tokenizer.json" m/
    jq '.add_prefix_space = false' "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    run pic-tok -t m info
    fails_with 1 "^pic-tok: m/tokenizer_config.json: field 'add_prefix_space': false, but m/tokenizer.json prepends the word marker \\(its Metaspace pre-tokenizer\\)"
    # the legacy layout's Prepend normalizer too
    jq '.pre_tokenizer = null | .normalizer = {type: "Sequence", normalizers: [{type: "Prepend", prepend: "\u2581"},
        {type: "Replace", pattern: {String: " "}, content: "\u2581"}]}' "$TF/stories260K/tokenizer.json" >m/tokenizer.json
    run pic-tok -t m info
    fails_with 1 "field 'add_prefix_space': false, but m/tokenizer.json prepends the word marker \\(its normalizer's Prepend\\)"
    # true beside a Metaspace that never prepends
    jq '.pre_tokenizer.prepend_scheme = "never"' "$TF/stories260K/tokenizer.json" >m/tokenizer.json
    jq '.add_prefix_space = true' "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    run pic-tok -t m info
    fails_with 1 "field 'add_prefix_space': true, but m/tokenizer.json prepends no word marker"
    # agreeing, null (what transformers writes) or another class: the file as it is
    jq '.add_prefix_space = false' "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    echo '{"text": "Once upon"}' | pic-tok -q -t m encode --plain | jq -e '.ids == [441, 416, 331, 407]' # O n ce ▁upon: no marker first
    cp "$TF/stories260K/tokenizer.json" m/
    jq '.add_prefix_space = null' "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    pic-tok -q -t m info >/dev/null
    jq '.add_prefix_space = false | .tokenizer_class = "PreTrainedTokenizerFast"' \
        "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    pic-tok -q -t m info >/dev/null
}

@test "tokenizer_config.json's add_bos_token and add_eos_token are not read: tokenizer.json's post-processor, as transformers 5" {
    # transformers 5 drops both keys when a tokenizer.json is there
    # (PreTrainedTokenizerBase._from_pretrained), so TokenizersBackend keeps
    # the file's post-processor; 4.x's LlamaTokenizerFast rebuilt it from
    # them. DeepSeek-R1-Distill (add_bos_token true, a ByteLevel
    # post-processor): --special adds no BOS (id 515 here)
    a=$(pic-tok -q -t "$TF/deepseek-r1" --raw encode --plain <<<'1+1?' | jq -c .ids)
    b=$(pic-tok -q -t "$TF/deepseek-r1" --special --raw encode --plain <<<'1+1?' | jq -c .ids)
    [ "$a" = "[16,10,16,30]" ]
    [ "$b" = "$a" ]
    # so its chat format, which writes the BOS, takes --special: one BOS
    pic-tok -q -t "$TF/deepseek-r1" --chat deepseek-r1 --special --field problem encode --plain <<<'{"problem": "1+1?"}' |
        jq -e '.ids[:2] == [515, 513]'
    # a template that adds the BOS keeps it beside add_bos_token false, and
    # add_eos_token true adds no EOS
    mkdir m
    cp "$TF/stories260K/tokenizer.json" m/
    jq '.add_bos_token = false | .add_eos_token = true' "$TF/stories260K/tokenizer_config.json" >m/tokenizer_config.json
    echo '{"text": "Once upon a time"}' | pic-tok -q -t m encode --special --plain | jq -e '.ids == [1, 403, 407, 261, 378]'
}

@test "--raw and count: one text per line, counts one per line, CRLF tolerated" {
    printf 'hello world\n\nWhat is 2+2?\r\n' > in.txt
    run pic-tok -q -t "$TF/tiny" --raw count in.txt
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '8\n0\n7')" ]
    # the summary adds up the counts, as encode's adds up the ids
    pic-tok -t "$TF/tiny" --raw count in.txt 2>err >/dev/null
    grep -q "^pic-tok: 3 records, 15 tokens, " err
    pic-tok -t "$TF/tiny" --raw encode --plain in.txt 2>err >/dev/null
    grep -q "^pic-tok: 3 records, 15 tokens, " err
    pic-tok -q -t "$TF/tiny" --raw encode --plain in.txt > out.jsonl
    [ "$(jq -c .text out.jsonl | tr '\n' ' ')" = '"hello world" "" "What is 2+2?" ' ]
    [ "$(jq -c .ids out.jsonl | head -n 1)" = "[294,75,75,78,436,470,75,67]" ]
    # only the line end's CR goes (the reader drops it): a CR of the text
    # stays, where a second one was dropped too
    printf 'a\r\r\nb\r' > cr.txt
    pic-tok -q -t "$TF/tiny" --raw encode --plain cr.txt > cr.jsonl
    [ "$(jq -c .text cr.jsonl | tr '\n' ' ')" = '"a\r" "b" ' ]
    run pic-tok -q -t "$TF/tiny" --raw count cr.txt
    [ "$output" = "$(printf '2\n1')" ]
}

@test "count answers each line at once (a co-process), as encode --plain does" {
    # its numbers waited in stdio's buffer until the input ended
    for cmd in count "encode --plain"; do
        coproc TOK { pic-tok -q -t "$TF/tiny" --raw $cmd; }
        pid=$TOK_PID
        echo 'hello world' >&"${TOK[1]}"
        a=
        read -t 5 -r a <&"${TOK[0]}" || true
        exec {TOK[1]}>&-
        wait "$pid" 2>/dev/null || true
        [ "$a" = "$(echo 'hello world' | pic-tok -q -t "$TF/tiny" --raw $cmd)" ]
    done
}

@test "encode keeps every other field in order; decode adds text; zstd unless --plain" {
    echo '{"id": 7, "problem": "hello world", "z": [1]}' > p.jsonl
    pic-tok -q -t "$TF/tiny" --field problem encode p.jsonl > out.zst
    [ "$(head -c 4 out.zst | od -An -tx1 | tr -d ' ')" = "28b52ffd" ]
    [ "$(zstdcat out.zst)" = '{"id":7,"problem":"hello world","z":[1],"ids":[294,75,75,78,436,470,75,67]}' ]
    zstdcat out.zst | pic-tok -q -t "$TF/tiny" decode -o dec.jsonl --plain
    [ "$(jq -r .text dec.jsonl)" = "hello world" ]
    # --field and --ids-field name decode's fields too, and --raw's text
    zstdcat out.zst | jq -c '{tok: .ids}' | pic-tok -q -t "$TF/tiny" decode --plain --field back --ids-field tok >d2
    [ "$(cat d2)" = '{"tok":[294,75,75,78,436,470,75,67],"back":"hello world"}' ]
    echo 'hello world' | pic-tok -q -t "$TF/tiny" encode --raw --plain --field t >r.jsonl
    [ "$(jq -c 'keys_unsorted' r.jsonl)" = '["t","ids"]' ]
    # a name that is not UTF-8 cannot be a JSON key: the field was left out, exit 0
    run pic-tok -t "$TF/tiny" encode --plain --field problem --ids-field $'\xff' p.jsonl
    fails_with 2 "^pic-tok: --ids-field: the name is not UTF-8"
    run pic-tok -t "$TF/tiny" decode --plain --field $'t\xe9' d2
    fails_with 2 "^pic-tok: --field: the name is not UTF-8"
}

@test "--chat formats the text as a user turn and adds the prompt" {
    echo '{"problem": "What is 2+2?"}' |
        pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat auto --field problem encode --plain > out
    want=$(jq -c '.["qwen2.5/user_only/agp=True"].ids' "$TF/qwen2.5/chat_templates.json")
    [ "$(jq -c .ids out)" = "$want" ]
    [ "$(jq -r .prompt out | head -n 1)" = "<|im_start|>system" ]
    # qwen3-nothink: Qwen3's non-thinking mode, HF's enable_thinking=False ids
    echo '{"problem": "What is 2+2?"}' |
        pic-tok -q -t "$BATS_FILE_TMPDIR/qwen3" --chat qwen3-nothink --field problem encode --plain > out
    want=$(jq -c '.["qwen3/user_only/enable_thinking=False"].ids' "$TF/qwen2.5/chat_templates.json")
    [ "$(jq -c .ids out)" = "$want" ]
    printf 'Q: {problem}\nA:' > tmpl.txt
    echo '{"text": "1+1"}' | pic-tok -q -t "$TF/tiny" --chat tmpl.txt encode --plain > out
    [ "$(jq -r .prompt out)" = "$(printf 'Q: 1+1\nA:')" ]
    # neither a format nor a file: a usage error listing the formats, before the
    # tokenizer loads (this one is not there)
    run pic-tok -t no-tokenizer --chat nothing-here.txt encode
    fails_with 2 "^pic-tok: --chat: 'nothing-here.txt' is neither a format \\(chatml, qwen2.5, qwen2.5-math, qwen3, qwen3-thinking, qwen3-nothink, qwen3-instruct, llama3, llama3.1, deepseek-r1, auto\\) nor a file"
    run pic-tok -t "$TF/tiny" --chat chatm1 count
    fails_with 2 "--chat: 'chatm1' is neither a format"
    # a file that is there but cannot be read stays a runtime failure
    run pic-tok -t "$TF/tiny" --chat . encode </dev/null
    fails_with 1 "^pic-tok: \\.: Is a directory"
    # the file's fault, not the record's
    printf '\xff{problem}' > bad.txt
    run pic-tok -q -t "$TF/tiny" --chat bad.txt encode --plain <<<'{"text": "1+1"}'
    fails_with 1 "^pic-tok: bad.txt: line 1, byte 1: invalid UTF-8 \(0xff\)"
    # a format whose markers the tokenizer lacks: warned, then encoded as text
    run pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat llama3 encode --plain <<<'{"text": "hi"}'
    [ "$status" -eq 0 ]
    grep -q 'the tokenizer has no token <|begin_of_text|>' <<<"$output"
    run pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat chatml encode --plain <<<'{"text": "hi"}'
    ! grep -q 'has no token' <<<"$output" || false
    # Llama 3's formats write <|begin_of_text|>: --special would add a second
    for f in llama3 llama3.1; do
        run pic-tok -q -t "$BATS_FILE_TMPDIR/llama3" --chat $f --special encode --plain <<<'{"text": "hi"}'
        fails_with 2 "^pic-tok: --special: the $f format writes its own BOS, which the post-processor would add again"
        pic-tok -q -t "$BATS_FILE_TMPDIR/llama3" --chat $f encode --plain <<<'{"text": "hi"}' > out
        [ "$(jq '[.ids[] | select(. == 128000)] | length' out)" -eq 1 ]
    done
    # a post-processor that adds no BOS (Qwen's): nothing doubled
    pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat chatml --special encode --plain <<<'{"text": "hi"}' > out
    [ "$(jq -c .ids out)" = "$(pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat chatml encode --plain <<<'{"text": "hi"}' |
        jq -c .ids)" ]
}

@test "--chat auto: a chat_template that is there but is none of the formats is refused, not ChatML from the tokens" {
    mkdir m
    cp "$TF/tiny/tokenizer.json" m/
    # no template: the special tokens tell (the tiny tokenizer has <|im_start|>)
    echo '{}' >m/tokenizer_config.json
    pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}' >out
    [ "$(jq -r .prompt out | head -n 1)" = "<|im_start|>user" ]
    # an unknown (or broken) Jinja template, no string, a list without "default"
    for ct in '"{% for m in messages %}{{ m.content }}{% endfor %"' 7 '[{"name": "tool_use", "template": "x"}]'; do
        echo "{\"chat_template\": $ct}" >m/tokenizer_config.json
        run pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}'
        fails_with 1 "^pic-tok: --chat auto: m/tokenizer_config.json: field 'chat_template': (none of the formats|neither a string)"
        [ "${#lines[@]}" -eq 1 ]
        run pic-tok -t m info
        [ "$status" -eq 0 ]
        grep -q "^pic-tok: m/tokenizer_config.json: field 'chat_template': .*--chat auto refuses it" <<<"$output"
        [ "$(grep '^{' <<<"$output" | jq -c .chat)" = null ]
    done
}

@test "--chat auto: a chat_template.jinja beside the config wins over its chat_template, as in transformers" {
    mkdir m
    cp "$TF/tiny/tokenizer.json" m/
    echo '{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}' >m/tokenizer_config.json
    jq -r '.chat_template' "$BATS_FILE_TMPDIR/qwen2.5/tokenizer_config.json" >m/chat_template.jinja
    pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}' >out
    [ "$(jq -r .prompt out | sed -n 2p)" = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>" ]
    [ "$(pic-tok -t m info | jq -r .chat)" = qwen2.5 ]
    # a file of none of the formats is refused by its name
    echo '{{ messages[0].content }}' >m/chat_template.jinja
    run pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}'
    fails_with 1 "^pic-tok: --chat auto: m/chat_template.jinja: none of the formats"
}

# with_template NAME FILE: a model directory m with the NAME tokenizer and
# its tokenizer_config.json, the chat template FILE's text in it
with_template() {
    mkdir -p m
    cp "$BATS_FILE_TMPDIR/$1/tokenizer.json" m/
    jq --rawfile t "$2" '.chat_template = $t' "$BATS_FILE_TMPDIR/$1/tokenizer_config.json" >m/tokenizer_config.json
}

@test "--chat auto: a ChatML template is told by its default system prompt (Qwen2.5-Math's) and its think block, or refused" {
    with_template qwen2.5 "$TF/qwen2.5-math/chat_template.jinja"
    pic-tok -q -t m --chat auto --field problem encode --plain <<<'{"problem": "2+2?"}' >out
    want=$(jq -c '.["one user turn"].text' "$TF/qwen2.5-math/chat_templates.json" | sed 's/What is 2+2?/2+2?/')
    [ "$(jq -c .prompt out)" = "$want" ]
    [ "$(pic-tok -t m info | jq -r .chat)" = qwen2.5-math ]
    # Qwen2-Instruct's default: ChatML would drop it, so auto refuses
    jq --rawfile t "$TF/qwen2.5-math/chat_template.jinja" \
        '.chat_template = ($t | sub("Please reason step by step, and put your final answer within \\\\\\\\boxed\\{\\}.<"; "You are a helpful assistant.<"))' \
        "$BATS_FILE_TMPDIR/qwen2.5/tokenizer_config.json" >m/tokenizer_config.json
    grep -q "You are a helpful assistant.<" m/tokenizer_config.json
    run pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}'
    fails_with 1 "^pic-tok: --chat auto: m/tokenizer_config.json: field 'chat_template': a ChatML template with the default system prompt 'You are a helpful assistant.'"
    # Qwen3's thinking models: the generation prompt opens the think block
    with_template qwen3 "$TF/qwen3-thinking/chat_template.jinja"
    [ "$(pic-tok -t m info | jq -r .chat)" = qwen3-thinking ]
    pic-tok -q -t m --chat auto encode --plain <<<'{"text": "What is 2+2?"}' >out
    [ "$(jq -c .prompt out)" = "$(jq -c '.["one user turn"].text' "$TF/qwen3-thinking/chat_templates.json")" ]
}

@test "--chat auto: Llama 3.2's template is llama3.1, its system turn of date lines always there" {
    with_template llama3 "$TF/llama3.1/chat_template.jinja"
    pic-tok -q -t m --chat auto --field problem encode --plain <<<'{"problem": "What is 2+2?"}' >out
    [ "$(jq -c .prompt out)" = "$(jq -c '.["one user turn"].text' "$TF/llama3.1/chat_templates.json")" ]
    # <|begin_of_text|> <|start_header_id|> system <|end_header_id|>
    [ "$(jq -c '.ids[0:4]' out)" = '[128000,128006,9125,128007]' ]
    [ "$(pic-tok -t m info | jq -r .chat)" = llama3.1 ]
    # Llama 3's own template (no date lines) stays llama3
    [ "$(pic-tok -t "$BATS_FILE_TMPDIR/llama3" info | jq -r .chat)" = llama3 ]
}

@test "--chat auto: DeepSeek-R1's distilled models are deepseek-r1, each marker one token, a think block opened" {
    # DeepSeek-R1-Distill's template and added tokens (tests/fixtures/tokenizers/deepseek-r1)
    pic-tok -q -t "$TF/deepseek-r1" --chat auto --field problem encode --plain <<<'{"problem": "1+1?"}' >out
    [ "$(jq -c .prompt out)" = '"<｜begin▁of▁sentence｜><｜User｜>1+1?<｜Assistant｜><think>\n"' ]
    # BOS, User ... Assistant, <think>: the ids of the added tokens, not their text
    [ "$(jq -c '.ids[0:2]' out)" = '[515,513]' ]
    [ "$(jq -c '.ids | index([514,516]) > 1' out)" = true ]
    # the same as the format named
    pic-tok -q -t "$TF/deepseek-r1" --chat deepseek-r1 --field problem encode --plain <<<'{"problem": "1+1?"}' >named
    cmp out named
    [ "$(pic-tok -t "$TF/deepseek-r1" info | jq -c '[.chat, .bos, .eos]')" = '["deepseek-r1","<｜begin▁of▁sentence｜>","<｜end▁of▁sentence｜>"]' ]
    # on a vocabulary without its markers: warned, as the other formats
    run pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --chat deepseek-r1 encode --plain <<<'{"text": "hi"}'
    [ "$status" -eq 0 ]
    grep -q 'the tokenizer has no token <｜begin▁of▁sentence｜>' <<<"$output"
    # R1-0528's template (the user turn ends with <｜Assistant｜>, no think
    # block) renders another prompt: refused, not taken for deepseek-r1
    mkdir m
    cp "$TF/deepseek-r1/tokenizer.json" m/
    jq '.chat_template |= sub("<｜User｜>\u0027 \\+ message\\[\u0027content\u0027\\]"; "<｜User｜>\u0027 + message[\u0027content\u0027] + \u0027<｜Assistant｜>\u0027") + "{% set ns.is_last_user = true %}"' \
        "$TF/deepseek-r1/tokenizer_config.json" >m/tokenizer_config.json
    run pic-tok -q -t m --chat auto encode --plain <<<'{"text": "hi"}'
    fails_with 1 "^pic-tok: --chat auto: m/tokenizer_config.json: field 'chat_template': a DeepSeek template whose generation prompt does not open a think block"
}

@test "info: config.json's eos fallback takes LlamaConfig's default 2, as the model loader does" {
    # no tokenizer_config.json: the eos is config.json's; a Llama or
    # Mistral config without the key is eos 2 to the model (LlamaConfig's
    # default, docs/model.md), so pic-tok says the same
    mkdir m
    cp "$TF/tiny/tokenizer.json" m/
    for t in llama mistral; do
        echo "{\"model_type\": \"$t\"}" >m/config.json
        [ "$(pic-tok -t m info | jq -c '[.eos_id, .eos]')" = '[2,"#"]' ]
    done
    # an explicit null is none; Qwen2 and Qwen3 have no default
    echo '{"model_type": "llama", "eos_token_id": null}' >m/config.json
    [ "$(pic-tok -t m info | jq -c .eos_id)" = null ]
    for t in qwen2 qwen3; do
        echo "{\"model_type\": \"$t\"}" >m/config.json
        [ "$(pic-tok -t m info | jq -c .eos_id)" = null ]
    done
    # tokenizer_config.json's eos_token still comes first
    echo '{"eos_token": "<|im_end|>"}' >m/tokenizer_config.json
    echo '{"model_type": "llama"}' >m/config.json
    [ "$(pic-tok -t m info | jq -c .eos)" = '"<|im_end|>"' ]
}

@test "info: vocabulary size, special ids, chat format" {
    run pic-tok -t "$BATS_FILE_TMPDIR/llama3" info
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.vocab_size, .bos_id, .eos, .chat]' <<<"$output")" = '[128256,128000,"<|eot_id|>","llama3"]' ]
    run pic-tok -t "$TF/tiny/tokenizer.json" info
    [ "$(jq -c '[.eos_id, .chat]' <<<"$output")" = '[null,"chatml"]' ]
    # -o writes the line there, plain, as count's (it printed to stdout and
    # never made the file)
    run pic-tok -t "$TF/tiny/tokenizer.json" info -o info.json
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$(jq -c '[.eos_id, .chat]' info.json)" = '[null,"chatml"]' ]
    # a path that is not UTF-8 is still reported (the field was left out):
    # its stray bytes as U+FFFD, its characters as they are
    mkdir "$(printf 'd\377\303\251')"
    cp "$TF/tiny/tokenizer.json" "$(printf 'd\377\303\251')/"
    run pic-tok -t "$(printf 'd\377\303\251')" info
    [ "$status" -eq 0 ]
    [ "$(jq -r .tokenizer <<<"$output")" = "$(printf 'd\357\277\275\303\251/tokenizer.json')" ]
}

@test "a megabyte of spaces, digits or one word: linear time through pic-tok" {
    for gen in "tr '\\0' ' '" "tr '\\0' '7'" "tr '\\0' 'q'"; do
        head -c 1048576 /dev/zero | eval "$gen" > big.txt
        start=$(date +%s%N)
        pic-tok -q -t "$BATS_FILE_TMPDIR/qwen2.5" --raw count big.txt > n
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        echo "$gen: $ms ms, $(cat n) tokens"
        [ "$(cat n)" -gt 0 ]
        [ "$ms" -lt 10000 ] # loading takes ~0.3 s; quadratic would take hours
    done
}

@test "a merge of two empty tokens loads, as in tokenizers (under make asan: no NULL to memcpy)" {
    jq -c '.model.vocab[""] = (.model.vocab | length) | .added_tokens[].id += 1 | .model.merges = [["", ""]] + .model.merges' \
        "$TF/tiny/tokenizer.json" >e.json
    pic-tok -t "$TF/tiny/tokenizer.json" --plain encode <<<'{"text": "1 plus 7 is 8"}' >want
    pic-tok -t e.json --plain encode <<<'{"text": "1 plus 7 is 8"}' >got
    cmp want got
    [ "$(jq -c '.ids | length' got)" -gt 3 ]
}

@test "malformed tokenizer files: exit 1 naming the file and the field" {
    run pic-tok -t missing.json info
    fails_with 1 "missing.json: No such file"
    head -c 5000 "$TF/tiny/tokenizer.json" > cut.json
    run pic-tok -t cut.json info
    fails_with 1 "cut.json:[0-9]+:[0-9]+: malformed JSON"
    # a raw NUL byte after an id: jansson alone dropped it and loaded the file
    perl -0pe 's/("id": *[0-9]+)/$1\0/' "$TF/tiny/tokenizer.json" >nul.json
    [ "$(tr -cd '\000' <nul.json | wc -c)" -eq 1 ]
    run pic-tok -t nul.json info
    fails_with 1 "^pic-tok: nul.json:[0-9]+:[0-9]+: malformed JSON: a raw NUL byte"
    # tokenizer_config.json's tokens are looked up by their length: a C
    # string made "<|eot_id|>\u0000x" Llama 3's <|eot_id|>
    mkdir l3
    cp "$BATS_FILE_TMPDIR/llama3/tokenizer.json" l3/
    jq '.eos_token = "<|eot_id|>\u0000x"' "$TF/llama3/tokenizer_config.json" >l3/tokenizer_config.json
    run pic-tok -t l3 info
    fails_with 1 "^pic-tok: l3/tokenizer_config.json: field 'eos_token': token '<\|eot_id\|>' followed by \\\\u0000 and more is not in the vocabulary$"
    jq '.model.merges[1] = ["Ġ", "nosuchtoken"]' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "m.json: field 'model.merges\[1\]': 'nosuchtoken' is not in the vocabulary"
    jq '.model.merges |= map(join(" ")) | .model.merges[2] = "a b c"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'model.merges\[2\]': expected \"left right\""
    jq '.pre_tokenizer.pretokenizers[0].type = "Whitespace"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer.pretokenizers\[0\]': unsupported pre_tokenizer type 'Whitespace'"
    jq '.pre_tokenizer.pretokenizers[0].type = "Split\u0000x"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer.pretokenizers\[0\]': 'type' contains a NUL character"
    jq '.pre_tokenizer.pretokenizers[0].pattern.Regex = "(unclosed"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer.pretokenizers\[0\].pattern': bad regex"
    # Oniguruma's classes nest and intersect; PCRE2 would read the inner '['
    # and '&&' as characters of the class and match other text, silently
    jq '.pre_tokenizer.pretokenizers[0].pattern.Regex = "[a-z&&[^aeiou]]+|\\s+"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer.pretokenizers\[0\].pattern': a character class inside a class or '&&' .* at offset 4: not supported"
    jq '.pre_tokenizer.pretokenizers[0].pattern.Regex = "[^\\]\\[[:alpha:]\\]]+| ?[\\[]"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    [ "$status" -eq 0 ] # escaped brackets and POSIX brackets are no nesting
    # Oniguruma's (?m) is PCRE2's (?s), dot matches newline; its s is an error
    jq '.pre_tokenizer.pretokenizers[0].pattern.Regex = "[(?m)]|(?im:a.)|\\s+"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer.pretokenizers\[0\].pattern': an inline option other than i and x at offset 7"
    # tokenizers versions disagree on "$1" in a Regex Replace (literal, or a group)
    jq '.normalizer = {"type": "Replace", "pattern": {"Regex": "(a)"}, "content": "$1 "}' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'normalizer': a Regex Replace whose 'content' holds '\\\$'"
    jq '.pre_tokenizer = {"type": "Metaspace", "replacement": "x", "add_prefix_space": false, "prepend_scheme": "first"}' \
        "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'pre_tokenizer': add_prefix_space false contradicts prepend_scheme 'first'"
    # an absent prepend_scheme is "always" to tokenizers, so add_prefix_space false alone is refused too
    jq '.decoder = {"type": "Metaspace", "replacement": "x", "add_prefix_space": false}' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'decoder': add_prefix_space false contradicts prepend_scheme 'always', its default"
    # padding, like truncation, is what transformers turns off unless asked
    jq '.padding = {"strategy": {"Fixed": 8}, "pad_id": 0, "pad_token": "!"}' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    [ "$status" -eq 0 ]
    grep -q "m.json: field 'padding': ignored" <<<"$output"
    jq '.model.type = "Unigram"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "unsupported model type 'Unigram'"
    jq '.model.vocab.x = -3' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'model.vocab': expected a token id"
    # tokenizers numbers added tokens itself (the file's id draws a warning):
    # a new one comes next after the vocabulary, one of the vocabulary keeps its id
    jq '.added_tokens[0].id = 600' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'added_tokens\[0\]': id 600, but tokenizers gives '<.endoftext.>' id 509"
    jq '.added_tokens[0].content = "a"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'added_tokens\[0\]': id 509, but tokenizers gives 'a' id $(jq '.model.vocab.a' m.json)"
    jq '.added_tokens[1].content = "<|endoftext|>"' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "field 'added_tokens\[1\]': id 510, but tokenizers gives '<.endoftext.>' id 509"
    # a normalized token the normalizer changes: tokenizers 0.23 stores and
    # decodes it normalized (and skips it as special no more), 0.22 as written
    jq '.added_tokens[0].content = "A\u030a" | .added_tokens[0].normalized = true' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "m.json: field 'added_tokens\[0\]': 'A.*' is normalized and the normalizer changes it"
    # the two forms of merges in one list: tokenizers refuses the file
    jq '.model.merges[1] = (.model.merges[1] | join(" "))' "$TF/tiny/tokenizer.json" > m.json
    run pic-tok -t m.json info
    fails_with 1 "m.json: field 'model.merges\[1\]': merges mix"
    # but not without bound: a 3 KB file with id 1e9 took 7 s and 13 GB to load
    jq '.added_tokens[0].id = 1000000000' "$TF/tiny/tokenizer.json" > m.json
    run timeout 5 pic-tok -t m.json info
    fails_with 1 "m.json: field 'added_tokens\[0\].id': id 1000000000 is beyond the [0-9]+ ids this file describes"
    jq '.model.vocab.x = 1000000000' "$TF/tiny/tokenizer.json" > m.json
    run timeout 5 pic-tok -t m.json info
    fails_with 1 "m.json: field 'model.vocab': id 1000000000 is beyond"
}

@test "bad records: exit 1 naming file, line and field; --skip-bad counts them" {
    printf '{"text": "ok"}\n{"txt": "no"}\n{"text": 5}\nnot json\n' > in.jsonl
    run pic-tok -t "$TF/tiny" encode --plain in.jsonl
    fails_with 1 "in.jsonl:2: field 'text': missing"
    run pic-tok -t "$TF/tiny" encode --plain --skip-bad in.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '"ids"' <<<"$output")" -eq 1 ]
    grep -q "3 bad records skipped" <<<"$output"
    printf '{"ids": [1, 2]}\n{"ids": [1, 99999]}\n' > ids.jsonl
    run pic-tok -t "$TF/tiny" decode --plain ids.jsonl
    fails_with 1 "ids.jsonl:2: field 'ids': element 1: id 99999 is not in the vocabulary"
    # an id below the size that names no token (the vocabulary has a hole):
    # "not in the vocabulary (size 3)" read wrong for id 1
    jq -n '{version: "1.0", added_tokens: [], model: {type: "BPE", vocab: {a: 0, b: 2}, merges: []}}' > holes.json
    printf '{"ids": [0, 1]}\n' > ids.jsonl
    run pic-tok -t holes.json decode --plain ids.jsonl
    fails_with 1 "ids.jsonl:1: field 'ids': element 1: id 1 names no token \(a hole in the vocabulary of size 3\)"
    # the size itself is past the end, not a hole
    printf '{"ids": [0, 3]}\n' > ids.jsonl
    run pic-tok -t holes.json decode --plain ids.jsonl
    fails_with 1 "ids.jsonl:1: field 'ids': element 1: id 3 is not in the vocabulary \(size 3\)"
    printf '{"ids": [1, "x"]}\n' > ids.jsonl
    run pic-tok -t "$TF/tiny" decode --plain ids.jsonl
    fails_with 1 "ids.jsonl:1: field 'ids': element 1 is not a token id"
    printf 'fine\nbad \xff byte\n' > raw.txt
    run pic-tok -t "$TF/tiny" --raw count raw.txt
    fails_with 1 "raw.txt:2: invalid UTF-8 at byte 4"
    # through --chat the byte is still the line's, not the rendered prompt's
    # (it said byte 21: 17 bytes of ChatML before the text)
    run pic-tok -t "$TF/tiny" --raw --chat chatml count raw.txt
    fails_with 1 "raw.txt:2: invalid UTF-8 at byte 4$"
}

@test "usage errors exit 2" {
    run pic-tok -t "$TF/tiny" frobnicate
    fails_with 2 "unknown command 'frobnicate'"
    run pic-tok encode
    fails_with 2 "--tokenizer is required"
    run pic-tok -t "$TF/tiny"
    fails_with 2 "missing command"
    run pic-tok -t "$TF/tiny" --raw decode
    fails_with 2 "--raw is for encode and count"
    run pic-tok -t "$TF/tiny" --level 30 encode
    fails_with 2 "--level"
    run pic-tok -t "$TF/tiny" --skip-special encode
    fails_with 2 "--skip-special is for decode"
    # options a command would quietly ignore: info reads no records, count
    # writes plain numbers, count --raw reads lines
    for o in '--field x' '--ids-field x' --skip-bad '--level 5' --special; do
        run pic-tok -t "$TF/tiny" $o info
        fails_with 2 "^pic-tok: ${o% *} is for "
    done
    run pic-tok -t "$TF/tiny" --ids-field x count </dev/null
    fails_with 2 "^pic-tok: --ids-field is for encode and decode"
    run pic-tok -t "$TF/tiny" --level 5 count </dev/null
    fails_with 2 "^pic-tok: --level is for encode and decode"
    # --plain too: the counts and the info line are plain text anyway (it
    # was taken and ignored, as pic-cat -n refuses it)
    for cmd in count info; do
        run pic-tok -t "$TF/tiny" --plain $cmd </dev/null
        fails_with 2 "^pic-tok: --plain is for encode and decode"
    done
    run pic-tok -t "$TF/tiny" --raw --field x count </dev/null
    fails_with 2 "^pic-tok: --field is for encode, decode and count of JSON records"
    # two things under one key: the record lost its text, ids or prompt
    run pic-tok -t "$TF/tiny" --ids-field text encode </dev/null
    fails_with 2 "^pic-tok: --field and --ids-field both name 'text'"
    run pic-tok -t "$TF/tiny" --field ids decode </dev/null
    fails_with 2 "^pic-tok: --field and --ids-field both name 'ids'"
    run pic-tok -t "$TF/tiny" --chat chatml --ids-field prompt encode </dev/null
    fails_with 2 "^pic-tok: --ids-field: --chat encode writes the rendered prompt to 'prompt'"
    run pic-tok -t "$TF/tiny" --chat chatml --raw --field prompt encode </dev/null
    fails_with 2 "^pic-tok: --field: --chat encode writes the rendered prompt to 'prompt'"
    # count writes no record: its --field may be 'prompt'
    pic-tok -q -t "$TF/tiny" --chat chatml --field prompt count <<<'{"prompt": "hi"}' >/dev/null
    run pic-tok --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
    run pic-tok --version
    [[ "$output" == "pic-tok (pic) "* ]]
}

@test "synthetic tokenizers (every component pic reads): tokenizers 0.23.2's ids and text" {
    # tests/fixtures/tokenizers/synthetic/oracle: seeded files and the
    # library's own output for each text (PROVENANCE.md, gen_fixtures.py)
    n=0
    for tok in "$TF"/synthetic/oracle/*.json; do
        exp=${tok%.json}.expected.jsonl
        jq -c '{text}' "$exp" | pic-tok -q -t "$tok" encode --plain | jq -c .ids > got
        jq -c .ids "$exp" | diff - got
        jq -c '{text}' "$exp" | pic-tok -q -t "$tok" --special encode --plain | jq -c .ids > got
        jq -c .ids_special "$exp" | diff - got
        jq -c '{ids: .ids_special}' "$exp" | pic-tok -q -t "$tok" decode --plain | jq -c .text > got
        jq -c .decoded "$exp" | diff - got
        jq -c '{ids: .ids_special}' "$exp" | pic-tok -q -t "$tok" decode --skip-special --plain | jq -c .text > got
        jq -c .decoded_skip "$exp" | diff - got
        n=$((n + $(wc -l < "$exp")))
    done
    [ "$n" -ge 200 ]
}
