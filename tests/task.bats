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
    ! cmp -s a.jsonl c.jsonl
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

@test "--kinds restricts the mix; --source names the dataset" {
    pic-task -q --plain -n 50 -d 3 --kinds eq --source mine > p.jsonl
    [ "$(jq -r .kind p.jsonl | sort -u)" = eq ]
    [ "$(jq -r .source p.jsonl | sort -u)" = mine ]
}

@test "bad options are usage errors" {
    run pic-task -d 9
    fails_with 2 'difficulty: 9 is outside'
    run pic-task --kinds add,pow
    fails_with 2 "unknown kind 'pow'"
    run pic-task extra
    fails_with 2 "unexpected operand"
    run pic-task --help
    [ "$status" -eq 0 ] && [[ "$output" == Usage:* ]]
}
