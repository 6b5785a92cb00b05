#!/usr/bin/env bats
# pic-init's tokenizer files as HuggingFace's libraries read them: the ids
# and text that tests/fixtures/tokenizers/pic-init/hf_encodings.jsonl holds
# were written by HF tokenizers 0.23.2 (its PROVENANCE.md), for the file as
# it is (tokenizers, transformers 4) and as transformers 5 rebuilds it.
load helpers

PI="$FIXTURES/tokenizers/pic-init"

# agrees NAME DIR: pic-tok on DIR's tokenizer gives HF's ids, text and
# text without specials for every text of the fixture's NAME rows
agrees() {
    jq -c --arg n "$1" 'select(.tokenizer == $n)' "$PI/hf_encodings.jsonl" > "$1.hf.jsonl"
    [ -s "$1.hf.jsonl" ]
    jq -c '{text}' "$1.hf.jsonl" | pic-tok -q -t "$2" encode --plain |
        pic-tok -q -t "$2" decode --plain --field decoded |
        pic-tok -q -t "$2" decode --plain --skip-special --field decoded_skip > "$1.pic.jsonl"
    jq -c '{text, ids, decoded, decoded_skip}' "$1.hf.jsonl" > want
    jq -c '{text, ids, decoded, decoded_skip}' "$1.pic.jsonl" > got
    diff want got
}

@test "HF's tokenizers and transformers 5 read pic-init's tokenizers as pic-tok does" {
    pic-init -q -o bytes
    pic-init -q -o small --corpus "$PI/corpus.jsonl" --merges 200
    pic-task -q --solutions -n 4000 --seed 7 -d 1 -o demo.jsonl.zst
    # the demo's (pipelines/demo.sh)
    pic-init -q -o demo --corpus demo.jsonl.zst --merges 64
    for t in bytes small demo; do agrees "$t" "$t"; done
}

@test "tokenizer_config.json turns transformers' clean-up of decoded text off, as Qwen2.5's" {
    # transformers 4 before 4.45 defaults clean_up_tokenization_spaces to
    # true and then decodes "11 ." as "11." (its FutureWarning, issue
    # 31884): the text pic-tok and tokenizers decode must be what it gives
    pic-init -q -o m
    jq -e '.clean_up_tokenization_spaces == false' m/tokenizer_config.json
    [ "$(jq .clean_up_tokenization_spaces "$FIXTURES/tokenizers/qwen2.5/tokenizer_config.json")" = false ]
}
