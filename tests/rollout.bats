#!/usr/bin/env bats
# pic-rollout generation: greedy against transformers and run.c, determinism
# across batch sizes, threads and shards, its own numbers under --score,
# stops, templates and bad prompts.
load helpers

M="$FIXTURES/models"

# prompts of the golden greedy continuations of model $1
golden_prompts() {
    jq -c '.greedy | to_entries[] | {id: .key, prompt_ids: .value.prompt_ids}' "$M/$1/golden.json"
}

# ten problems of different lengths
problems() {
    for i in 0 1 2 3 4 5 6 7 8 9; do
        jq -nc --arg i "$i" '{id: ($i | tonumber), problem: ("What is " + $i + " + " + ($i | tonumber * 7 | tostring) + "? " + ("Think. " * ($i | tonumber))), answer: "x"}'
    done
}

@test "greedy continuations equal transformers' for the three tiny models" {
    for m in qwen2-tiny qwen3-tiny llama-tiny; do
        # every top-2 gap of these goldens exceeds 1e-4 (checked here), so all 24 tokens must agree
        [ "$(jq '[.greedy[].top2_gap[]] | min > 1e-4' "$M/$m/golden.json")" = true ]
        golden_prompts "$m" >p
        pic-rollout -m "$M/$m" -t 0 --max-new-tokens 24 --ignore-eos --plain -q p >out
        [ "$(jq -c '.response_ids' out)" = "$(jq -c '.greedy[].new_ids' "$M/$m/golden.json")" ]
        [ "$(jq -r '.finish' out | sort -u)" = length ]
    done
}

@test "stories260K: 200 greedy tokens after BOS equal run.c's" {
    echo '{"prompt_ids": [1]}' >p
    pic-rollout -m "$M/stories260K/hf" -t 0 --max-new-tokens 200 --plain -q p >out
    [ "$(jq -c '[1] + .response_ids' out)" = "$(jq -c -s '.' "$M/stories260K/expected_greedy_ids.txt")" ]
    # the same from text: --add-special puts the BOS in front of an empty-looking prompt
    echo '{"prompt": "Once upon a time"}' >q
    pic-rollout -m "$M/stories260K/hf" -t 0 --max-new-tokens 20 --add-special --plain -q q >o2
    [ "$(jq -c '.prompt_ids' o2)" = "[1,403,407,261,378]" ]
    # and in front of a chat prompt: the ids pic-tok gives the problem as one user turn with --special
    echo '{"problem": "Once upon a time"}' >c
    pic-rollout -m "$M/stories260K/hf" -t 0 --max-new-tokens 2 --template chatml --add-special --plain -q c >o3
    jq -c '{text: .problem}' c | pic-tok -t "$M/stories260K/hf" --chat chatml --special encode --plain -q | jq -c .ids >want
    [ "$(head -c 3 want)" = "[1," ]
    jq -c .prompt_ids o3 | cmp - want
    # without --add-special neither a raw problem nor a chat prompt gets the BOS
    pic-rollout -m "$M/stories260K/hf" -t 0 --max-new-tokens 2 --template chatml --plain -q c >o4
    jq -c '{text: .problem}' c | pic-tok -t "$M/stories260K/hf" --chat chatml encode --plain -q | jq -c .ids >want
    [ "$(head -c 3 want)" != "[1," ]
    jq -c .prompt_ids o4 | cmp - want
    # and a raw problem is the same text as a prompt: its BOS with --add-special
    pic-rollout -m "$M/stories260K/hf" -t 0 --max-new-tokens 2 --add-special --plain -q c >o5
    [ "$(jq -c '.prompt_ids' o5)" = "[1,403,407,261,378]" ]
}

@test "sample records: fields in order, one per sample, input order, finish and temperature" {
    problems | head -3 >p
    pic-rollout -m "$M/qwen2-tiny" -n 2 --max-new-tokens 5 --seed 1 --plain -q p >out
    [ "$(wc -l <out)" -eq 6 ]
    [ "$(jq -c '[.id, .sample]' out | tr -d '\n')" = "[0,0][0,1][1,0][1,1][2,0][2,1]" ]
    [ "$(head -1 out | jq -c 'keys_unsorted')" = '["id","problem","answer","sample","prompt_ids","response","response_ids","logprobs","entropy","finish","temperature"]' ]
    jq -se 'all(.[]; (.response_ids | length) == 5 and (.logprobs | length) == 5 and (.entropy | length) == 5
           and .finish == "length" and .temperature == 1 and all(.logprobs[]; . <= 0) and all(.entropy[]; . >= 0))' out
    # a top-k of the whole vocabulary (512) or more is no top-k: the same draws
    for k in 512 100000; do
        pic-rollout -m "$M/qwen2-tiny" -n 2 --max-new-tokens 5 --seed 1 --top-k $k --plain -q p | cmp - out
    done
    pic-rollout -m "$M/qwen2-tiny" -n 2 --max-new-tokens 5 --seed 1 --top-k 511 --plain -q p >k511
    ! cmp -s k511 out || false # a k below it truncates, and draws in sorted order
    # zstd unless --plain
    pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 2 -q p >z
    [ "$(head -c 4 z | od -An -tx1 | tr -d ' ')" = 28b52ffd ]
}

@test "the same bytes at batch sizes 1, 7 and 64, with one thread, and with tiny token budgets" {
    problems >p
    for b in 1 7 64; do
        pic-rollout -m "$M/llama-tiny" -n 3 --max-new-tokens 30 --top-p 0.95 --seed 7 --max-batch-size "$b" --plain -q p >"out$b"
    done
    cmp out1 out7
    cmp out1 out64
    pic-rollout -m "$M/llama-tiny" -n 3 --max-new-tokens 30 --top-p 0.95 --seed 7 --threads 1 --max-batch-tokens 5 --plain -q p >t1
    cmp out1 t1
    # lengths differ (stop string), so sequences leave and join at different steps
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 1 --plain -q p >s1
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 7 --plain -q p >s7
    cmp s1 s7
    # few slots: a prompt's first sample can end before its siblings start,
    # and they run in its (then idle) home slot, or copy the prompt from it
    # (both happen at these settings)
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 2 --plain -q p >s2
    cmp s1 s2
    # many slots: several prompts prefilled in one pass, first samples ending at once,
    # so idle homes of later prompts wait while an earlier prompt's samples fork past them
    pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 20 --stop j --seed 3 --max-batch-size 1 --plain -q p >h1
    pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 20 --stop j --seed 3 --max-batch-size 16 --plain -q p >h16
    cmp h1 h16
    pic-rollout -m "$M/qwen2-tiny" -n 5 --max-new-tokens 40 --stop a --seed 3 --max-batch-size 1 --plain -q p >a1
    pic-rollout -m "$M/qwen2-tiny" -n 5 --max-new-tokens 40 --stop a --seed 3 --max-batch-size 4 --plain -q p >a4
    cmp a1 a4
    # every sample ends on its first token, more samples than slots: the home
    # stays pinned for the sixth while three slots are free, and the next
    # prompt's prefill goes to a free one, not into the idle home
    pic-rollout -m "$M/qwen2-tiny" -n 6 --max-new-tokens 1 --seed 3 --max-batch-size 1 --plain -q p >f1
    pic-rollout -m "$M/qwen2-tiny" -n 6 --max-new-tokens 1 --seed 3 --max-batch-size 4 --plain -q p >f4
    cmp f1 f4
    # new prompts prefilled beside the sequences in flight, or in a pass of
    # their own when they do not fit beside them
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 7 --max-batch-tokens 9 \
        --plain -q p >s7t
    cmp s1 s7t
    [ "$(jq -r '.finish' s7 | sort -u | tr '\n' ' ')" = "length stop " ]
    # another seed gives other samples
    pic-rollout -m "$M/llama-tiny" -n 3 --max-new-tokens 30 --top-p 0.95 --seed 8 --plain -q p >o8
    run cmp -s out1 o8
    [ "$status" -ne 0 ]
}

@test "a prompt's samples sharing its last page fit the default cache: no preemption, the bytes of one at a time" {
    # 40 + 10 positions: one page a sequence, 8 in the pool; the 8 samples share the prompt's page, and their
    # first writes copy it 7 times, the last writing in place (counting 8 copies preempted one and recomputed it)
    jq -nc '{id: 0, prompt_ids: [range(40) | . * 3 + 5]}' >p
    pic-rollout -m "$M/qwen2-tiny" -n 8 --max-batch-size 8 --max-new-tokens 10 --ignore-eos --seed 3 --plain p >b8 2>err
    grep -q 'KV cache peak 512 of 512 positions$' err
    pic-rollout -m "$M/qwen2-tiny" -n 8 --max-batch-size 1 --max-new-tokens 10 --ignore-eos --seed 3 --plain -q p >b1
    [ "$(wc -l <b8)" -eq 8 ]
    cmp b1 b8
}

@test "--kv-cache-tokens: a cache short of pages preempts and recomputes sequences, and the bytes stay the same" {
    problems >p
    pic-rollout -m "$M/llama-tiny" -n 4 --max-new-tokens 100 --ignore-eos --top-p 0.95 --seed 7 --max-batch-size 16 \
        --plain p >full 2>err
    ! grep -q preemption err || false
    # the pool, whole pages: 16 slots x 3 pages of 64 by default, all of it used (--ignore-eos)
    grep -q 'KV cache peak 3072 of 3072 positions' err
    # 192 positions: the longest sequence (64 + 100) alone; 700 rounds up to 11 pages
    for t in 192 700; do
        pic-rollout -m "$M/llama-tiny" -n 4 --max-new-tokens 100 --ignore-eos --top-p 0.95 --seed 7 --max-batch-size 16 \
            --kv-cache-tokens "$t" --plain p >"short$t" 2>err
        grep -Eq "KV cache peak [0-9]+ of $(( (t + 63) / 64 * 64 )) positions, [0-9]+ preemptions?" err
        # the count docs/rollout.md quotes (the schedule is the same whatever the threads)
        [ "$t" != 192 ] || grep -q "KV cache peak 192 of 192 positions, 69 preemptions$" err
        cmp full "short$t"
    done
    # refills of up to 164 positions through passes of 64 tokens: fed in pieces, the same bytes
    pic-rollout -m "$M/llama-tiny" -n 4 --max-new-tokens 100 --ignore-eos --top-p 0.95 --seed 7 --max-batch-size 16 \
        --kv-cache-tokens 192 --max-batch-tokens 64 --plain p >pieces 2>err
    grep -Eq "KV cache peak 192 of 192 positions, [0-9]+ preemptions?" err
    cmp full pieces
    # the schedule is the same whatever the threads, so its counts are too: no new
    # prompt starts while a refill waits for its pieces (letting them in took 68)
    grep -q "KV cache peak 192 of 192 positions, 66 preemptions$" err
    # samples that end at different steps, few slots: idle homes give up their prompts too
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 1 --plain -q p >s1
    for b in 1 2 7; do
        pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size "$b" \
            --kv-cache-tokens 128 --plain -q p >"s$b.short"
        cmp s1 "s$b.short"
    done
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 7 \
        --kv-cache-tokens 128 --max-batch-tokens 16 --plain -q p >s7.pieces
    cmp s1 s7.pieces
    run pic-rollout -m "$M/llama-tiny" --max-new-tokens 100 --kv-cache-tokens 120 --plain -q p
    [ "$status" -eq 1 ]
    [[ "$output" == *"--kv-cache-tokens 120 holds less than one sequence at its longest (164 positions"* ]]
    pic-rollout --help | grep -q -- --kv-cache-tokens
    # and --help's closing line on identical bytes names it, as docs/rollout.md does
    pic-rollout --help | tr '\n' ' ' | grep -q -- 'same bytes whatever .*--kv-cache-tokens or --shard'
}

@test "--shard I/N outputs concatenate to the unsharded output" {
    problems >p
    pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --plain -q p >all
    for i in 0 1 2; do pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --shard "$i/3" --plain -q p >"s$i"; done
    cat s0 s1 s2 | cmp - all
    [ "$(jq -c .id s0 | sort -u | wc -l)" -eq 3 ]
    # more shards than prompts: empty shards, same whole
    head -2 p >two
    pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --plain -q two >all2
    for i in 0 1 2 3; do pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --shard "$i/4" --plain -q two; done | cmp - all2
}

@test "--skip N: the output of the records from N on, as the whole run writes them, also in shards" {
    problems >p
    pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --plain -q p >all
    pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --skip 2 --plain -q p >rest
    [ -s rest ]
    cat <(head -n 4 all) rest | cmp - all
    # the shards split what is left
    for i in 0 1; do pic-rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 12 --seed 11 --skip 2 --shard "$i/2" --plain -q p; done |
        cmp - rest
    # past the end: nothing to do
    pic-rollout -m "$M/qwen3-tiny" -n 2 --skip 99 --plain -q p >none
    [ ! -s none ]
    run pic-rollout -m "$M/qwen3-tiny" --skip -1 p
    fails_with 2 "--skip"
    run pic-rollout --score -m "$M/qwen3-tiny" --skip 1 p
    fails_with 2 "--score takes no generation option"
}

@test "--score of a sample stream returns its own log-probs and entropies (within 1e-5; in fact exactly)" {
    problems >p
    for m in qwen2-tiny llama-tiny; do
        pic-rollout -m "$M/$m" -n 2 --max-new-tokens 25 -t 0.6 --top-k 50 --seed 2 --plain -q p >gen
        pic-rollout --score -m "$M/$m" --plain -q gen >sc
        paste <(jq -c '.logprobs[], .entropy[]' gen) <(jq -c '.logprobs[], .entropy[]' sc) |
            awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) bad = 1; if (d != 0) ne++; n++ }
                 END { exit bad || n != 1000 || ne }'
    done
    # greedy samples record temperature 0 and are scored at T = 1
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 8 --plain -q p >g0
    [ "$(jq -r .temperature g0 | sort -u)" = 0 ]
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q g0 | jq -c '.logprobs' >a
    jq -c '.logprobs' g0 | cmp - a
}

@test "--score takes 'problem' records through --template like generation" {
    problems | head -4 >p
    pic-rollout -m "$M/qwen2-tiny" --template chatml --max-new-tokens 10 --seed 4 --plain -q p >gen
    [ "$(jq -c '.prompt_ids[0]' gen | sort -u)" = 510 ] # <|im_start|>
    jq -c 'del(.prompt_ids, .logprobs, .entropy)' gen >strip
    pic-rollout --score -m "$M/qwen2-tiny" --template chatml --plain -q strip >sc
    [ "$(jq -c .logprobs sc)" = "$(jq -c .logprobs gen)" ]
    # a template file with {problem} gives the prompt the text would as is
    printf 'Q: {problem}\nA:' >tmpl
    pic-rollout -m "$M/qwen2-tiny" --template tmpl --max-new-tokens 3 --plain -q p >f
    jq -c '{prompt: ("Q: " + .problem + "\nA:")}' p >asis
    pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 3 --plain -q asis >g
    [ "$(jq -c .prompt_ids f)" = "$(jq -c .prompt_ids g)" ]
    [ "$(jq -c .response_ids f)" = "$(jq -c .response_ids g)" ]
}

@test "a bad --template file is blamed on the file, not on the prompt records" {
    problems | head -2 >p
    # invalid UTF-8 failed every prompt's encoding: "p:1: field 'problem':
    # invalid UTF-8 at byte 3", a byte of the rendered text
    printf 'Q: {problem}\nA: \xc3(' >latin
    run pic-rollout -m "$M/qwen2-tiny" --template latin --max-new-tokens 2 --plain -q p
    fails_with 1 "^pic-rollout: latin: line 2, byte 4: invalid UTF-8 \(0xc3\): a chat template file is UTF-8 text$"
    # the file is checked at the start, whatever the input
    run pic-rollout -m "$M/qwen2-tiny" --template latin --plain -q </dev/null
    fails_with 1 "^pic-rollout: latin: line 2"
    run pic-rollout --score -m "$M/qwen2-tiny" --template latin --plain -q p
    fails_with 1 "^pic-rollout: latin: line 2"
    printf 'Q: {problem}\0' >nul
    run pic-rollout -m "$M/qwen2-tiny" --template nul --plain -q p
    fails_with 1 "^pic-rollout: nul: line 1, column 13: a chat template file must not contain NUL bytes$"
    printf 'Q: {problme}' >typo
    run pic-rollout -m "$M/qwen2-tiny" --template typo --plain -q p
    fails_with 1 "^pic-rollout: typo: not a chat template: no \{problem\} in it"
}

@test "a problem with a NUL character cannot go into a chat prompt (it was cut there, silently)" {
    printf '{"id":1,"problem":"2+2\\u0000 and the rest"}\n' >p
    run pic-rollout -m "$M/qwen2-tiny" --template chatml --max-new-tokens 2 --plain -q p
    fails_with 1 "^pic-rollout: p:1: field 'problem': a NUL character cannot go into a chat prompt$"
    run pic-rollout --score -m "$M/qwen2-tiny" --template chatml --plain -q p
    fails_with 1 "^pic-rollout: p:1: field 'problem': a NUL character cannot go into a chat prompt$"
    # as pic-tok says it
    run pic-tok -t "$M/qwen2-tiny" encode --chat chatml --field problem --plain p
    fails_with 1 "p:1: field 'problem': a NUL character cannot go into a chat prompt"
    # --skip-bad passes over it like any bad prompt
    printf '{"id":2,"problem":"2+2"}\n' >>p
    run pic-rollout -m "$M/qwen2-tiny" --template chatml --max-new-tokens 2 --plain --skip-bad -o out p
    [ "$status" -eq 0 ]
    [[ "$output" == *"1 bad record skipped"* ]]
    [ "$(jq -c .id out)" = 2 ]
}

@test "--template whose marker tokens the tokenizer lacks warns once, and still runs" {
    problems | head -2 >p
    run pic-rollout -m "$M/qwen2-tiny" --template llama3 --max-new-tokens 2 --plain -q -o out p
    [ "$status" -eq 0 ]
    [ "$(grep -c 'the tokenizer has no token <|begin_of_text|>' <<<"$output")" -eq 1 ]
    [ "$(wc -l <out)" -eq 2 ]
    # the format's end of turn, <|im_end|>, is not this model's eos (509,
    # <|endoftext|>): its responses would run past it, so it says how to stop
    run pic-rollout -m "$M/qwen2-tiny" --template chatml --max-new-tokens 2 --plain -q -o out p
    [ "$status" -eq 0 ]
    [[ "$output" == "pic-rollout: --template chatml: <|im_end|> ends the assistant's turn but is none of the model's eos ids"*"--eos '<|im_end|>' stops there" ]]
    run pic-rollout -m "$M/qwen2-tiny" --template chatml --eos '<|im_end|>' --max-new-tokens 2 --plain -q -o out p
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "stops: eos ids (kept in the ids, not in the text), --eos, --stop kept or cut, --ignore-eos" {
    golden_prompts qwen2-tiny | head -1 >p
    # greedy gives 73 x 7, 175, 465...: make 175 the eos
    cp -r "$M/qwen2-tiny" m && chmod -R u+w m
    jq '.eos_token_id = 175' "$M/qwen2-tiny/config.json" >m/config.json
    pic-rollout -m m -t 0 --max-new-tokens 24 --plain -q p >out
    [ "$(jq -c '[.response_ids, .finish]' out)" = '[[73,73,73,73,73,73,73,175],"stop"]' ]
    pic-rollout -m m -t 0 --max-new-tokens 24 --ignore-eos --plain -q p >out
    [ "$(jq -r '.finish' out)" = length ]
    # --eos: one more token to stop on, by its id or by its text
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --eos 175 --plain -q p >out
    [ "$(jq -c '[.response_ids, .finish]' out)" = '[[73,73,73,73,73,73,73,175],"stop"]' ]
    tok=$(jq -r '.model.vocab | to_entries[] | select(.value == 175) | .key' "$M/qwen2-tiny/tokenizer.json")
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --eos "$tok" --plain -q p >by_text
    cmp out by_text
    run pic-rollout -m "$M/qwen2-tiny" -t 0 --eos nothere p
    fails_with 2 "^pic-rollout: --eos: 'nothere' is neither a token of the tokenizer nor an id below 512"
    run pic-rollout -m "$M/qwen2-tiny" -t 0 --eos 512 p
    fails_with 2 "--eos: '512' is neither"
    # digits are an id, though "0" is a token too (id 15): it took the
    # token, and the id 0 could not be named (samples 5 to 7 of seed 1 hold it)
    pic-rollout -m "$M/qwen2-tiny" -n 16 --max-new-tokens 30 --seed 1 --eos 0 --plain -q p >id0
    jq -se '[.[] | select(.response_ids | index([0]))] | length > 0 and
            all(.response_ids[-1] == 0 and (.response_ids | index([0])) == (.response_ids | length) - 1 and .finish == "stop")' id0
    run pic-rollout -m "$M/qwen2-tiny" --eos 175 --ignore-eos p
    fails_with 2 "^pic-rollout: --eos and --ignore-eos"
    run pic-rollout -m "$M/qwen2-tiny" --score --eos 175 p
    fails_with 2 "^pic-rollout: --score takes no generation option"
    # text stops: "jjj" is three of token 73 ("j")
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --stop jjj --plain -q p >keep
    [ "$(jq -c '[.response, .response_ids, .finish]' keep)" = '["jjj",[73,73,73],"stop"]' ]
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --stop jjj --stop-cut --plain -q p >cut
    [ "$(jq -c '[.response, .response_ids, .finish]' cut)" = '["",[73,73,73],"stop"]' ]
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --stop zzz --stop jj --stop-cut --plain -q p >two
    [ "$(jq -c '[.response, .response_ids]' two)" = '["",[73,73]]' ]
    # a token that is an --eos and completes a --stop string too (one not
    # special, in the text): the text is cut all the same
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --eos 73 --stop j --stop-cut --plain -q p >eos_cut
    [ "$(jq -c '[.response, .response_ids, .finish]' eos_cut)" = '["",[73],"stop"]' ]
    pic-rollout -m "$M/qwen2-tiny" -t 0 --max-new-tokens 24 --eos 73 --stop j --plain -q p >eos_keep
    [ "$(jq -c '[.response, .response_ids, .finish]' eos_keep)" = '["j",[73],"stop"]' ]
    # the text is UTF-8: a stop string that is not could only match inside a
    # character ("\xb2" inside "в"), and cut there the record lost its
    # response (invalid UTF-8 is no JSON string)
    run pic-rollout -m "$M/qwen2-tiny" --stop $'\xb2' --stop-cut p
    fails_with 2 "^pic-rollout: --stop: not valid UTF-8"
    # a special token is never in the text (decoded without them): as a
    # --stop string it was taken, never met, and the response ran on past
    # the token to --max-new-tokens; --eos is what stops there
    run pic-rollout -m "$M/qwen2-tiny" --stop '<|im_end|>' p
    fails_with 2 "^pic-rollout: --stop: '<\|im_end\|>' is a special token, never in the text .*--eos '<\|im_end\|>'"
    # an added token that is not special is in the text: a stop string as any
    jq '(.added_tokens[] | select(.content == "<|im_end|>") | .special) = false' \
        "$M/qwen2-tiny/tokenizer.json" >m/tokenizer.json
    pic-rollout -m m -t 0 --max-new-tokens 4 --stop '<|im_end|>' --plain -q p >/dev/null
}

@test "bad prompts: missing fields, too long for the context, empty, bad ids; --skip-bad counts them" {
    { echo '{"id": 1, "problem": "fine"}'
      echo '{"id": 2, "answer": "no prompt"}'
      echo '{"id": 3, "problem": 7}'
      echo '{"id": 4, "prompt_ids": [1, 600]}'
      echo '{"id": 5, "prompt": ""}'
      jq -nc '{id: 6, prompt_ids: [range(512) | 5]}'
      echo 'not json'; } >in
    # every prompt is read before any is built: a line that is not JSON first
    run pic-rollout -m "$M/qwen2-tiny" --plain in
    fails_with 1 "^pic-rollout: in:7: malformed JSON"
    head -6 in >six
    run pic-rollout -m "$M/qwen2-tiny" --plain six
    fails_with 1 "^pic-rollout: six:2: field 'problem': missing"
    for l in 3 4 5 6; do sed -n "${l}p" in >one; run pic-rollout -m "$M/qwen2-tiny" --plain one
        case $l in
        3) fails_with 1 "one:1: field 'problem': expected a string" ;;
        4) fails_with 1 "one:1: field 'prompt_ids': element 1: expected a token id in \[0, 512\)" ;;
        5) fails_with 1 "one:1: field 'prompt': empty prompt" ;;
        6) fails_with 1 "one:1: field 'prompt_ids': the prompt's 512 tokens leave no room to generate in the model's context of 512" ;;
        esac
    done
    # a negative id is outside the vocabulary too (it indexed before the embedding)
    echo '{"prompt_ids": [5, -1]}' >one
    run pic-rollout -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: field 'prompt_ids': element 1: expected a token id in \[0, 512\)"
    # a null field is an absent one: the next field in the order is read
    echo '{"problem": null}' >one
    run pic-rollout -m "$M/qwen2-tiny" --plain one
    fails_with 1 "one:1: field 'problem': missing"
    echo '{"prompt_ids": null, "prompt": null, "problem": "fine"}' >nulls
    pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 1 --plain -q nulls >o
    head -1 in >fine
    pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 1 --plain -q fine >want
    [ "$(jq -c .prompt_ids o)" = "$(jq -c .prompt_ids want)" ]
    # a tokenizer with a token past the model's rows: text that encodes to it is
    # the record's fault, named there (not the model's, at its embedding)
    cp -r "$M/qwen2-tiny" ext && chmod -R u+w ext
    jq '.added_tokens += [{id: 512, content: "<|extra|>", single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true}]' "$M/qwen2-tiny/tokenizer.json" >ext/tokenizer.json
    echo '{"prompt": "hi<|extra|>"}' >one
    run pic-rollout -m ext --plain one
    fails_with 1 "^pic-rollout: one:1: field 'prompt': token 2 has id 512, outside the model's vocabulary \(512\)"
    run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 3 --plain --skip-bad -o out in
    [ "$status" -eq 0 ]
    [[ "$output" == *"generated 1 sample, "*"6 bad records skipped"* ]]
    [ "$(jq -c .id out)" = 1 ]
    # a prompt one short of the context gets one token, finish length
    jq -nc '{prompt_ids: [range(511) | 5]}' >long
    pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 10 --plain -q long >o
    [ "$(jq -c '[(.response_ids | length), .finish]' o)" = '[1,"length"]' ]
    # and --score takes it back: a sample that fills the context (511 + 1) is not past it
    pic-rollout --score -m "$M/qwen2-tiny" --plain -q o | jq -c .logprobs >sc
    jq -c .logprobs o | cmp - sc
    # empty input: no records, exit 0, a summary
    run pic-rollout -m "$M/qwen2-tiny" --plain -o empty /dev/null
    [ "$status" -eq 0 ]
    [ ! -s empty ]
    [[ "$output" == *"generated 0 samples, 0 tokens"* ]]
    # compressed: an empty zstd frame, which reads as nothing
    pic-rollout -m "$M/qwen2-tiny" -q -o empty.zst /dev/null
    [ "$(wc -c <empty.zst)" -eq 9 ]
    [ -z "$(zstdcat empty.zst)" ]
}

@test "summary line: samples, tokens, mean entropy, tokens/s; --quiet silences it" {
    problems | head -2 >p
    run pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 4 --plain -o out p
    [ "$status" -eq 0 ]
    [[ "$output" =~ generated\ 6\ samples,\ 24\ tokens,\ mean\ entropy\ [0-9.]+,\ in\ [0-9.]+\ s\ \([0-9]+\ tokens/s\) ]]
    want=$(jq -s '[.[].entropy[]] | add / length' out)
    got=$(sed -E 's/.*mean entropy ([0-9.]+).*/\1/' <<<"$output")
    near "$got" "$want" 1e-4
    run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 4 --plain -q -o out p
    [ -z "$output" ]
    # --max-batch-tokens 5: at most 5 sequences in flight (docs/rollout.md), so the
    # cache is sized for 5, a page each, not for --max-batch-size's 64
    run pic-rollout -m "$M/qwen2-tiny" -n 3 --max-new-tokens 4 --max-batch-tokens 5 --plain -o out p
    [ "$status" -eq 0 ]
    [[ "$output" == *", KV cache peak 320 of 320 positions" ]]
}

@test "progress on a terminal: one line rewritten in place, its last update all the samples; -q silences it" {
    script -qec true /dev/null >/dev/null 2>&1 || skip "no script(1) that opens a terminal"
    problems | head -3 >p
    # script(1) gives stderr a terminal (docs/conventions.md: progress only there)
    script -qec "pic-rollout -m '$M/qwen2-tiny' -n 2 --max-new-tokens 5 --plain -o out p" /dev/null >tty
    [ "$(wc -l <out)" -eq 6 ]
    # the update at the end is written however soon after the one before (a run this fast has no other)
    grep -q $'\r\033\\[Kpic-rollout: 6/6 samples (' tty
    script -qec "pic-rollout -m '$M/qwen2-tiny' -n 2 --max-new-tokens 5 --plain -q -o out p" /dev/null >tty
    [ ! -s tty ]
}

@test "a failed write (a full disk) ends generation and scoring with the output's name and exit 1" {
    [ -w /dev/full ] || skip "no /dev/full"
    problems >p
    # records are written on a thread of the writer's own: its error is the run's
    for plain in --plain ""; do
        run bash -c "pic-rollout -m '$M/qwen2-tiny' -n 2 --max-new-tokens 8 -q $plain p >/dev/full"
        [ "$status" -eq 1 ]
        [[ "$output" == *"standard output (/dev/full): write error: No space left on device"* ]]
    done
    pic-rollout -m "$M/qwen2-tiny" -n 2 --max-new-tokens 8 -q --plain -o s p
    run bash -c "pic-rollout -m '$M/qwen2-tiny' --score -q --plain s >/dev/full"
    [ "$status" -eq 1 ]
    [[ "$output" == *"standard output (/dev/full): write error: No space left on device"* ]]
}

@test "usage errors exit 2 and name the option" {
    run pic-rollout -m "$M/qwen2-tiny" --top-p 0
    fails_with 2 "--top-p"
    run pic-rollout -m "$M/qwen2-tiny" --min-p 2
    fails_with 2 "--min-p"
    run pic-rollout -m "$M/qwen2-tiny" --shard 3/3
    fails_with 2 "--shard"
    run pic-rollout -m "$M/qwen2-tiny" --shard x
    fails_with 2 "--shard"
    run pic-rollout -m "$M/qwen2-tiny" -n 0
    fails_with 2 "--n"
    run pic-rollout -m "$M/qwen2-tiny" --max-new-tokens 0
    fails_with 2 "--max-new-tokens"
    run pic-rollout -m "$M/qwen2-tiny" --stop ''
    fails_with 2 "--stop"
    # nothing to cut: it was accepted and did nothing
    run pic-rollout -m "$M/qwen2-tiny" --stop-cut </dev/null
    fails_with 2 "^pic-rollout: --stop-cut: no --stop string to cut at"
    run pic-rollout -m "$M/qwen2-tiny" -t 0.0001
    fails_with 2 "--temperature"
    # greedy decoding draws nothing: these were taken and ignored
    for o in "--top-k 5" "--top-p 0.9" "--min-p 0.1" "--seed 3"; do
        # shellcheck disable=SC2086
        run pic-rollout -m "$M/qwen2-tiny" -t 0 $o </dev/null
        fails_with 2 "^pic-rollout: ${o% *} does nothing at --temperature 0 \(greedy"
    done
    # checked as given: as a float these were 0, and sampled greedily
    for t in 1e-46 1e-300 0.0009999999999; do
        run pic-rollout -m "$M/qwen2-tiny" -t $t </dev/null
        fails_with 2 "^pic-rollout: --temperature: use 0 \(greedy\) or at least 0.001"
    done
    # neither a format nor a file (a typo of a name): a usage error listing the
    # formats, found before the model loads (this model is not there)
    run pic-rollout -m no-model --template chatm1 </dev/null
    fails_with 2 "^pic-rollout: --template: 'chatm1' is neither a format \\(raw, chatml, qwen2.5, qwen2.5-math, qwen3, qwen3-thinking, qwen3-nothink, qwen3-instruct, llama3, llama3.1, deepseek-r1, auto\\) nor a file"
    run pic-rollout -m "$M/qwen2-tiny" --score --template nowhere.txt </dev/null
    fails_with 2 "--template: 'nowhere.txt' is neither a format"
    # a file that is there but cannot be read stays a runtime failure
    run pic-rollout -m "$M/qwen2-tiny" --template . </dev/null
    fails_with 1 "^pic-rollout: \\.: Is a directory"
}

@test "--template auto: the model's own chat format, or a clear refusal" {
    echo '{"id": 1, "problem": "1+1"}' >p.jsonl
    # the tiny models have no template; their <|im_start|> tells ChatML
    pic-rollout -q --plain -m "$M/qwen2-tiny" --template auto --max-new-tokens 2 -t 0 p.jsonl >auto
    pic-rollout -q --plain -m "$M/qwen2-tiny" --template chatml --max-new-tokens 2 -t 0 p.jsonl >named
    [ "$(jq -c .prompt_ids auto)" = "$(jq -c .prompt_ids named)" ]
    # which format it took, unless -q
    pic-rollout --plain -m "$M/qwen2-tiny" --template auto --eos '<|im_end|>' --max-new-tokens 2 p.jsonl 2>err >/dev/null
    grep -q "^pic-rollout: --template auto: chatml, the model's chat format$" err
    pic-rollout -q --plain -m "$M/qwen2-tiny" --max-new-tokens 2 -t 0 p.jsonl >raw
    [ "$(jq -c .prompt_ids auto)" != "$(jq -c .prompt_ids raw)" ]
    # a template pic cannot render is the model's all the same: refused
    mkdir m
    cp "$M/qwen2-tiny/config.json" "$M/qwen2-tiny/model.safetensors" "$M/qwen2-tiny/tokenizer.json" m/
    echo '{"chat_template": "{{ messages[0].content }}"}' >m/tokenizer_config.json
    run pic-rollout -q --plain -m m --template auto p.jsonl
    fails_with 1 "^pic-rollout: --template auto: m/tokenizer_config.json: field 'chat_template': none of the formats"
    # neither a template nor chat tokens (llama2.c's stories260K)
    run pic-rollout -q --plain -m "$M/stories260K/hf" --template auto p.jsonl
    fails_with 1 "stories260K/hf: --template auto: no chat template or chat tokens to tell the format"
}

@test "a model with more embedding rows than tokens (as Qwen2.5's 151936 for 151665): such ids are kept, decode to no text, score and train" {
    # qwen2-tiny's 512-token tokenizer under a 600-row model, as transformers
    # and vLLM allow: such an id can be sampled
    jq '.vocab_size = 600' "$M/qwen2-tiny/config.json" >cfg.json
    pic-init -q -o big --config cfg.json --tokenizer "$M/qwen2-tiny/tokenizer.json" --std 0.5
    [ "$(jq .vocab_size big/config.json)" = 600 ]
    printf '{"id":1,"prompt":"hi"}\n' | pic-rollout -m big --plain -q -n 4 --max-new-tokens 40 --temperature 1.5 --seed 3 >out.jsonl
    [ "$(jq -s '[.[].response_ids[] | select(. >= 512)] | length' out.jsonl)" -gt 0 ]
    # the text holds only what the tokenizer knows
    jq -c "{ids: .response_ids}" out.jsonl | pic-tok -t big decode --skip-special --plain >text.jsonl
    [ "$(jq .response out.jsonl)" = "$(jq .text text.jsonl)" ]
    [ "$(echo '{"ids":[512,599]}' | pic-tok -t big decode --plain | jq -r .text)" = "" ]
    run pic-tok -t big decode --plain <<<'{"ids":[600]}'
    fails_with 1 "id 600 is not in the vocabulary"
    pic-rollout --score -m big --plain -q out.jsonl >scored.jsonl
    [ "$(jq -s 'map((.logprobs | length) == (.response_ids | length)) | all' scored.jsonl)" = true ]
    jq -c '.advantage = 1' scored.jsonl >train.jsonl
    run pic-update -m big -o next --lr 1e-3 -q train.jsonl
    [ "$status" -eq 0 ]
    [ -f next/model.safetensors ]
}
