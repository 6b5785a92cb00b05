#!/usr/bin/env bats
# pic-task: synthetic problems are deterministic, well-formed and right.
load helpers

@test "the same options give the same stream; --start extends it" {
    pic-task -q --plain -n 10 --seed 7 -d 3 > a.jsonl
    pic-task -q --plain -n 10 --seed 7 -d 3 > b.jsonl
    cmp a.jsonl b.jsonl
    pic-task -q --plain -n 4 --start 6 --seed 7 -d 3 > tail.jsonl
    cmp <(tail -n 4 a.jsonl) tail.jsonl
    pic-task -q --plain -n 10 --seed 8 -d 3 > c.jsonl
    ! cmp -s a.jsonl c.jsonl || false
}

@test "every answer is right: recompute each problem with jq" {
    pic-task -q --plain -n 300 -d 4 --solutions > p.jsonl
    # the solution ends in \boxed{answer}, and the answer is the recomputed value
    run jq -r '. as $r | select($r.solution | endswith("\\boxed{" + $r.answer + "}") | not) | .id' p.jsonl
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run jq -r '
      def n: tonumber;
      (if .kind == "eq" then
        (.problem | capture("x: (?<a>[0-9]+)x \\+ (?<b>[0-9]+) = (?<c>-?[0-9]+)")) as $m
        | (($m.c|n) - ($m.b|n)) / ($m.a|n)
      else
        (.problem | capture("What is (?<a>[0-9]+) (?<op>[-+*/]) (?<b>[0-9]+)")) as $m
        | if $m.op == "+" then ($m.a|n) + ($m.b|n) elif $m.op == "-" then ($m.a|n) - ($m.b|n)
          elif $m.op == "*" then ($m.a|n) * ($m.b|n) else ($m.a|n) / ($m.b|n) end
      end) as $v | select($v != (.answer|n)) | .id' p.jsonl
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    # difficulty 4 offers every kind
    [ "$(jq -r .kind p.jsonl | sort -u | tr '\n' ' ')" = "add div eq mul sub " ]
}

@test "difficulty 1 is one-digit addition and non-negative subtraction" {
    pic-task -q --plain -n 200 -d 1 > p.jsonl
    [ "$(jq -r .kind p.jsonl | sort -u | tr '\n' ' ')" = "add sub " ]
    run jq -r 'select((.answer|tonumber) < 0 or (.problem|test("[0-9]{2}"))) | .id' p.jsonl
    [ -z "$output" ]
}

@test "each difficulty's kinds and operand sizes are those --help lists" {
    # per kind: the digits of each operand (with its values when small), of x
    # and of a quotient, and whether any answer is negative: sizes grow with
    # the difficulty (one-digit operands from 0), * from 2, equations from 3,
    # division and negative roots from 4; subtraction goes negative from 3
    cat >shape.jq <<'JQ'
def ops: if .kind == "eq" then .problem | capture("x: (?<a>[0-9]+)x \\+ (?<b>[0-9]+) = ")
         else .problem | capture("What is (?<a>[0-9]+) . (?<b>[0-9]+)") end | map_values(tonumber);
def dig: tostring | ltrimstr("-") | length;
def span(f): [.[] | f] | if min == max then "\(min)" else "\(min)-\(max)" end;
def op(f): span(f | dig) + (if ([.[] | f] | max) < 20 then "(\(span(f)))" else "" end);
group_by(.kind)[] | map(ops + {x: (.answer | tonumber)}) as $r
| "\(.[0].kind) \($r | op(.a)) \($r | op(.b))"
  + if .[0].kind == "div" or .[0].kind == "eq" then " \($r | op(.x))" else "" end
  + if ($r | map(.x) | min) < 0 then " neg" else "" end
JQ
    want=("add 1(0-9) 1(0-9),sub 1(0-9) 1(0-9)"
          "add 2 2,mul 1(0-9) 1(0-9),sub 2 2"
          "add 3 3,eq 1(2-9) 2 1(0-9),mul 2 1(0-9),sub 3 3 neg"
          "add 4 4,div 2-3 1(2-9) 2,eq 1-2(2-19) 3 2 neg,mul 3 2,sub 4 4 neg"
          "add 5 5,div 3-4 1(2-9) 3,eq 1-2(2-19) 3 2 neg,mul 3 2,sub 5 5 neg")
    for d in 1 2 3 4 5; do
        pic-task -q --plain -n 400 -d "$d" >p.jsonl
        [ "$(jq -rs -f shape.jq p.jsonl | paste -sd, -)" = "${want[d - 1]}" ]
    done
}

@test "--kinds restricts the mix; --source names the dataset" {
    pic-task -q --plain -n 50 -d 3 --kinds eq --source mine > p.jsonl
    [ "$(jq -r .kind p.jsonl | sort -u)" = eq ]
    [ "$(jq -r .source p.jsonl | sort -u)" = mine ]
    # --kinds overrides the difficulty's kinds (difficulty 1 offers only + and
    # -), at the difficulty's operand sizes: one-digit products
    pic-task -q --plain -n 20 -d 1 --kinds mul > m.jsonl
    [ "$(jq -r .kind m.jsonl | sort -u)" = mul ]
    run jq -r 'select(.problem | test("^What is [0-9] \\* [0-9]\\?$") | not) | .id' m.jsonl
    [ -z "$output" ]
    # and the help says so, where it said difficulty 1 had + and - only
    run pic-task --help
    [[ "$output" == *"kinds unless --kinds"* ]]
    [[ "$output" == *"any of them at any difficulty"* ]]
}

@test "bad options are usage errors" {
    run pic-task -d 9
    fails_with 2 'difficulty: 9 is outside'
    run pic-task --kinds add,pow
    fails_with 2 "unknown kind 'pow'"
    # an empty item was passed over ('add,,sub' ran as 'add,sub') while '' was an error
    run pic-task --kinds add,,sub
    fails_with 2 "^pic-task: --kinds: an empty item in 'add,,sub'"
    run pic-task --kinds add,
    fails_with 2 "^pic-task: --kinds: an empty item"
    run pic-task --kinds ''
    fails_with 2 "^pic-task: --kinds: empty list"
    run pic-task extra
    fails_with 2 "unexpected operand"
    # a source that is not UTF-8 cannot be a JSON string: records went without one
    run pic-task -n 1 --plain --source $'d\xff'
    fails_with 2 "^pic-task: --source: the name is not UTF-8"
    # the last id is what must stay exact: --start 2^53 -n 2 wrote 2^53+1,
    # which jq reads back as 2^53
    run pic-task -q --plain --start 9007199254740992 -n 2
    fails_with 2 "^pic-task: --start 9007199254740992 with --count 2: the last id, 9007199254740993, is above 2\\^53"
    run pic-task -q --plain --start 9007199254740991 -n 2
    [ "$status" -eq 0 ]
    [ "$(jq -c .id <<< "$output" | paste -sd' ')" = "9007199254740991 9007199254740992" ]
    run pic-task --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
}

@test "countdown: every problem is solvable, its witness checked by jq's own arithmetic" {
    pic-task -q --plain --task countdown -n 300 -d 3 --solutions > p.jsonl
    # 4 numbers from 1..50, targets 1..500, each field present
    run jq -r 'select((.numbers | length) != 4 or any(.numbers[]; . < 1 or . > 50)
        or .target < 1 or .target > 500 or .kind != "countdown" or .source != "countdown-d3") | .id' p.jsonl
    [ -z "$output" ]
    # the witness uses each number exactly once (as a multiset)
    run jq -r 'select(([.answer | scan("[0-9]+") | tonumber] | sort) != (.numbers | sort)) | .id' p.jsonl
    [ -z "$output" ]
    # and evaluates to the target: jq reads the witness as a jq expression
    while read -r line; do
        w=$(jq -r .answer <<<"$line") t=$(jq -r .target <<<"$line")
        [ "$(jq -n "$w")" = "$t" ] || { echo "witness $w != $t"; return 1; }
    done < <(head -n 100 p.jsonl)
    # every step's result is a positive integer (the game's rule: no 0 from
    # a - a), and no step divides by 1 (the generator draws b > 1)
    run jq -r 'select([.solution | sub("\\. \\\\boxed.*$"; "") | split(", ")[]
        | select(test("^[0-9]+ [-+*/] [0-9]+ = [1-9][0-9]*$") | not), select(test(" / 1 = "))] != []) | .id' p.jsonl
    [ -z "$output" ]
    # the solution's steps end in \boxed{witness}
    run jq -r '. as $r | select($r.solution | endswith("\\boxed{" + $r.answer + "}") | not) | .id' p.jsonl
    [ -z "$output" ]
}

@test "countdown: deterministic by seed; difficulty and the knobs set count and range" {
    pic-task -q --plain --task countdown -n 20 --seed 3 > a.jsonl
    pic-task -q --plain --task countdown -n 20 --seed 3 > b.jsonl
    cmp a.jsonl b.jsonl
    pic-task -q --plain --task countdown -n 20 --seed 4 > c.jsonl
    ! cmp -s a.jsonl c.jsonl || false
    for d in 1 2 3 4 5; do
        pic-task -q --plain --task countdown -n 50 -d "$d" > d.jsonl
        want=$(jq -n --argjson d "$d" '[3, 4, 4, 5, 6][$d - 1]')
        [ "$(jq -r '.numbers | length' d.jsonl | sort -u)" = "$want" ]
    done
    pic-task -q --plain --task countdown -n 100 --numbers 7 --max-number 3 --max-target 20 > k.jsonl
    [ "$(jq -r '.numbers | length' k.jsonl | sort -u)" = 7 ]
    [ "$(jq -s '[.[].numbers[]] | max' k.jsonl)" -le 3 ]
    [ "$(jq -s 'map(.target) | max' k.jsonl)" -le 20 ]
    # the limit itself is a target: 3 numbers of 1..3 reach 5 (3 + 1 + 1)
    pic-task -q --plain --task countdown -n 300 --seed 1 --numbers 3 --max-number 3 --max-target 5 > k.jsonl
    [ "$(jq -s 'map(.target) | max' k.jsonl)" = 5 ]
}

@test "countdown: unreachable limits fail naming the option; mixing tasks' options is a usage error" {
    # two numbers from 1..10000 rarely differ by 1: seed 1's first id never does
    run pic-task -q --task countdown -n 1 --seed 1 --numbers 2 --max-number 10000 --max-target 1 -o out.jsonl
    fails_with 1 "id 0: no target in 1..1 reached.*raise --max-target"
    [ ! -e out.jsonl ]
    run pic-task --task countdown --kinds add
    fails_with 2 "kinds is for --task math"
    for o in "--numbers 4" "--max-number 5" "--max-target 5"; do
        run pic-task $o
        fails_with 2 "are for --task countdown"
    done
    run pic-task --task chess
    fails_with 2 "unknown task 'chess'"
    run pic-task --task countdown --numbers 9
    fails_with 2 "numbers: 9 is outside"
}
