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

@test "a step's batch depends only on seed and step; records pass through whole" {
    pic-batch -q --plain --step 3 --size 4 --seed 5 p.jsonl > a.jsonl
    pic-batch -q --plain --step 3 --size 4 --seed 5 < p.jsonl > b.jsonl
    cmp a.jsonl b.jsonl
    pic-batch -q --plain --step 3 --size 4 --seed 6 p.jsonl > c.jsonl
    ! cmp -s a.jsonl c.jsonl
    id=$(jq .id a.jsonl | head -n 1)
    [ "$(head -n 1 a.jsonl)" = "$(jq -c "select(.id == $id)" p.jsonl)" ]
}

@test "--no-shuffle walks the file in order" {
    [ "$(pic-batch -q --plain --no-shuffle --step 3 --size 4 p.jsonl | jq .id | tr '\n' ' ')" = "8 9 0 1 " ]
}

@test "errors: missing options, empty input, bad records" {
    run pic-batch --size 4 p.jsonl
    fails_with 2 -- '--step is required'
    run pic-batch --step 1 --size 4 /dev/null
    fails_with 1 'no prompt records'
    printf '{"id":1}\n{"id":\n' > bad.jsonl
    run pic-batch --step 1 --size 1 bad.jsonl
    fails_with 1 'bad.jsonl:2: malformed JSON'
}
