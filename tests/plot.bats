#!/usr/bin/env bats
# pipelines/plot.sh: figures from run logs, and clear errors without them.
load helpers

make_run() { # dir with_target
    mkdir -p "$1"
    for s in 1 2 3 4 5 6; do
        if [ "$2" = yes ]; then
            echo "{\"step\":$s,\"entropy\":0.$((9 - s)),\"target\":0.3,\"alpha\":0.$s,\"reward\":0.$s}"
        else
            echo "{\"step\":$s,\"entropy\":0.$((9 - s)),\"alpha\":0,\"reward\":0.$s}"
        fi
    done > "$1/log.jsonl"
}

@test "one run gives RUN/plot.png and RUN/plot.svg" {
    make_run a yes
    printf '{"step":3,"accuracy":0.5}\n{"step":6,"accuracy":0.7}\n' > a/val.jsonl
    run plot.sh a
    [ "$status" -eq 0 ]
    [ "$(head -c 8 a/plot.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
    grep -q '<svg' a/plot.svg
    grep -q 'a target' a/plot.svg
    [ -z "$(ls a | grep tmp)" ]
}

@test "reflective words at each validation get their panel (the paper's Figure 12)" {
    make_run a yes
    printf '{"step":3,"accuracy":0.5,"reflect":0.25}\n{"step":6,"accuracy":0.7,"reflect":1.5}\n' > a/val.jsonl
    run plot.sh a
    [ "$status" -eq 0 ]
    grep -q 'Reflective words (validation)' a/plot.svg
    ! grep -q 'no reflective-word data' a/plot.svg || false
    printf '{"step":3,"accuracy":0.5}\n' > a/val.jsonl
    run plot.sh a
    grep -q 'no reflective-word data' a/plot.svg
}

@test "a run of one step is drawn: its values get points, which a line through one value lacks" {
    mkdir a
    echo '{"step":1,"entropy":0.5,"target":0.3,"alpha":0.2,"reward":0.25}' > a/log.jsonl
    run plot.sh a
    [ "$status" -eq 0 ]
    # entropy, its target, alpha and reward, each a point and a key sample
    points=$(grep -c "<use xlink:href='#gpPt[0-9]*' transform='translate" a/plot.svg)
    [ "$points" -ge 4 ]
    # a validation's accuracy and reflective words: two more points, two more key samples
    echo '{"step":1,"accuracy":0.5,"reflect":0.5}' > a/val.jsonl
    run plot.sh a
    [ "$status" -eq 0 ]
    [ "$(grep -c "<use xlink:href='#gpPt[0-9]*' transform='translate" a/plot.svg)" -eq $((points + 4)) ]
}

@test "several runs in one figure; a run without target or validation is fine" {
    make_run entropic yes
    make_run grpo no
    run plot.sh -o both --title "two runs" entropic grpo
    [ "$status" -eq 0 ]
    [ -s both.png ]
    grep -q 'grpo' both.svg
    grep -q 'entropic target' both.svg
    ! grep -q 'grpo target' both.svg || false
}

# the stroke of the first curve keyed NAME in FILE.svg
stroke_of() { grep -A5 -F "<text>$2</text>" "$1" | grep -o -m1 "stroke='rgb([^']*)'"; }

@test "nine runs or more: each run has its own colour (gnuplot's line types repeat after 8)" {
    names=()
    for k in 1 2 3 4 5 6 7 8 9 10; do make_run "r$k" yes; names+=("r$k"); done
    run plot.sh -o many "${names[@]}"
    [ "$status" -eq 0 ]
    colours=$(for n in "${names[@]}"; do stroke_of many.svg "$n"; done)
    [ "$(wc -l <<<"$colours")" -eq 10 ]
    [ "$(sort -u <<<"$colours" | wc -l)" -eq 10 ]
    # a run's target is drawn in its colour
    [ "$(stroke_of many.svg 'r9 target')" = "$(stroke_of many.svg r9)" ]
    # up to 8 runs keep gnuplot's own colours
    run plot.sh -o few r1 r2
    [ "$status" -eq 0 ]
    [ "$(stroke_of few.svg r1)" = "stroke='rgb(148,   0, 211)'" ]
}

@test "missing or broken logs are errors naming the file" {
    mkdir empty
    run plot.sh empty
    fails_with 1 'empty/log.jsonl: missing or empty'
    mkdir bad && echo '{"step":' > bad/log.jsonl
    run plot.sh bad
    fails_with 1 'bad/log.jsonl: not JSON Lines'
    make_run badval yes
    echo '{"step":1,"accuracy":' > badval/val.jsonl
    run plot.sh badval
    fails_with 1 'badval/val.jsonl: not JSON Lines'
    run plot.sh
    fails_with 2 'no run given'
}

@test "summary.sh reports the best validation accuracy with its step, and the last" {
    mkdir r
    printf '{"step":1,"entropy":0.5,"target":0.3,"alpha":0.1,"reward":0.2,"accuracy":0.4}\n{"step":2,"entropy":0.4,"target":0.3,"alpha":0.1,"reward":0.3,"accuracy":0.6}\n{"step":3,"entropy":0.4,"target":0.3,"alpha":0.1,"reward":0.3,"accuracy":0.5}\n' > r/log.jsonl
    run summary.sh --format json r
    [ "$(jq -c '.[0] | [.best, .best_step, .accuracy]' <<<"$output")" = '[0.6,2,0.5]' ]
    run summary.sh --format markdown r
    [[ "$output" == *"| 0.6 (2) | 0.5 |"* ]]
}

@test "summary.sh: entropy, alpha and reward are the last third's means; the error is relative to the target" {
    make_run a yes # steps 1-6: entropy 0.8 down to 0.3, alpha and reward 0.1 up to 0.6, target 0.3
    run summary.sh --format markdown a
    [ "$status" -eq 0 ]
    # steps 5 and 6: entropy 0.35, (0.35 - 0.3) / 0.3, alpha 0.55, reward 0.55
    [ "${lines[2]}" = "| a | 6 | 0.3 | 0.35 | 0.167 | 0.55 | 0.55 | - (-) | - |" ]
}

@test "a title, an output or a run name with quotes or a backslash is drawn as given" {
    make_run "we\"i'rd" yes
    run plot.sh -o "we\"i'rd/p" --title "say \"hi\", it's a \\n" "we\"i'rd"
    [ "$status" -eq 0 ]
    [ -s "we\"i'rd/p.png" ]
    grep -qF "say \"hi\", it's a \\n" "we\"i'rd/p.svg"
    grep -qF "i'rd target" "we\"i'rd/p.svg"
    # a newline in a run's name is drawn as \n, as summary.sh names it
    make_run "$(printf 'n\nl')" yes
    run plot.sh -o nl "$(printf 'n\nl')"
    [ "$status" -eq 0 ]
    grep -qF 'n\nl target' nl.svg
}

@test "an output that cannot be written and a missing option value are errors, not a PNG on stdout" {
    make_run a yes
    run plot.sh -o nodir/p a
    fails_with 1 'nodir/p.png: cannot write'
    [[ "$output" != *PNG* ]]
    run plot.sh a -o
    fails_with 2 '-o needs a value'
    run plot.sh --title
    fails_with 2 '--title needs a value'
}

@test "summary.sh: a target of 0 has no relative error, and a run's name may hold spaces" {
    mkdir z 'a b'
    printf '{"step":1,"entropy":0.5,"target":0,"alpha":0.1,"reward":0.2}\n' | tee z/log.jsonl > 'a b/log.jsonl'
    run summary.sh --format json z
    [ "$status" -eq 0 ]
    [ "$(jq -c '.[0] | [.target, .error]' <<<"$output")" = '[0,null]' ]
    run summary.sh z 'a b'
    [ "$status" -eq 0 ]
    [[ "${lines[2]}" =~ ^a\ b\ +1\ +0\ +0\.5\ +-\ +0\.1\ +0\.2 ]]
    # a step without a response token has entropy null: no 0 in the mean
    printf '{"step":%d,"entropy":%s,"target":0.3,"alpha":0,"reward":0}\n' 1 0.5 2 0.5 3 null 4 0.7 > z/log.jsonl
    run summary.sh --format json z
    [ "$(jq -c '.[0].entropy' <<<"$output")" = 0.7 ] # the last third: steps 3 and 4
}

@test "summary.sh: an unknown --format names the formats" {
    mkdir z
    printf '{"step":1,"entropy":0.5,"target":0.3,"alpha":0.1,"reward":0.2}\n' > z/log.jsonl
    run summary.sh --format csv z
    fails_with 2 "--format: 'csv' is not table, markdown or json"
}

@test "summary.sh: a run's name with '|' keeps its markdown cell; a newline or a tab keeps the row whole" {
    # (a run is named by its directory: a '|' there ended the markdown cell,
    # and a newline split the row in both formats)
    mkdir 'a|b' "$(printf 'n\nl')" "$(printf 't\td\001')"
    printf '{"step":1,"entropy":0.5,"target":0.3,"alpha":0.1,"reward":0.2}\n' |
        tee 'a|b/log.jsonl' "$(printf 'n\nl')/log.jsonl" > "$(printf 't\td\001')/log.jsonl"
    run summary.sh --format markdown 'a|b' "$(printf 'n\nl')" "$(printf 't\td\001')"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 5 ]
    [[ "${lines[2]}" == '| a\|b | 1 | 0.3 |'* ]]
    [[ "${lines[3]}" == '| n\nl | 1 |'* ]]
    [[ "${lines[4]}" == '| t\td\x01 | 1 |'* ]]
    for i in 2 3 4; do [ "$(tr -cd '|' <<<"${lines[$i]//\\|/}" | wc -c)" -eq 10 ]; done
    run summary.sh 'a|b' "$(printf 'n\nl')"
    [ "${#lines[@]}" -eq 3 ]
    [[ "${lines[1]}" =~ ^a\|b\ +1\ +0\.3 ]]
    [[ "${lines[2]}" =~ ^n\\nl\ +1\ +0\.3 ]]
    # JSON keeps the name as it is
    run summary.sh --format json "$(printf 'n\nl')"
    [ "$(jq -r '.[0].run' <<<"$output")" = "$(printf 'n\nl')" ]
}

@test "summary.sh: a broken log among the runs is an error naming it, not a table without it" {
    mkdir bad good
    echo '{"step":' > bad/log.jsonl
    printf '{"step":1,"entropy":0.5,"target":0.3,"alpha":0.1,"reward":0.2}\n' > good/log.jsonl
    run summary.sh bad good
    fails_with 1 'bad/log.jsonl: not JSON Lines'
    make_run badval yes
    echo '{"step":1,"accuracy":' > badval/val.jsonl
    run plot.sh badval
    fails_with 1 'badval/val.jsonl: not JSON Lines'
}
