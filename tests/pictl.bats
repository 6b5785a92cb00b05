#!/usr/bin/env bats
# pictl: the EntroPIC controller as a filter, its state file, and simulate.

load helpers

# alphas ARGS...: run pictl on stdin, output joined by spaces
alphas() { pictl "$@" | tr '\n' ' ' | sed 's/ $//'; }

@test "the issue's example: 0.1, 0.051, -0.0485 to 1e-12" {
    run pictl <<<$'0.2\n0.15\n0.05'
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    near "${lines[0]}" 0.1 1e-12
    near "${lines[1]}" 0.051 1e-12
    near "${lines[2]}" -0.0485 1e-12
}

@test "alphas print exactly (shortest double, not float32)" {
    # 0.05 + 0.01*0.1 in double is 0.05099999999999999; float32 rounding would lose it
    run pictl <<<$'0.2\n0.15'
    [ "${lines[1]}" = "0.05099999999999999" ]
    # and so do --json's values: one that is exactly a float32 (an entropy
    # a float32 gave) printed in float32's shortest form, another double
    run pictl --json --ki 0 --target 0 <<<0.30000001192092896
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.entropy, .alpha]' <<<"$output")" = "[0.30000001192092896,0.30000001192092896]" ]
    [[ "$output" == *'"entropy":0.30000001192092896,'* ]]
    [ "$(pictl --ki 0 --target 0 <<<0.30000001192092896)" = 0.30000001192092896 ]
}

@test "each alpha is written at once (pictl works as a coprocess)" {
    coproc CTL { pictl; }
    # bash forgets CTL_PID once the coprocess has ended: keep it
    pid=$CTL_PID
    echo 0.2 >&"${CTL[1]}"
    read -t 10 -r a <&"${CTL[0]}"
    echo 0.15 >&"${CTL[1]}"
    read -t 10 -r b <&"${CTL[0]}"
    exec {CTL[1]}>&-
    wait "$pid" 2>/dev/null || true
    near "$a" 0.1 1e-12
    near "$b" 0.051 1e-12
}

@test "a co-process's first line may be shorter than a zstd magic number (1, 0): it is answered at once" {
    # the reader sniffed four bytes before it decided plain or zstd, and
    # "1\n" has two: pictl waited for more, its caller for the answer
    for first in 1 0 12; do
        coproc CTL { pictl 2>/dev/null; }
        pid=$CTL_PID
        echo "$first" >&"${CTL[1]}"
        a=
        read -t 5 -r a <&"${CTL[0]}" || true
        exec {CTL[1]}>&-
        wait "$pid" 2>/dev/null || true
        [ -n "$a" ]
        [ "$a" = "$(echo "$first" | pictl)" ]
    done
}

@test "zstd input is read as plain (a record stream piped in compressed); truncated is an error" {
    printf '0.2\n{"entropy": 0.15}\n' | zstd -q >h.zst
    run pictl h.zst
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    near "${lines[1]}" 0.051 1e-12
    seq 1 5000 | sed 's/.*/0.2/' | zstd -q >long.zst
    head -c 20 long.zst >cut.zst
    run pictl cut.zst
    fails_with 1 "cut.zst: (truncated|corrupt) zstd stream"
}

@test "blank lines and surrounding whitespace are skipped, CRLF accepted" {
    run pictl < <(printf '\n  0.2  \r\n\n\t\n0.15\r\n')
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    near "${lines[1]}" 0.051 1e-12
}

@test "JSON objects: --field default entropy, custom, and nested a.b" {
    run pictl <<<$'{"entropy":0.2,"x":1}\n0.15\n{"loss":3,"entropy":0.05}'
    [ "$status" -eq 0 ]
    near "${lines[2]}" -0.0485 1e-12
    run pictl --field ent <<<'{"entropy":9,"ent":0.2}'
    near "$output" 0.1 1e-12
    run pictl --field stats.entropy <<<'{"stats":{"entropy":0.2}}'
    near "$output" 0.1 1e-12
    # a literal key with a dot wins over the path
    run pictl --field a.b <<<'{"a.b":0.3,"a":{"b":0.2}}'
    near "$output" 0.2 1e-12
    # a path with an empty part names nothing: a..b is not a.b
    for f in a..b .a.b a.b.; do
        run pictl --field "$f" <<<'{"a":{"b":0.2}}'
        fails_with 1 "<stdin>:1: field '$f': missing"
    done
    # \u0000 in a string is text, as every record reader reads it (a
    # sample's response may hold one)
    run pictl <<<'{"entropy":0.2,"response":"a\u0000b"}'
    [ "$status" -eq 0 ]
    near "$output" 0.1 1e-12
}

@test "--json writes step, entropy, target, error, p, i, integral, alpha, saturated" {
    run pictl --json <<<$'0.2\n0.15\n0.05'
    [ "$status" -eq 0 ]
    [ "$(jq -c keys_unsorted <<<"${lines[0]}")" = '["step","entropy","target","error","p","i","integral","alpha","saturated"]' ]
    [ "$(jq .step <<<"${lines[2]}")" = 2 ]
    near "$(jq .i <<<"${lines[1]}")" 0.001 1e-15      # Ki * I_0
    near "$(jq .integral <<<"${lines[1]}")" 0.15 1e-15 # I_1
    near "$(jq .p <<<"${lines[2]}")" -0.05 1e-15
    near "$(jq .alpha <<<"${lines[2]}")" -0.0485 1e-12
    [ "$(jq .saturated <<<"${lines[2]}")" = false ]
}

@test "--ki 0 is the P controller; --kp scales" {
    [ "$(alphas --ki 0 --kp 2 <<<$'0.2\n0.15\n0.05')" = "0.2 0.09999999999999998 -0.1" ]
}

@test "--kd adds Kd*(H_t - H_{t-1}) and a d field" {
    run pictl --kd 0.5 --ki 0 --json <<<$'0.2\n0.6'
    near "$(jq .d <<<"${lines[0]}")" 0 0
    near "$(jq .d <<<"${lines[1]}")" 0.2 1e-15
    near "$(jq .alpha <<<"${lines[1]}")" 0.7 1e-12
}

@test "--alpha-min/--alpha-max clip and report saturation" {
    run pictl --json --alpha-max 0.05 --alpha-min -0.01 <<<$'0.2\n0.05\n0.1'
    [ "$(jq .alpha <<<"${lines[0]}")" = 0.05 ]
    [ "$(jq .saturated <<<"${lines[0]}")" = true ]
    [ "$(jq .alpha <<<"${lines[1]}")" = -0.01 ]
    [ "$(jq .saturated <<<"${lines[2]}")" = false ]
    run pictl --alpha-min 0.5 --alpha-max 0.5 <<<'0'
    [ "$output" = 0.5 ]
}

@test "--anti-windup holds the integral while saturated and pushing further" {
    run pictl --json --ki 0.5 <<<$'3\n3'
    [ "$(jq .integral <<<"${lines[1]}")" = 5.8 ]
    run pictl --json --ki 0.5 --anti-windup <<<$'3\n3'
    [ "$(jq .integral <<<"${lines[1]}")" = 0 ]
    # wound up without it (integral 5.8), then an error that pulls back out of
    # the clip (u = -0.6 + 0.5*5.8 > 1) is still integrated
    pictl --ki 0.5 --state s.json <<<$'3\n3' >/dev/null
    run pictl --json --ki 0.5 --anti-windup --target 1.1 --state s.json <<<'0.5'
    [ "$(jq .saturated <<<"$output")" = true ]
    near "$(jq .integral <<<"$output")" 5.2 1e-12
}

@test "--target sets the setpoint" {
    run pictl --target 0.3 <<<'0.2'
    near "$output" -0.1 1e-12
    run pictl --json --target 0 <<<'0'
    [ "$(jq .target <<<"$output")" = 0 ]
    # no entropy is below 0: alpha saturated and the integral drifted for ever
    run pictl --target -1 <<<'0'
    fails_with 2 "^pictl: --target: -1 is outside \\[0, "
    run pictl simulate --target -0.5
    fails_with 2 "^pictl: --target: -0.5 is outside"
}

@test "--target-schedule: piecewise linear over steps, from a spec" {
    run pictl --json --ki 0 --target-schedule '1:0.5,3:0.1' <<<$'0\n0\n0\n0\n0'
    [ "$status" -eq 0 ]
    targets=$(jq -r .target <<<"$output" | tr '\n' ' ')
    [ "$targets" = "0.5 0.5 0.3 0.1 0.1 " ]
}

@test "--target-schedule @FILE with comments" {
    printf '# warm start\n0 0.4\n\n2 0.2  # settle\n' >sched.txt
    run pictl --json --target-schedule @sched.txt <<<$'0\n0\n0'
    t=($(jq -r .target <<<"$output"))
    near "${t[0]}" 0.4 0
    near "${t[1]}" 0.3 1e-15
    near "${t[2]}" 0.2 0
}

@test "a byte-order mark before the first line is skipped, in input and in a schedule file, as pic-cat skips it" {
    # Windows editors write one; it made the first value malformed
    printf '\xef\xbb\xbf0.3\n0.2\n' >bom.txt
    run pictl bom.txt
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '0.3\n0.2\n' | pictl)" ]
    printf '\xef\xbb\xbf{"entropy":0.3}\n' >bom.jsonl
    run pictl bom.jsonl
    [ "$status" -eq 0 ]
    [ "$output" = "$(pictl <<<0.3)" ]
    printf '\xef\xbb\xbf0 0.4\n2 0.2\n' >bsched.txt
    run pictl --json --target-schedule @bsched.txt <<<$'0\n0\n0'
    [ "$status" -eq 0 ]
    t=($(jq -r .target <<<"$output"))
    near "${t[0]}" 0.4 0
    near "${t[1]}" 0.3 1e-15
    near "${t[2]}" 0.2 0
    # anywhere else it is no number
    printf '0.3\n\xef\xbb\xbf0.2\n' >bom2.txt
    run pictl bom2.txt
    fails_with 1 "^pictl: bom2.txt:2: expected a finite decimal number"
}

@test "--target-schedule errors: a bad spec is a usage error, a bad file a runtime one" {
    run pictl --target-schedule '5:0.1,2:0.2'
    fails_with 2 "target-schedule: step 2 after step 5"
    run pictl --target-schedule 'abc'
    fails_with 2 "target-schedule"
    # its values are targets, so entropies, as --target's
    run pictl --target-schedule '0:0.5,10:-0.1'
    fails_with 2 "^pictl: --target-schedule: value '-0.1' at step 10: expected a finite number >= 0"
    printf '0 0.5\n9 -1\n' >neg.txt
    run pictl --target-schedule @neg.txt </dev/null
    fails_with 1 "^pictl: neg.txt:2: target schedule: value '-1' at step 9: expected a finite number >= 0"
    # an empty point was passed over, so a slip (a point left out?) went unnoticed
    run pictl --target-schedule '0:0.5,'
    fails_with 2 "^pictl: --target-schedule: an empty point"
    run pictl --target-schedule '0:0.5,,9:0.1'
    fails_with 2 "^pictl: --target-schedule: an empty point"
    printf '0 0.5\n\n# blank lines are no points\n9 0.1;\n' >semi.txt
    run pictl --target-schedule @semi.txt </dev/null
    fails_with 1 "^pictl: semi.txt:4: target schedule: an empty point"
    echo "1 nope" >bad.txt
    run pictl --target-schedule @bad.txt </dev/null
    fails_with 1 "^pictl: bad.txt:1: target schedule: value 'nope'"
    # an error in a file names its line, not only the step
    printf '# warm-up\n0 0.5\n20 0.3\n\n10 0.1\n' >order.txt
    run pictl --target-schedule @order.txt </dev/null
    fails_with 1 "^pictl: order.txt:5: target schedule: step 10 after step 20: steps must increase$"
    # no points is no line's fault
    printf '# nothing yet\n\n' >none.txt
    run pictl --target-schedule @none.txt </dev/null
    fails_with 1 "^pictl: none.txt: target schedule: no points"
    run pictl --target-schedule @missing.txt </dev/null
    fails_with 1 "missing.txt"
    # a NUL byte ended the text: the points after it were dropped, silently
    printf '0 0.4\n2 0.3\0\n5 0.2\n' >nul.txt
    run pictl --target-schedule @nul.txt </dev/null
    fails_with 1 "^pictl: nul.txt:2: target schedule: a raw NUL byte at column 6$"
    run pictl --target 0.2 --target-schedule 0:0.1
    fails_with 2 "exclude each other"
    # values read as --target's: 0x10 was 16, 1e-400 refused, 2e6 taken
    run pictl --target-schedule '0:0.5,9:0x10' </dev/null
    fails_with 2 "^pictl: --target-schedule: value '0x10' at step 9: expected a finite number >= 0, at most 1e\+06"
    run pictl --target-schedule '0:2e6' </dev/null
    fails_with 2 "^pictl: --target-schedule: value '2e6' at step 0: expected a finite number >= 0, at most 1e\+06"
    run pictl --json --ki 0 --target-schedule '0:1e-400' <<<0.5
    [ "$status" -eq 0 ]
    [ "$(jq .target <<<"$output")" = 0 ]
}

@test "--state: once per step gives exactly what one run gives" {
    pictl --json --kd 0.3 --target-schedule '0:0.3,4:0.1' <<<$'0.5\n0.4\n0.35\n0.2\n0.1\n0.12' >one.txt
    for h in 0.5 0.4 0.35 0.2 0.1 0.12; do
        echo "$h" | pictl --json --kd 0.3 --target-schedule '0:0.3,4:0.1' --state ctl.json >>steps.txt
    done
    cmp one.txt steps.txt
    [ "$(jq .step ctl.json)" = 6 ]
    [ "$(jq .pictl_state ctl.json)" = 1 ]
    near "$(jq .prev_entropy ctl.json)" 0.12 0
    # no temporary files left beside the state
    [ "$(ls | grep -c ctl)" -eq 1 ]
}

@test "--state: concurrent calls on one state file lose no update (flock)" {
    for i in $(seq 40); do
        (echo 0.2 | pictl --state s.json >/dev/null) &
    done
    wait
    [ "$(jq .step s.json)" = 40 ]
    [ "$(ls)" = s.json ]
}

@test "values: hexadecimal and negative entropies are errors" {
    run pictl <<<'0x10'
    fails_with 1 "<stdin>:1: expected a finite decimal number or a JSON object, got '0x10'"
    run pictl <<<'-0.5'
    fails_with 1 "<stdin>:1: entropy -0.5 is negative"
    run pictl <<<'{"entropy":-0.5}'
    fails_with 1 "<stdin>:1: field 'entropy': entropy -0.5 is negative"
    run pictl <<<'{"entropy":0.1,"entropy":0.5}'
    fails_with 1 "<stdin>:1: malformed JSON at column 24: duplicate"
}

@test "values below DBL_MIN read as their nearest double, plain as in JSON; an overflow is an error" {
    # strtod flags both with ERANGE: only the overflow is out of range
    run pictl <<<$'1e-310\n1e-400\n{"entropy":1e-400}'
    [ "$status" -eq 0 ]
    [ "$output" = "$(pictl <<<$'0\n0\n0')" ]
    run pictl <<<'1e400'
    fails_with 1 "<stdin>:1: expected a finite decimal number"
}

@test "--state: the integral round-trips bit for bit over many calls" {
    seq 1 200 | awk '{ printf "%.17g\n", 0.4 + sin($1) / 3 }' >in.txt
    pictl <in.txt >one.txt
    while read -r h; do echo "$h" | pictl --state s.json; done <in.txt >steps.txt
    cmp one.txt steps.txt
}

@test "--state: several values per call, and empty input leaves the file alone" {
    printf '0.2\n0.15\n' | pictl --state s.json >/dev/null
    cp s.json before.json
    run pictl --state s.json </dev/null
    [ "$status" -eq 0 ]
    cmp s.json before.json
    run pictl --state s.json <<<'0.05'
    near "$output" -0.0485 1e-12
}

@test "--state: a corrupt file is an error, not a reset; --reset starts over" {
    echo '{"pictl_state":1,"step":' >s.json
    cp s.json before.json
    run pictl --state s.json <<<'0.2'
    fails_with 1 "s.json: corrupt state file"
    cmp s.json before.json
    echo '' >s.json
    run pictl --state s.json <<<'0.2'
    fails_with 1 "corrupt state file"
    # a raw NUL byte after a number, which jansson alone drops
    printf '{"pictl_state":1\0,"step":0,"integral":0}' >s.json
    run pictl --state s.json <<<'0.2'
    fails_with 1 "s.json: corrupt state file \(line 1: a raw NUL byte"
    for bad in '[1]' '{"pictl_state":2,"step":0,"integral":0}' '{"pictl_state":1,"step":-1,"integral":0}' \
               '{"pictl_state":1,"step":1.5,"integral":0}' '{"pictl_state":1,"step":1,"integral":"x"}' \
               '{"pictl_state":1,"step":1,"integral":0,"prev_entropy":"x"}' '{"pictl_state":1,"step":1}' \
               '{"pictl_state":1,"step":9223372036854775807,"integral":0}' \
               '{"pictl_state":1,"step":1,"integral":0,"step":5}' \
               '{"pictl_state":1,"step":1,"integral":0,"prev_entropy":-0.5}'; do
        echo "$bad" >s.json
        run pictl --state s.json <<<'0.2'
        fails_with 1 "corrupt state file"
    done
    run pictl --state s.json --reset <<<$'0.2\n0.15'
    [ "$status" -eq 0 ]
    near "${lines[1]}" 0.051 1e-12
    [ "$(jq .step s.json)" = 2 ]
    # --reset with no input writes a fresh state
    pictl --state s.json --reset </dev/null
    [ "$(jq -c '[.step,.integral,.prev_entropy]' s.json)" = "[0,0,null]" ]
}

@test "--state: a failed call leaves the state as it was" {
    printf '0.2\n' | pictl --state s.json >/dev/null
    cp s.json before.json
    run pictl --state s.json <<<$'0.15\noops'
    fails_with 1 "<stdin>:2"
    cmp s.json before.json
    run pictl --state s.json <<<'0.15'
    near "$output" 0.051 1e-12
    # a failed first call leaves an empty file (the lock's), which is step 0
    run pictl --state new.json <<<'oops'
    fails_with 1 "<stdin>:1"
    [ -f new.json ]
    [ ! -s new.json ]
    [ "$(pictl --state new.json <<<'0.2')" = "$(pictl <<<'0.2')" ]
}

@test "--state: an unreadable state path is an error" {
    mkdir d.json
    run pictl --state d.json <<<'0.2'
    fails_with 1 "d.json"
}

@test "bad input: exit 1 with a message naming the line" {
    run pictl <<<$'0.2\n\nabc'
    fails_with 1 "^pictl: <stdin>:3: expected a finite decimal number or a JSON object, got 'abc'"
    run pictl <<<$'nan'
    fails_with 1 "<stdin>:1: expected a finite decimal number"
    run pictl <<<$'1e999'
    fails_with 1 "<stdin>:1"
    run pictl <<<$'0.2 0.3'
    fails_with 1 "<stdin>:1"
    run pictl <<<$'0.1\n{"entropy": 0.2'
    fails_with 1 "<stdin>:2: malformed JSON at column 15: "
    # the column on the line as read, as every reader's: leading blanks count
    run pictl <<<$'  {"entropy": x}'
    fails_with 1 "<stdin>:1: malformed JSON at column 15: "
    run pictl <<<'{"loss":1}'
    fails_with 1 "<stdin>:1: field 'entropy': missing"
    run pictl <<<'{"entropy":"high"}'
    fails_with 1 "<stdin>:1: field 'entropy': not a finite number"
    run pictl <<<'{"entropy":null}'
    fails_with 1 "field 'entropy'"
    run pictl --kp 1000000 <<<'1e308'
    fails_with 1 "<stdin>:1"
    # a raw NUL byte, as the record readers say it (strtod would stop there)
    run pictl < <(printf '0.1\n0.5\0\n')
    fails_with 1 "^pictl: <stdin>:2: a raw NUL byte at column 4$"
}

@test "file operands are read in order, errors name the file" {
    printf '0.2\n' >a.txt
    printf '0.15\n0.05\n' >b.txt
    run pictl a.txt - b.txt <<<''
    [ "$status" -eq 0 ]
    near "${lines[2]}" -0.0485 1e-12
    printf '0.2\nx\n' >c.txt
    run pictl c.txt
    fails_with 1 "c.txt:2:"
    run pictl nope.txt
    fails_with 1 "nope.txt"
}

@test "usage errors exit 2 and name the option" {
    run pictl --bogus
    fails_with 2 "Try 'pictl --help'"
    run pictl --kp abc
    fails_with 2 "--kp: 'abc' is not a number"
    run pictl --ki -1
    fails_with 2 "--ki"
    run pictl --kd nan
    fails_with 2 "--kd"
    run pictl --kp 0x1p-3
    fails_with 2 "--kp: '0x1p-3' is not a number"
    run pictl --target ' 0.5'
    fails_with 2 "--target: ' 0.5' is not a number"
    run pictl --target inf
    fails_with 2 "--target: 'inf' is not a number"
    # a number past what a double holds is out of range, one below DBL_MIN
    # its nearest double (as in the entropies read)
    run pictl --kp 1e999
    fails_with 2 "--kp: 1e999 is outside \\[0, 1e\\+06\\]"
    run pictl --target -1e999
    fails_with 2 "--target: -1e999 is outside"
    [ "$(pictl --kp 1e-400 <<<0.5)" = "$(pictl --kp 0 <<<0.5)" ]
    run pictl --alpha-min 1 --alpha-max 0
    fails_with 2 "alpha-min"
    run pictl --reset
    fails_with 2 "--reset needs --state"
    run pictl --steps 10
    fails_with 2 "--steps is an option of 'pictl simulate' only"
    run pictl -q
    fails_with 2 "simulate"
    run pictl simulate --state s.json
    fails_with 2 "--state is not an option of 'pictl simulate'"
    run pictl simulate extra
    fails_with 2 "reads no files"
    run pictl --field ''
    fails_with 2 "--field"
    run pictl simulate --c0 0
    fails_with 2 "--c0"
    run pictl simulate --steps 0
    fails_with 2 "--steps"
    # the seed draws only the noise: without it every seed ran one loop, exit 0
    run pictl simulate --seed 5
    fails_with 2 "^pictl: --seed needs --noise"
    run pictl simulate --noise 0 --seed 5
    fails_with 2 "^pictl: --seed needs --noise"
    # with Ki 0 no integral reaches alpha (Ki*e_t is 0: nothing to hold
    # back), so the run was the one without it, exit 0
    run pictl --anti-windup --ki 0 <<<0.2
    fails_with 2 "^pictl: --anti-windup needs --ki above 0"
    run pictl simulate --anti-windup --ki 0
    fails_with 2 "^pictl: --anti-windup needs --ki above 0"
}

@test "--help and --version" {
    run pictl --help
    [ "$status" -eq 0 ]
    for opt in --kp --ki --kd --target --target-schedule --alpha-min --alpha-max --anti-windup \
               --field --json --state --reset --c0 --drift --h0 --steps --noise --seed --summary --quiet; do
        grep -q -- "$opt" <<<"$output" || { echo "help lacks $opt"; return 1; }
    done
    run pictl simulate --help
    [ "$status" -eq 0 ]
    run pictl --version
    [ "$status" -eq 0 ]
    [[ "$output" == "pictl (pic) "* ]]
}

@test "a write error is a failure" {
    [ -w /dev/full ] || skip "no /dev/full"
    run bash -c 'echo 0.2 | pictl >/dev/full'
    fails_with 1 "^pictl: standard output \(/dev/full\): write error: No space left on device$"
    run bash -c 'echo 0.2 | pictl --json >/dev/full'
    fails_with 1 "^pictl: standard output \(/dev/full\): write error: No space left on device$"
    run bash -c 'pictl simulate >/dev/full'
    fails_with 1 "^pictl: standard output \(/dev/full\): write error: No space left on device$"
    run bash -c 'pictl simulate --summary >/dev/full'
    fails_with 1 "^pictl: standard output \(/dev/full\): write error: No space left on device$"
    # --help too, as every program's
    run bash -c 'pictl --help >/dev/full'
    fails_with 1 "^pictl: standard output \(/dev/full\): write error: No space left on device$"
}

# ---- simulate ----

summary() { pictl simulate -q --summary "$@"; }

@test "simulate, Theorem: P control settles at D/(C0*Kp) (paper's sign)" {
    for args in "0.5 1 0.01" "0.3 0.7 -0.02" "1.2 1.5 0.005"; do
        set -- $args
        s=$(summary --c0 "$1" --kp "$2" --ki 0 --drift "$3" --steps 2000)
        want=$(awk -v c="$1" -v k="$2" -v d="$3" 'BEGIN { printf "%.17g", d / (c * k) }')
        near "$(jq .final_error <<<"$s")" "$want" 1e-6
        near "$(jq .steady_error_predicted <<<"$s")" "$want" 1e-12
        [ "$(jq .stable <<<"$s")" = true ]
    done
    # positive drift: entropy settles above the target, and alpha holds it (C0*alpha = D)
    s=$(summary --c0 0.5 --ki 0 --drift 0.01 --steps 500)
    near "$(jq .final_alpha <<<"$s")" 0.02 1e-9
}

@test "simulate, Theorem: PI control settles at zero error" {
    for args in "0.5 1 0.01 0.01" "0.3 0.7 0.05 -0.02" "1.2 1.5 0.1 0.005"; do
        set -- $args
        s=$(summary --c0 "$1" --kp "$2" --ki "$3" --drift "$4" --steps 5000)
        near "$(jq .final_error <<<"$s")" 0 1e-6
        [ "$(jq .steady_error_predicted <<<"$s")" = 0 ]
        [ "$(jq .stable <<<"$s")" = true ]
        near "$(jq .final_alpha <<<"$s")" "$(awk -v c="$1" -v d="$4" 'BEGIN { print d / c }')" 1e-6
    done
}

@test "simulate: stability report from the eigenvalues" {
    # P loop: one eigenvalue 1 - C0*Kp
    s=$(summary --c0 0.5 --kp 1 --ki 0)
    [ "$(jq -c '.eigenvalues' <<<"$s")" = '[{"re":0.5,"im":0}]' ]
    # paper's matrix for C0=0.5, Kp=1, Ki=0.01: trace 1.495, det 0.5
    s=$(summary --c0 0.5 --kp 1 --ki 0.01)
    tr=$(jq '[.paper_eigenvalues[].re] | add' <<<"$s")
    det=$(jq '.paper_eigenvalues | .[0].re * .[1].re - .[0].im * .[1].im' <<<"$s")
    near "$tr" 1.495 1e-12
    near "$det" 0.5 1e-12
    [ "$(jq .paper_stable <<<"$s")" = true ]
    # C0*Kp > 2: unstable, and the simulated error grows (unclipped)
    s=$(summary --c0 1 --kp 2.5 --ki 0 --alpha-min -1e6 --alpha-max 1e6 --steps 60)
    [ "$(jq .stable <<<"$s")" = false ]
    [ "$(jq '.max_abs_error > 1000' <<<"$s")" = true ]
    run pictl simulate --summary --c0 1 --kp 2.5 --ki 0
    [[ "$output" == *"loop NOT stable"* ]]
}

@test "simulate: where the paper's order and the official one disagree" {
    # C0=1, Kp=0.1, Ki=0.2: the appendix matrix is stable, the loop pictl runs is not
    s=$(summary --c0 1 --kp 0.1 --ki 0.2 --alpha-min -1e6 --alpha-max 1e6 --steps 400)
    [ "$(jq .paper_stable <<<"$s")" = true ]
    [ "$(jq .stable <<<"$s")" = false ]
    [ "$(jq '.max_abs_error > 1e6' <<<"$s")" = true ]
}

@test "simulate: the trajectory is JSON lines then the summary" {
    run pictl simulate -q --steps 1 --h0 -1
    fails_with 2 "^pictl: --h0: -1 is outside \[0,"
    run pictl simulate -q --steps 5 --h0 0.3
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 6 ]
    [ "$(jq .step <<<"${lines[4]}")" = 4 ]
    [ "$(jq .entropy <<<"${lines[0]}")" = 0.3 ]
    [ "$(jq .summary <<<"${lines[5]}")" = true ]
    [ "$(jq .steps <<<"${lines[5]}")" = 5 ]
    # each entropy follows the plant: H1 = H0 - C0*alpha0 + D
    h1=$(awk 'BEGIN { printf "%.17g", 0.3 - 0.5 * 0.2 + 0 }')
    near "$(jq .entropy <<<"${lines[1]}")" "$h1" 1e-15
}

@test "simulate: --noise is reproducible from --seed" {
    a=$(summary --noise 0.05 --seed 7 --steps 50 | jq .final_error)
    b=$(summary --noise 0.05 --seed 7 --steps 50 | jq .final_error)
    c=$(summary --noise 0.05 --seed 8 --steps 50 | jq .final_error)
    d=$(summary --steps 50 | jq .final_error)
    [ "$a" = "$b" ]
    [ "$a" != "$c" ]
    [ "$a" != "$d" ]
}

@test "simulate: --anti-windup cuts the overshoot after a long saturation" {
    plain=$(pictl simulate -q --h0 5 --ki 0.1 --steps 300 | jq -s 'map(select(.summary|not) | .error) | min')
    aw=$(pictl simulate -q --anti-windup --h0 5 --ki 0.1 --steps 300 | jq -s 'map(select(.summary|not) | .error) | min')
    # without it the integral's debt drives the entropy far below the target
    [ "$(awk -v p="$plain" -v a="$aw" 'BEGIN { print (p < -1 && a > -0.5) }')" = 1 ]
    [ "$(summary --h0 5 --ki 0.1 | jq '.saturated_steps > 0')" = true ]
}

@test "simulate: --kd changes the loop (three eigenvalues) and the trajectory" {
    s=$(summary --kd 0.3 --steps 3000 --drift 0.01)
    [ "$(jq '.eigenvalues | length' <<<"$s")" = 3 ]
    near "$(jq .final_error <<<"$s")" 0 1e-6
    run pictl simulate --kd 0.3 --steps 2
    [ "$(jq 'has("d")' <<<"${lines[1]}")" = true ]
    [[ "$output" == *"ignores Kd"* ]]
}

@test "simulate: --target-schedule moves the setpoint the loop tracks" {
    run pictl simulate -q --target-schedule '0:0.5,100:0.2' --steps 3000 --summary
    near "$(jq .final_error <<<"$output")" 0 1e-6
    run pictl simulate -q --target-schedule '0:0.5,100:0.2' --steps 101
    [ "$(jq .target <<<"${lines[100]}")" = 0.2 ]
    near "$(jq .target <<<"${lines[50]}")" 0.35 1e-12
}

@test "simulate: the verdict goes to stderr, --quiet silences it" {
    run bash -c 'pictl simulate --summary --ki 0 --drift 0.01 --steps 300 2>&1 >/dev/null'
    [[ "$output" == *"loop stable"* ]]
    [[ "$output" == *"predicted steady-state error 0.02"* ]]
    run bash -c 'pictl simulate --summary -q 2>&1 >/dev/null'
    [ -z "$output" ]
}
