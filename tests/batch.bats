#!/usr/bin/env bats
# pic-batch: step batches are deterministic, cover each epoch exactly once.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    pic-task -q --plain -n 10 > p.jsonl
}

@test "each epoch is a permutation: steps 1..5 of size 4 cover the data twice" {
    for s in 1 2 3 4 5; do pic-batch -q --plain --step $s --size 4 p.jsonl; done > all.jsonl
    [ "$(wc -l < all.jsonl)" -eq 20 ]
    [ "$(head -n 10 all.jsonl | jq .id | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 " ]
    [ "$(tail -n 10 all.jsonl | jq .id | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 " ]
    # shuffled, and differently in the two epochs
    [ "$(head -n 10 all.jsonl | jq -c .id | tr '\n' ' ')" != "0 1 2 3 4 5 6 7 8 9 " ]
    [ "$(head -n 10 all.jsonl | jq -c .id)" != "$(tail -n 10 all.jsonl | jq -c .id)" ]
}

@test "docs/tools.md's example: the batches of five records, and each step's epoch" {
    pic-task -q -n 5 -o five.jsonl.zst
    for s in 1 2 3; do pic-batch -q --step $s --size 3 --plain five.jsonl.zst | jq -c .id | paste -sd' '; done >ids
    printf '0 3 2\n4 1 0\n3 4 1\n' | cmp - ids
    [ "$(pic-batch -q --step 2 --size 3 --plain --no-shuffle five.jsonl.zst | jq -c .id | paste -sd' ')" = "3 4 0" ]
    # the summary names the epoch of the step's first position, from 0
    run pic-batch --step 2 --size 3 --plain five.jsonl.zst
    [ "${lines[3]}" = "pic-batch: step 2: 3 prompts from 5 (epoch 0)" ]
    run pic-batch --step 3 --size 3 --plain five.jsonl.zst
    [ "${lines[3]}" = "pic-batch: step 3: 3 prompts from 5 (epoch 1)" ]
    # every order is drawn: two records come in both orders over the epochs
    head -2 p.jsonl >two
    for s in $(seq 1 16); do pic-batch -q --plain --step "$s" --size 2 two | jq -c .id | paste -sd' '; done | sort -u >orders
    printf '0 1\n1 0\n' | cmp - orders
}

@test "a step's batch depends only on seed and step; records pass through whole" {
    pic-batch -q --plain --step 3 --size 4 --seed 5 p.jsonl > a.jsonl
    pic-batch -q --plain --step 3 --size 4 --seed 5 < p.jsonl > b.jsonl
    cmp a.jsonl b.jsonl
    pic-batch -q --plain --step 3 --size 4 --seed 6 p.jsonl > c.jsonl
    ! cmp -s a.jsonl c.jsonl || false
    id=$(jq .id a.jsonl | head -n 1)
    [ "$(head -n 1 a.jsonl)" = "$(jq -c "select(.id == $id)" p.jsonl)" ]
}

@test "--no-shuffle walks the file in order" {
    [ "$(pic-batch -q --plain --no-shuffle --step 3 --size 4 p.jsonl | jq .id | tr '\n' ' ')" = "8 9 0 1 " ]
    # the seed draws only the permutations: beside --no-shuffle it did nothing, exit 0
    run pic-batch -q --plain --no-shuffle --seed 7 --step 3 --size 4 p.jsonl
    fails_with 2 '^pic-batch: --seed does nothing with --no-shuffle'
}

@test "errors: missing options, empty input, bad records" {
    run pic-batch --size 4 p.jsonl
    fails_with 2 '--step is required'
    # step x size past 2^64 wrapped: an empty batch, or another step's, with exit 0
    run pic-batch --plain --step 1099511627776 --size 1073741824 p.jsonl
    fails_with 2 '--step 1099511627776 with --size 1073741824: .* past 2\^64'
    run pic-batch --plain --step 17179869184 --size 1073741824 p.jsonl
    fails_with 2 'past 2\^64'
    # past the caps, and past what a 64-bit integer holds: out of range, not "not an integer"
    run pic-batch --step 1099511627777 --size 1 p.jsonl
    fails_with 2 '^pic-batch: --step: 1099511627777 is outside \[1, 1099511627776\]$'
    run pic-batch --step 1 --size 1073741825 p.jsonl
    fails_with 2 '^pic-batch: --size: 1073741825 is outside \[1, 1073741824\]$'
    run pic-batch --step 18446744073709551615 --size 1 p.jsonl
    fails_with 2 '^pic-batch: --step: 18446744073709551615 is outside \[1, 1099511627776\]$'
    run pic-batch --step 1 --size -99999999999999999999 p.jsonl
    fails_with 2 '^pic-batch: --size: -99999999999999999999 is outside \[1, 1073741824\]$'
    run pic-batch --step 1x --size 1 p.jsonl
    fails_with 2 "--step: '1x' is not an integer"
    # the caps are in --help
    pic-batch --help | grep -q 'from 1, at most 2^40'
    pic-batch --help | grep -q 'at most 2^30'
    # the largest step is served: position 2^40 - 1 is record 5 of 10
    [ "$(pic-batch -q --plain --no-shuffle --step 1099511627776 --size 1 p.jsonl | jq .id)" = 5 ]
    run pic-batch --step 1 --size 4 /dev/null
    fails_with 1 '^pic-batch: /dev/null: no prompt records$'
    run pic-batch --step 1 --size 4 - </dev/null
    fails_with 1 '^pic-batch: <stdin>: no prompt records$'
    printf '{"id":1}\n{"id":\n' > bad.jsonl
    run pic-batch --step 1 --size 1 bad.jsonl
    fails_with 1 'bad.jsonl:2: malformed JSON'
    # --skip-bad, as every record reader: the dataset is what remains
    printf '{"id":2}\n' >>bad.jsonl
    run pic-batch --step 1 --size 2 --no-shuffle --plain --skip-bad bad.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '^{' <<<"$output")" -eq 2 ]
    grep -q '2 prompts from 2 (epoch 0), 1 bad record skipped' <<<"$output"
}

@test "memory: about the input's size, not nine times it" {
    [ -x /usr/bin/time ] || skip "no GNU time"
    ! ldd "$(command -v pic-batch)" | grep -q libasan || skip "memory is not measured under AddressSanitizer"
    seq 1 100000 | awk '{ printf "{\"id\":%d,\"problem\":\"What is %d + %d? A sentence of padding to make the record longer.\",\"answer\":\"%d\"}\n", $1, $1, $1, 2 * $1 }' >big.jsonl
    /usr/bin/time -f %M -o rss pic-batch --step 2 --size 8 --plain big.jsonl >/dev/null 2>&1
    in_kb=$(( $(stat -c %s big.jsonl) / 1024 ))
    # the text once, a few pointers a record, and the program itself (~4 MB)
    [ "$(cat rss)" -lt $(( 3 * in_kb + 8192 )) ] || { echo "rss $(cat rss) KB for $in_kb KB" >&2; false; }
}

@test "two different records of one id are refused: GRPO would group their samples as one problem" {
    # two pic-task files, each numbered from 0: pic-update groups a step's
    # samples by id, so problem 3 of one and of the other shared a baseline
    pic-task -q --plain -n 4 --seed 2 > q.jsonl
    run pic-batch --plain --step 1 --size 4 p.jsonl q.jsonl
    fails_with 1 "^pic-batch: q.jsonl:1: field 'id': 0 is also the id of p.jsonl:1, another record"
    [ "$(grep -c '^{' <<<"$output")" -eq 0 ]
    # an id's text is its group: 3 and "3" are one
    printf '{"id":3,"problem":"a"}\n{"id":"3","problem":"b"}\n' > s.jsonl
    run pic-batch --plain --step 1 --size 1 s.jsonl
    fails_with 1 "^pic-batch: s.jsonl:2: field 'id': \"3\" is also the id of s.jsonl:1"
    # --skip-bad keeps the first
    run pic-batch --plain --no-shuffle --skip-bad --step 1 --size 2 s.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '"problem":"a"' <<<"$output")" -eq 2 ]
    grep -q '1 bad record skipped' <<<"$output"
    # a row given twice whole is one problem, as an epoch's end and the next
    # epoch's start give it; records without an id are not checked
    cat p.jsonl p.jsonl > pp.jsonl
    printf '{"problem":"x"}\n{"problem":"y"}\n' >> pp.jsonl
    pic-batch -q --plain --step 1 --size 22 pp.jsonl > out.jsonl
    [ "$(wc -l < out.jsonl)" -eq 22 ]
    # an id with a NUL in it is left to pic-update, not compared cut at the NUL
    printf '{"id":"a\\u0000b","problem":"a"}\n{"id":"a\\u0000c","problem":"b"}\n' > nul.jsonl
    [ "$(pic-batch -q --plain --no-shuffle --step 1 --size 2 nul.jsonl | jq -r .problem | paste -sd' ')" = "a b" ]
}

@test "one record given twice with its members in another order is one problem, not two of one id" {
    # a copy another tool wrote (jq -S, a Python script) orders the keys its
    # own way: the same problem, compared as JSON values
    printf '{"id":1,"problem":"a","answer":"2"}\n' > a.jsonl
    printf '{"answer":"2","id":1, "problem":"a"}\n' > b.jsonl
    run pic-batch --plain --no-shuffle --step 1 --size 2 a.jsonl b.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '"problem":"a"' <<<"$output")" -eq 2 ]
    # a member's value that differs is still another record
    printf '{"answer":"3","id":1,"problem":"a"}\n' > c.jsonl
    run pic-batch --plain --step 1 --size 1 a.jsonl c.jsonl
    fails_with 1 "^pic-batch: c.jsonl:1: field 'id': 1 is also the id of a.jsonl:1, another record"
}
