#!/usr/bin/env bats
# pic-eval: metrics of scored sample streams, checked against values computed
# by hand from tests/fixtures/eval/{alpha,beta}.jsonl.

load helpers

A="$FIXTURES/eval/alpha.jsonl"
B="$FIXTURES/eval/beta.jsonl"

js() { pic-eval -q --format json "$@"; }

@test "hand-computed metrics on the crafted stream (alpha: 3 problems x 4 samples)" {
    # alpha: id 1 has c=1 of 4 (reward 1, 0, -1, and correct:false overriding
    # reward 1); id "b" c=0 (reward 0.25 < 0.5); id 3 c=4.
    #   avg@4  = (1/4 + 0 + 1)/3 = 5/12     pass@4 = 2/3
    #   pass@2 = (1 - C(3,2)/C(4,2) + 0 + 1)/3 = (0.5 + 1)/3 = 0.5
    #   pass@1 = avg = 5/12
    #   length: id 1 (2+4+6+8)/4 = 5, id b entropy length 1, id 3: 3 -> 3
    #   entropy: id 1 all 0.5, id b all 1.0, id 3 none -> 0.75
    #   reflect: id 1 (1+2+0+0)/4 = 0.75 ("awaiting" is no "wait"), id 3 1/4 -> 0.5
    run js --k 1,2,4 "$A" "$B"
    [ "$status" -eq 0 ]
    a=$(jq -c '.datasets[0]' <<<"$output")
    [ "$(jq -r .dataset <<<"$a")" = alpha ]
    [ "$(jq -c '[.problems,.samples,.n_min,.n_max]' <<<"$a")" = "[3,12,4,4]" ]
    near "$(jq .avg <<<"$a")" 0.41666666666666667 1e-12
    near "$(jq .pass_n <<<"$a")" 0.66666666666666667 1e-12
    near "$(jq '.pass_at_k["1"]' <<<"$a")" 0.41666666666666667 1e-12
    near "$(jq '.pass_at_k["2"]' <<<"$a")" 0.5 1e-12
    near "$(jq '.pass_at_k["4"]' <<<"$a")" 0.66666666666666667 1e-12
    near "$(jq .length <<<"$a")" 3 1e-12
    near "$(jq .entropy <<<"$a")" 0.75 1e-12
    near "$(jq .reflect <<<"$a")" 0.5 1e-12
    near "$(jq .reflect_any <<<"$a")" 0.375 1e-12
    [ "$(jq -c '.reflect_words | [.wait,.hmm,.alternatively]' <<<"$a")" = "[2,1,1]" ]
}

@test "hand-computed metrics: different sample counts per problem (beta: n = 2 and 6)" {
    # beta: id 1 c=2 of 2; id 2 c=3 of 6.
    #   avg = (1 + 0.5)/2 = 0.75 (pooling samples would give 5/8)
    #   pass@2 = (1 + 1 - C(3,2)/C(6,2))/2 = (1 + 0.8)/2 = 0.9
    #   pass@4: id 1 has only 2 samples -> undefined (null), with a warning
    #   length: id 1 (2+1)/2 = 1.5; id 2 (3+1+4*10)/6 = 44/6 -> (1.5 + 44/6)/2
    #   entropy pooled per problem: id 1 (0.1+0.3+0.2)/3 = 0.2,
    #           id 2 (0.6+0.8)/4 = 0.35 -> 0.275
    #   reflect: id 1 ("Let's reconsider. Wait." = 2, "ok" = 0) -> 1
    run js --k 1,2,4 "$A" "$B"
    b=$(jq -c '.datasets[1]' <<<"$output")
    [ "$(jq -c '[.dataset,.problems,.samples,.n_min,.n_max]' <<<"$b")" = '["beta",2,8,2,6]' ]
    near "$(jq .avg <<<"$b")" 0.75 1e-12
    near "$(jq .pass_n <<<"$b")" 1 0
    near "$(jq '.pass_at_k["2"]' <<<"$b")" 0.9 1e-12
    [ "$(jq '.pass_at_k["4"]' <<<"$b")" = null ]
    near "$(jq .length <<<"$b")" "$(awk 'BEGIN { printf "%.17g", (1.5 + 44/6) / 2 }')" 1e-12
    near "$(jq .entropy <<<"$b")" 0.275 1e-12
    near "$(jq .reflect <<<"$b")" 1 1e-12
    [ "$(jq '.reflect_words["let'"'"'s reconsider"]' <<<"$b")" = 1 ]
    run pic-eval --k 4 "$A" "$B"
    [[ "$output" == *"beta: pass@4 undefined: some problems have fewer than 4 samples"* ]]
}

@test "Overall is the mean over datasets, not over problems" {
    run js --k 2,4 "$A" "$B"
    o=$(jq -c .overall <<<"$output")
    # (5/12 + 0.75)/2; the mean over the 5 problems would be 0.55
    near "$(jq .avg <<<"$o")" "$(awk 'BEGIN { printf "%.17g", (5/12 + 0.75) / 2 }')" 1e-12
    near "$(jq .pass_n <<<"$o")" "$(awk 'BEGIN { printf "%.17g", (2/3 + 1) / 2 }')" 1e-12
    near "$(jq '.pass_at_k["2"]' <<<"$o")" 0.7 1e-12
    [ "$(jq '.pass_at_k["4"]' <<<"$o")" = null ]
    near "$(jq .entropy <<<"$o")" 0.5125 1e-12
    near "$(jq .reflect <<<"$o")" 0.75 1e-12
    [ "$(jq -c '[.problems,.samples,.n_min,.n_max]' <<<"$o")" = "[5,20,2,6]" ]
    # the word counts are sums: alpha's 2 waits and beta's 1
    [ "$(jq -c '.reflect_words | [.wait,.hmm,."let'"'"'s reconsider"]' <<<"$o")" = "[3,1,1]" ]
    [ "$(jq -r .overall_is <<<"$output")" = "mean over datasets" ]
    run pic-eval --help
    [[ "$output" == *"Overall is the unweighted MEAN OVER DATASETS"* ]]
}

@test "Overall sums the datasets' values, then divides: ten at 100% are 1" {
    # each value divided by the count before the sum gave 0.1 ten times,
    # 0.9999999999999999, and a length of 3 read 2.9999999999999996
    for i in 0 1 2 3 4 5 6 7 8 9; do
        echo '{"id":1,"source":"d'$i'","correct":true,"response_ids":[1,2,3],"entropy":[0.5,0.5,0.5]}'
    done >ten.jsonl
    run js --k 1 ten.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '.overall | [.avg, .pass_n, .pass_at_k["1"], .length]' <<<"$output")" = "[1,1,1,3]" ]
    [ "$(jq .overall.entropy <<<"$output")" = 0.5 ]
}

@test "the table: aligned, percentages, '-' where undefined" {
    run pic-eval -q --k 1,4 "$A" "$B"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 4 ]
    [[ "${lines[0]}" =~ ^dataset\ +problems\ +n\ +avg@n\ +pass@n\ +pass@1\ +pass@4\ +length\ +entropy\ +reflect$ ]]
    [[ "${lines[1]}" =~ ^alpha\ +3\ +4\ +41\.7\ +66\.7\ +41\.7\ +66\.7\ +3\.0\ +0\.7500\ +0\.500$ ]]
    [[ "${lines[2]}" =~ ^beta\ +2\ +2-6\ +75\.0\ +100\.0\ +75\.0\ +-\ +4\.4\ +0\.2750\ +1\.000$ ]]
    [[ "${lines[3]}" =~ ^Overall\ +5\ +2-6\ +58\.3\ +83\.3 ]]
    # every line the same width: aligned columns
    [ "$(printf '%s\n' "${lines[@]}" | awk '{ print length($0) }' | sort -u | wc -l)" -eq 1 ]
}

@test "a uniform sample count names the columns avg@N and pass@N; --digits" {
    run pic-eval -q --digits 3 "$A"
    [[ "${lines[0]}" == *"avg@4"*"pass@4"* ]]
    [[ "${lines[1]}" == *"41.667"*"66.667"* ]]
    run pic-eval -q --digits 0 "$A"
    [[ "${lines[1]}" =~ \ 42\ +67\  ]]
}

@test "--format markdown" {
    run pic-eval -q --format markdown "$A" "$B"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "| dataset | problems |"* ]]
    [[ "${lines[1]}" =~ ^\|\ :-+\ \|\ -+:\ \| ]]
    [[ "${lines[4]}" == "| Overall |"* ]]
    [ "$(printf '%s\n' "${lines[@]}" | awk '{ print length($0) }' | sort -u | wc -l)" -eq 1 ]
    # every delimiter cell has a '-' (GitHub's tables need one), one-digit columns too
    [ -z "$(tr '|' '\n' <<<"${lines[1]}" | sed '1d;$d' | grep -v -- '-')" ]
}

@test "dataset names: aligned by the columns they take, control characters and markdown's '|' escaped" {
    # 数学 is 6 bytes and 4 columns; café 5 bytes and 4 columns
    printf '%s\n' '{"id":1,"correct":true,"source":"数学"}' '{"id":1,"correct":true,"source":"café"}' \
        '{"id":1,"correct":false,"source":"x"}' >u.jsonl
    run pic-eval -q u.jsonl
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "数学            1  1  100.0   100.0       -        -        -" ]
    [ "${lines[2]}" = "café            1  1  100.0   100.0       -        -        -" ]
    [ "${lines[3]}" = "x               1  1    0.0     0.0       -        -        -" ]
    run pic-eval -q --format markdown u.jsonl
    [ "${lines[2]}" = "| 数学    |        1 |  1 | 100.0 |  100.0 |      - |       - |       - |" ]
    [ "${lines[3]}" = "| café    |        1 |  1 | 100.0 |  100.0 |      - |       - |       - |" ]
    # a tab or a newline in a name would break the row; '|' would end a markdown cell
    printf '%s\n' '{"id":1,"correct":true,"source":"a|b\tc\nd\u0001\r\u007f"}' >c.jsonl
    run pic-eval -q --format tsv c.jsonl
    [ "${#lines[@]}" -eq 3 ]
    [ "$(cut -f1 <<<"${lines[1]}")" = 'a|b\tc\nd\x01\r\x7f' ]
    run pic-eval -q --format markdown c.jsonl
    [[ "${lines[2]}" == '| a\|b\tc\nd\x01\r\x7f |'* ]]
    [ "$(tr -cd '|' <<<"${lines[2]}" | wc -c)" -eq 10 ]
    # a name's own backslash before '|' would escape the escape: doubled
    printf '%s\n' '{"id":1,"correct":true,"source":"a\\|b"}' >s.jsonl
    run pic-eval -q --format markdown s.jsonl
    [[ "${lines[2]}" == '| a\\\|b  |'* ]]
    # JSON keeps the name as it is
    run pic-eval -q --format json c.jsonl
    [ "$(jq -r '.datasets[0].dataset' <<<"$output")" = "$(printf 'a|b\tc\nd\001\r\177')" ]
}

@test "--format tsv: fractions at full precision" {
    run pic-eval -q --format tsv --k 2 "$A" "$B"
    [ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "dataset alpha beta Overall " ]
    [ "$(awk -F'\t' 'NR==2 { print $4 }' <<<"$output")" = 0.4166666666666667 ]
    [ "$(awk -F'\t' 'NR==3 { print $6 }' <<<"$output")" = 0.9 ]
    [ "$(awk -F'\t' '{ print NF }' <<<"$output" | sort -u)" = 9 ]
}

@test "--k with the n of every problem: pass@n once in the tables, both keys in JSON" {
    # (alpha: 4 samples a problem; --k 1,4 printed pass@4 twice, the same number)
    for fmt in table markdown tsv; do
        run pic-eval -q --format "$fmt" --k 1,4 "$A"
        [ "$status" -eq 0 ]
        [ "$(grep -o 'pass@4' <<<"$output" | wc -l)" -eq 1 ]
        [ "$(grep -o 'pass@1' <<<"$output" | wc -l)" -eq 1 ]
        # every row as many cells as the header
        [ "$(head -n 1 <<<"$output" | grep -o 'pass@' | wc -l)" -eq 2 ]
    done
    run pic-eval -q --format tsv --k 1,4 "$A"
    [ "$(awk -F'\t' '{ print NF }' <<<"$output" | sort -u)" = 9 ]
    [ "$(awk -F'\t' 'NR==2 { print $5 }' <<<"$output")" = 0.6666666666666666 ]
    # n differs between problems (beta: 2 and 6): pass@n is no k's, each stays
    run pic-eval -q --format tsv --k 2 "$B"
    [ "$(head -n 1 <<<"$output" | cut -f5,6)" = "$(printf 'pass@n\tpass@2')" ]
    # nor is pass@6, the largest n, when another problem has 2: its column stays, undefined
    run pic-eval -q --format tsv --k 6 "$B"
    [ "$(head -n 1 <<<"$output" | cut -f5,6)" = "$(printf 'pass@n\tpass@6')" ]
    [ "$(awk -F'\t' 'NR==2 { print $6 }' <<<"$output")" = - ]
    # the JSON: pass_n and pass_at_k["4"], no key twice
    run js --k 1,4 "$A"
    [ "$(jq -c '.datasets[0].pass_at_k | keys_unsorted' <<<"$output")" = '["1","4"]' ]
    [ "$(jq '.datasets[0] | .pass_n == .pass_at_k["4"]' <<<"$output")" = true ]
}

@test "zstd input, several files, stdin, and grouping across files" {
    zstd -q -c "$B" >beta.jsonl.zst
    run js "$A" beta.jsonl.zst
    [ "$status" -eq 0 ]
    near "$(jq .datasets[1].avg <<<"$output")" 0.75 1e-12
    # a problem split over two files is one problem
    head -n 3 "$B" >b1.jsonl
    tail -n +4 "$B" | zstd -q -c >b2.zst
    run js b1.jsonl - <b2.zst
    [ "$(jq -c '.datasets[0] | [.problems,.samples]' <<<"$output")" = "[2,8]" ]
    run js <"$A"
    near "$(jq .datasets[0].avg <<<"$output")" 0.41666666666666667 1e-12
}

@test "the same id in two datasets is two problems" {
    run js "$A" "$B"
    [ "$(jq .overall.problems <<<"$output")" = 5 ]
}

@test "a source or id holding the key's separator (\\x1f) is no other problem's" {
    printf '{"source":"a\\u001fb","id":"c","correct":true}\n{"source":"a","id":"b\\u001fc","correct":false}\n' >s.jsonl
    run js s.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq .overall.problems <<<"$output")" = 2 ]
    [ "$(jq -c '[.datasets[] | [.dataset, .problems, .avg]] | sort' <<<"$output")" = '[["a",1,0],["a\u001fb",1,1]]' ]
}

@test "records without source go to --default-source" {
    printf '{"id":1,"correct":true}\n{"id":1,"correct":false}\n' >s.jsonl
    run js s.jsonl
    [ "$(jq -r .datasets[0].dataset <<<"$output")" = all ]
    near "$(jq .datasets[0].avg <<<"$output")" 0.5 0
    run js --default-source gsm8k s.jsonl
    [ "$(jq -r .datasets[0].dataset <<<"$output")" = gsm8k ]
}

@test "--threshold decides reward, correct wins over reward" {
    printf '{"id":1,"reward":0.3}\n{"id":2,"reward":0.3,"correct":false}\n' >t.jsonl
    run js t.jsonl
    near "$(jq .overall.avg <<<"$output")" 0 0
    run js --threshold 0.25 t.jsonl
    near "$(jq .overall.avg <<<"$output")" 0.5 0
    # reward >= --threshold (docs/eval.md): a reward at it exactly is correct
    run js --threshold 0.3 t.jsonl
    near "$(jq .overall.avg <<<"$output")" 0.5 0
    printf '{"id":1,"reward":0.5}\n' >h.jsonl
    run js h.jsonl
    near "$(jq .overall.avg <<<"$output")" 1 0
}

@test "--k: several values; pass@1 equals avg; large n does not overflow" {
    awk 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"id\":\"p\",\"sample\":%d,\"correct\":%s}\n", i, (i < 3 ? "true" : "false") }' >big.jsonl
    run js --k 1,10,1000 big.jsonl
    [ "$status" -eq 0 ]
    near "$(jq '.overall.pass_at_k["1"]' <<<"$output")" 0.0006 1e-15
    # to its last digits, relatively (1 - 4997/5000 cancelled to 1e-13 of it)
    near "$(jq '.overall.pass_at_k["1"] / 0.0006' <<<"$output")" 1 3e-16
    # 1 - C(4997,1000)/C(5000,1000) = 1 - (4000*3999*3998)/(5000*4999*4998)
    want=$(awk 'BEGIN { printf "%.17g", 1 - (4000*3999*3998)/(5000*4999*4998) }')
    near "$(jq '.overall.pass_at_k["1000"]' <<<"$output")" "$want" 1e-12
    run pic-eval --k 0
    fails_with 2 "--k"
    run pic-eval --k 1,x
    fails_with 2 "--k: 'x' is not an integer"
    run pic-eval --k 2,2
    fails_with 2 "given twice"
    run pic-eval --k ,
    fails_with 2 "--k"
    # an empty item was passed over, so a slip went unnoticed while '' was an error
    run pic-eval --k 1,,2
    fails_with 2 "^pic-eval: --k: an empty item in '1,,2'"
    run pic-eval --k 1,
    fails_with 2 "^pic-eval: --k: an empty item in '1,'"
    run pic-eval --k ''
    fails_with 2 "^pic-eval: --k: empty list"
}

@test "--maj: majority vote over all the samples of a problem (vote.jsonl, by hand)" {
    V="$FIXTURES/eval/vote.jsonl"
    # p1 1 (the correct answers are one: 2 votes, first at sample 0, tie with
    # '3' at 2 won), p2 0 ('3' = ' 3 ', 2 votes first at 0), p3 0 (no
    # answers), p4 1 (1-1, sample 1 before 3 though read later), p5 1 (3 to 2)
    run js --maj "$V"
    [ "$status" -eq 0 ]
    near "$(jq .datasets[0].maj_n <<<"$output")" 0.6 1e-15
    near "$(jq .overall.maj_n <<<"$output")" 0.6 1e-15
    near "$(jq .datasets[0].avg <<<"$output")" 0.32 1e-15
    # a vote by the text of pred alone would split \frac12 from 0.5 and lose p1
    run pic-eval -q --maj --k 1 "$V"
    [[ "${lines[0]}" =~ ^dataset\ +problems\ +n\ +avg@5\ +pass@5\ +maj@5\ +pass@1\ +length ]]
    [[ "${lines[1]}" =~ ^all\ +5\ +5\ +32\.0\ +80\.0\ +60\.0\ +32\.0\  ]]
    run pic-eval -q --maj --format tsv "$V"
    [ "$(awk -F'\t' 'NR==2 { print $6 }' <<<"$output")" = 0.6 ]
    # without --maj nothing changes: no column, no field
    run js "$V"
    [ "$(jq '.datasets[0] | has("maj_n")' <<<"$output")" = false ]
    # every record needs pred (null: no answer), a string or a number
    printf '{"id":1,"correct":true}\n' >np.jsonl
    run pic-eval --maj np.jsonl
    fails_with 1 "np.jsonl:1: field 'pred': missing"
    printf '{"id":1,"correct":true,"pred":[1]}\n' >np.jsonl
    run pic-eval --maj np.jsonl
    fails_with 1 "np.jsonl:1: field 'pred': not a string, a number or null"
    run pic-eval --help
    [[ "$output" == *"--maj"*"a tie goes to the answer"* ]]
}

@test "--reflect-words: a list, @FILE, or '' for none" {
    run js --reflect-words 'no, Plain' "$A"
    a=$(jq -c '.datasets[0]' <<<"$output")
    [ "$(jq -c '.reflect_words' <<<"$a")" = '{"no":1,"plain":1}' ]
    # id 1: "Wait, no." 1, "plain" 1 -> 0.5; id 3: 0 -> 0.25
    near "$(jq .reflect <<<"$a")" 0.25 1e-12
    printf '# mine\nawaiting\n\nx\n' >w.txt
    run js --reflect-words @w.txt "$A"
    [ "$(jq -c '.datasets[0].reflect_words' <<<"$output")" = '{"awaiting":1,"x":4}' ]
    run js --reflect-words '' "$A"
    [ "$(jq .datasets[0].reflect <<<"$output")" = null ]
    run pic-eval -q --reflect-words '' "$A"
    [[ "${lines[1]}" =~ \ -$ ]]
    run pic-eval --reflect-words ',-bad'
    fails_with 2 "--reflect-words"
    # '' is the empty list; ',' and 'a,,b' hold an empty word, a slip
    run pic-eval --reflect-words ','
    fails_with 2 "^pic-eval: --reflect-words: an empty word"
    run pic-eval --reflect-words 'wait,,hmm'
    fails_with 2 "^pic-eval: --reflect-words: an empty word"
    printf 'wait,\nhmm\n' >comma.txt
    run pic-eval --reflect-words @comma.txt "$A"
    fails_with 1 "^pic-eval: comma.txt: reflective words: an empty word"
    # a byte-order mark (Windows editors write one) is no part of the first
    # word: "\ufeffawaiting" matched nothing, silently
    printf '\xef\xbb\xbfawaiting\nx\n' >bom.txt
    run js --reflect-words @bom.txt "$A"
    [ "$(jq -c '.datasets[0].reflect_words' <<<"$output")" = '{"awaiting":1,"x":4}' ]
    run pic-eval --reflect-words @nope.txt "$A"
    fails_with 1 "nope.txt"
    # a NUL byte ended the text: the words after it were dropped, silently
    printf 'wait\nhmm\0\nx\n' >nul.txt
    run pic-eval --reflect-words @nul.txt "$A"
    fails_with 1 "^pic-eval: nul.txt:2: reflective words: a raw NUL byte at column 4$"
    # a word that is not UTF-8 was counted, then dropped from the JSON (jansson
    # refuses such a key), silently
    printf 'wait\n\xff\xfeabc\nhmm\n' >latin.txt
    run pic-eval --reflect-words @latin.txt "$A"
    fails_with 1 "^pic-eval: latin.txt:2: reflective words: invalid UTF-8 \(0xff\) at byte 1$"
    # an overlong form (U+0000 in three bytes) is no UTF-8 either
    printf 'wait\nab\xe0\x80\x80\n' >overlong.txt
    run pic-eval --reflect-words @overlong.txt "$A"
    fails_with 1 "^pic-eval: overlong.txt:2: reflective words: invalid UTF-8 \(0xe0\) at byte 3$"
    run pic-eval --reflect-words $'wait,h\xc3(m' "$A"
    fails_with 2 "^pic-eval: --reflect-words: invalid UTF-8 \(0xc3\) at byte 7$"
    printf 'na\xc3\xafve\n\xe6\x95\xb0\xe5\xad\xa6\n' >utf8.txt
    run js --reflect-words @utf8.txt "$A"
    [ "$status" -eq 0 ]
    [ "$(jq -c '.overall.reflect_words | keys_unsorted | length' <<<"$output")" = 2 ]
}

@test "-o writes the file atomically; the summary line and --quiet" {
    run pic-eval -o out.txt "$A"
    [ "$status" -eq 0 ]
    grep -q "12 samples, 3 problems, 1 dataset$" <<<"$output"
    grep -q '^alpha ' out.txt
    [ "$(ls | wc -l)" -eq 1 ]
    run pic-eval -q -o out.txt "$A"
    [ -z "$output" ]
}

@test "a repeated sample index (a file given twice) is an error naming both lines" {
    run pic-eval "$A" "$A"
    fails_with 1 "alpha.jsonl:1: field 'sample': sample 0 of problem '1' \(alpha\) repeats .*alpha.jsonl:1"
    run js --skip-bad "$A" "$A"
    [ "$status" -eq 0 ]
    [ "$(jq .skipped <<<"$output")" = 12 ]
    near "$(jq .overall.avg <<<"$output")" 0.41666666666666667 1e-12
}

@test "bad input: exit 1 naming file, line and field" {
    printf '{"id":1,"correct":true}\n\n{"id":1,"correct":"yes"}\n' >bad.jsonl
    run pic-eval bad.jsonl
    fails_with 1 "^pic-eval: bad.jsonl:3: field 'correct': not a boolean"
    check() { printf '%s\n' "$1" >b.jsonl; run pic-eval b.jsonl; fails_with 1 "b.jsonl:1: $2"; }
    check '{"correct":true}' "field 'id': missing"
    check '{"id":1.5,"correct":true}' "field 'id': not a string or an integer"
    # ids compare as C strings: "p\u0000one" and "p\u0000two" would be one problem
    check '{"id":"p\u0000one","correct":true}' "field 'id': contains a NUL character"
    check '{"id":1}' "field 'reward': missing \(and no 'correct'\)"
    # present but null is not "missing", which sent one looking for a field that was there
    check '{"id":null,"correct":true}' "field 'id': null"
    check '{"id":1,"reward":null}' "field 'reward': null \(and no 'correct'\)"
    check '{"id":1,"correct":null,"reward":null}' "field 'reward': null \(and 'correct' is null\)"
    check '{"id":1,"correct":null}' "field 'reward': missing \(and 'correct' is null\)"
    check '{"id":1,"reward":"1"}' "field 'reward': not a finite number"
    check '{"id":1,"reward":1,"source":3}' "field 'source': not a string"
    # so are sources: "math\u0000x" was dataset "math"
    check '{"id":1,"reward":1,"source":"math\u0000x"}' "field 'source': contains a NUL character"
    check '{"id":1,"reward":1,"response_ids":[1,"a"]}' "field 'response_ids': not an array of integers"
    check '{"id":1,"reward":1,"response_ids":5}' "field 'response_ids': not an array"
    check '{"id":1,"reward":1,"entropy":[0.1,null]}' "field 'entropy': not an array of finite numbers"
    # pictl refuses a negative entropy; here it pulled the mean below 0
    check '{"id":1,"reward":1,"entropy":[0.1,-0.5]}' "field 'entropy': element 1: -0.5 is negative, not an entropy"
    # one entropy per response token: other counts are two different responses
    check '{"id":1,"reward":1,"response_ids":[1,2],"entropy":[0.5]}' "field 'entropy': 1 values for 2 response tokens"
    check '{"id":1,"reward":1,"response_ids":[],"entropy":[0.5]}' "field 'entropy': 1 values for 0 response tokens"
    check '{"id":1,"reward":1,"response":["x"]}' "field 'response': not a string"
    check '{"id":1,"reward":1,"sample":-1}' "field 'sample': not an integer >= 0"
    check '{"id":1,"reward":1' "malformed JSON"
    check '[1,2]' "expected a JSON object"
    # a key given twice: one of two rewards would count
    check '{"id":1,"reward":1,"reward":0}' "malformed JSON.*duplicate"
    run pic-eval missing.jsonl
    fails_with 1 "missing.jsonl"
    # the message names the input, as every other message about it does
    run pic-eval </dev/null
    fails_with 1 "^pic-eval: <stdin>: no records$"
    : >e1.jsonl && : >e2.jsonl
    run pic-eval e1.jsonl - e2.jsonl </dev/null
    fails_with 1 "^pic-eval: e1.jsonl, <stdin>, e2.jsonl: no records$"
    run pic-eval e1.jsonl e2.jsonl e1.jsonl e2.jsonl e1.jsonl e2.jsonl
    fails_with 1 "^pic-eval: e1.jsonl, e2.jsonl, e1.jsonl, e2.jsonl and 2 more files: no records$"
    printf 'not json\n' >bad.jsonl
    run pic-eval --skip-bad bad.jsonl
    fails_with 1 "^pic-eval: bad.jsonl: no records \(1 bad record skipped, --skip-bad\)$"
}

@test "JSON: every field is there, null where a value is not finite" {
    # two entropies near the largest double sum to infinity, which JSON
    # cannot say: the key was dropped, and jq read null by accident
    printf '{"id":1,"correct":true,"entropy":[1e308,1e308]}\n' >inf.jsonl
    run js inf.jsonl
    [ "$status" -eq 0 ]
    [ "$(jq -c '.datasets[0] | [has("entropy"), .entropy, .length]' <<<"$output")" = '[true,null,2]' ]
    [ "$(jq -c '.overall | has("entropy")' <<<"$output")" = true ]
    [ "$(jq -c '.datasets[0] | keys_unsorted' <<<"$output")" = \
        '["dataset","problems","samples","n_min","n_max","avg","pass_n","pass_at_k","length","entropy","reflect","reflect_any","reflect_words"]' ]
}

@test "--skip-bad skips and counts malformed records" {
    printf '{"id":1,"correct":true}\nnot json\n{"id":2}\n{"id":2,"correct":false}\n' >m.jsonl
    run pic-eval --skip-bad --format json m.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"2 bad records skipped"* ]]
    run js --skip-bad m.jsonl
    [ "$(jq .skipped <<<"$output")" = 2 ]
    near "$(jq .overall.avg <<<"$output")" 0.5 0
}

@test "a truncated zstd file is an error" {
    zstd -q -c "$A" >a.zst
    head -c 60 a.zst >cut.zst
    run pic-eval cut.zst
    [ "$status" -eq 1 ]
    [[ "$output" == *"cut.zst"* ]]
}

@test "usage errors, --help and --version" {
    run pic-eval --format html
    fails_with 2 "--format: 'html' is not table, markdown, tsv or json"
    run pic-eval --digits 99
    fails_with 2 "--digits"
    for fmt in tsv json; do
        run pic-eval --digits 3 --format "$fmt" "$A"
        fails_with 2 "^pic-eval: --digits needs --format table or markdown"
    done
    run pic-eval --threshold x
    fails_with 2 "--threshold"
    run pic-eval --default-source ''
    fails_with 2 "--default-source"
    # a dataset's name is a JSON key and a JSON string: invalid UTF-8 there
    # was "out of memory indexing" (exit 1), after reading the input
    run pic-eval --default-source $'ab\xff' <<<'{"id":1,"correct":true}'
    fails_with 2 "^pic-eval: --default-source: invalid UTF-8 \(0xff\) at byte 3"
    run pic-eval --bogus
    fails_with 2 "Try 'pic-eval --help'"
    run pic-eval --help
    [ "$status" -eq 0 ]
    for opt in --k --format --digits --threshold --reflect-words --default-source --output --skip-bad --quiet; do
        grep -q -- "$opt" <<<"$output" || { echo "help lacks $opt"; return 1; }
    done
    run pic-eval --version
    [[ "$output" == "pic-eval (pic) "* ]]
}

@test "a write error is a failure" {
    [ -w /dev/full ] || skip "no /dev/full"
    run bash -c "pic-eval -q '$A' >/dev/full"
    fails_with 1 "^pic-eval: standard output \(/dev/full\): write error: No space left on device$"
}
