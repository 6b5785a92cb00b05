#!/usr/bin/env bats
# pic-reward --task countdown: verdicts on sample streams, rewards, bad
# records and options (the rules themselves: tests/unit/test_countdown.c).
load helpers

sample() { # response -> one sample record for numbers [3,5,2], target 16
    jq -cn --arg r "$1" '{id: 1, problem: "p", answer: "(3 + 5) * 2", numbers: [3, 5, 2], target: 16, response: $r}'
}

@test "every generated witness solution is correct, at every difficulty" {
    for d in 1 2 3 4 5; do
        pic-task -q --plain --task countdown -n 200 -d "$d" --solutions |
            jq -c '.response = .solution' | pic-reward -q --plain --task countdown > s.jsonl
        [ "$(jq -r '[.correct, .reward, .verdict] | @tsv' s.jsonl | sort -u)" = "$(printf 'true\t1\tcorrect')" ]
        # pred is the boxed witness
        [ -z "$(jq -r 'select(.pred != .answer) | .id' s.jsonl)" ]
    done
}

@test "verdicts and rewards: correct, wrong value, wrong numbers, division by zero, unparsable, no answer" {
    { sample '\boxed{2 * (5 + 3)}'
      sample '<answer> 3 * 5 + 2 </answer>'
      sample 'Answer: 3 + 5 * 2'
      sample '\boxed{5 * 3 + 2 - 2}'
      sample '\boxed{3 / (5 - 5)}'
      sample '\boxed{1 / (5 - 3 - 2) }' | jq -c '.numbers += [1]'
      sample '\boxed{sixteen}'
      sample '<think>still thinking'; } > in.jsonl
    pic-reward -q --plain --task countdown --wrong 0.1 --unparsable -1 in.jsonl > out.jsonl
    [ "$(jq -r .verdict out.jsonl | paste -sd,)" = \
      "correct,wrong value,wrong value,wrong numbers,wrong numbers,division by zero,unparsable,no answer" ]
    [ "$(jq -r .reward out.jsonl | paste -sd,)" = "1,0.1,0.1,0.1,0.1,0.1,-1,-1" ]
    [ "$(jq -r .correct out.jsonl | paste -sd,)" = "true,false,false,false,false,false,false,false" ]
    [ "$(jq -r '.pred // "null"' out.jsonl | sed -n '1p;2p;7p;8p' | paste -sd,)" = "2 * (5 + 3),3 * 5 + 2,null,null" ]
    # the gold answer field plays no part: a different witness changes nothing
    jq -c '.answer = "nonsense"' in.jsonl | pic-reward -q --plain --task countdown --wrong 0.1 --unparsable -1 > out2.jsonl
    [ "$(jq -r .verdict out2.jsonl | paste -sd,)" = "$(jq -r .verdict out.jsonl | paste -sd,)" ]
}

@test "--wrong 0.1 is not TinyZero's format_score: the reward follows the expression, not the tags" {
    # (docs/reward.md) TinyZero pays 0.1 for the first and 0 for the second
    { sample '<answer>2(3 + 5)</answer>'
      sample 'First 3 + 5 = 8, then:
3 + 5 = 8'; } > in.jsonl
    pic-reward -q --plain --task countdown --wrong 0.1 in.jsonl > out.jsonl
    [ "$(jq -r '[.verdict, .reward] | @tsv' out.jsonl | paste -sd,)" = "$(printf 'unparsable\t0,wrong numbers\t0.1')" ]
}

@test "--no-boxed, --keep-think and --response-field apply to countdown" {
    sample '\boxed{3 + 5 + 2} Answer: (3 + 5) * 2' > a.jsonl
    [ "$(pic-reward -q --plain --task countdown a.jsonl | jq -r .verdict)" = "wrong value" ]
    [ "$(pic-reward -q --plain --task countdown --no-boxed a.jsonl | jq -r .verdict)" = correct ]
    sample '<think>\boxed{(3 + 5) * 2}' > t.jsonl
    [ "$(pic-reward -q --plain --task countdown t.jsonl | jq -r .verdict)" = "no answer" ]
    [ "$(pic-reward -q --plain --task countdown --keep-think t.jsonl | jq -r .verdict)" = correct ]
    sample x | jq -c '.out = "\\boxed{(3+5)*2}"' > f.jsonl
    [ "$(pic-reward -q --plain --task countdown --response-field out f.jsonl | jq -r .verdict)" = correct ]
}

@test "bad records name file, line and field; --skip-bad skips them" {
    { sample '\boxed{(3+5)*2}'
      sample 'x' | jq -c 'del(.numbers)'
      sample 'x' | jq -c '.numbers = [3, "5"]'
      sample 'x' | jq -c '.target = "16"'
      sample 'x' | jq -c '.numbers = []'
      sample 'x' | jq -c '.numbers = [3, -5]'
      sample 'x' | jq -c 'del(.response)'; } > bad.jsonl
    run pic-reward -q --plain --task countdown bad.jsonl
    fails_with 1 "bad.jsonl:2: field 'numbers': missing"
    for line in 3 4 5 6 7; do
        sed -n "1p;${line}p" bad.jsonl > one.jsonl
        run pic-reward -q --plain --task countdown one.jsonl
        [ "$status" -eq 1 ]
    done
    run pic-reward -q --plain --task countdown <(sed -n 4p bad.jsonl)
    fails_with 1 "field 'target': expected an integer"
    run pic-reward -q --plain --task countdown <(sed -n 5p bad.jsonl)
    fails_with 1 "field 'numbers': 0 numbers"
    run pic-reward -q --plain --task countdown <(sed -n 6p bad.jsonl)
    fails_with 1 "field 'numbers': element 1 is not an integer"
    run pic-reward --plain --task countdown --skip-bad bad.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '"verdict"' <<<"$output")" -eq 1 ]
    # no half-written output on failure
    run pic-reward -q --task countdown -o out.jsonl.zst bad.jsonl
    [ "$status" -eq 1 ]
    [ ! -e out.jsonl.zst ]
}

@test "countdown's options: usage errors for what does not apply" {
    run pic-reward --task chess
    fails_with 2 "unknown task 'chess'"
    run pic-reward --task countdown --gold 1 --pred 1
    fails_with 2 "streams only"
    run pic-reward --task countdown --timing
    fails_with 2 "streams only"
    run pic-reward --task countdown --float-precision 3
    fails_with 2 "streams only"
    run pic-reward --task countdown --set-relation
    fails_with 2 "streams only"
    # given at all, even with the default's value: an error, not ignored
    run pic-reward --task countdown --float-precision 6
    fails_with 2 "streams only"
    run pic-reward --task countdown --gold-field answer
    fails_with 2 "streams only"
    # --task math is the default: the answer's value against the gold one,
    # which is why countdown needs its own mode (16 alone uses no numbers)
    sample '\boxed{16}' > m.jsonl
    [ "$(pic-reward -q --plain --task math m.jsonl | jq -c '[.correct, has("verdict")]')" = '[true,false]' ]
    cmp <(pic-reward -q --plain --task math m.jsonl) <(pic-reward -q --plain m.jsonl)
    [ "$(pic-reward -q --plain --task countdown m.jsonl | jq -r .verdict)" = "wrong numbers" ]
}

@test "bounded work: a 4 MB response of brackets and a 100k-box response finish quickly" {
    head -c 4000000 /dev/zero | tr '\0' '(' | jq -Rsc '{numbers: [3, 5, 2], target: 16, response: .}' > big.jsonl
    python3 -c 'print("\\boxed{" * 100000)' | jq -Rsc '{numbers: [3, 5, 2], target: 16, response: .}' >> big.jsonl
    run timeout 20 pic-reward -q --plain --task countdown big.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -r .verdict <<<"$output" | paste -sd,)" = "unparsable,unparsable" ]
}
