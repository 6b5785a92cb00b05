#!/usr/bin/env bats
# The streams library, exercised through pic-cat: compression by magic number,
# concatenated frames, truncation, huge records, pass-through, atomic output.
load helpers

@test "plain input becomes zstd when stdout is not a terminal; --plain keeps it plain" {
    printf '{"a":1}\n{"b":2}\n' > in.jsonl
    pic-cat -q in.jsonl > out.zst
    [ "$(head -c 4 out.zst | od -An -tx1 | tr -d ' ')" = "28b52ffd" ]
    [ "$(zstdcat out.zst)" = "$(cat in.jsonl)" ]
    pic-cat -q --plain in.jsonl > out.txt
    cmp out.txt in.jsonl
}

@test "zstd input is detected by magic number whatever its name, frames concatenated" {
    printf '{"i":1}\n' | zstd -q > part1.txt
    printf '{"i":2}\n{"i":3}\n' | zstd -q > part2.txt
    cat part1.txt part2.txt > both.jsonl
    run pic-cat -n both.jsonl
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 3 ]
    [ "$(pic-cat -q --plain both.jsonl | jq -s -c 'map(.i)')" = "[1,2,3]" ]
}

@test "a stream that opens with a skippable frame (magic 0x184D2A5?, as pzstd writes) is zstd" {
    # RFC 8878 3.1.2: any of the 16 magics 0x184D2A50..5F, a 4-byte size, that many bytes
    printf '{"i":1}\n' | zstd -q > frame.zst
    for nibble in 50 5f; do
        { printf "\x$nibble\x2a\x4d\x18\x03\x00\x00\x00abc"; cat frame.zst; } > skip.zst
        zstdcat skip.zst >/dev/null
        [ "$(pic-cat -q --plain skip.zst)" = '{"i":1}' ]
        # from a pipe whose first read is one byte: the sniff waits for the rest
        [ "$({ head -c 1 skip.zst; sleep 0.3; tail -c +2 skip.zst; } | pic-cat -q --plain)" = '{"i":1}' ]
    done
}

@test "a frame of any window reads: zstd --long=31 from a pipe names a 2 GiB one" {
    seq 1 1000 | sed 's/.*/{"n":&}/' | zstd -q --long=31 -c >long.zst
    run pic-cat -n long.zst
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 1000 ]
}

@test "a truncated zstd stream is an error, not a short read" {
    seq 1 20000 | sed 's/.*/{"n":&}/' | zstd -q > full.zst
    head -c $(( $(stat -c %s full.zst) - 5 )) full.zst > cut.zst
    run pic-cat -n cut.zst
    fails_with 1 'cut.zst: truncated zstd stream'
    # the message says where: after the last whole line decoded (and passed on)
    run bash -c 'pic-cat -q --plain cut.zst >part.jsonl'
    fails_with 1 "^pic-cat: cut.zst: truncated zstd stream \(the last frame is incomplete\) after line $(wc -l <part.jsonl)\$"
    [ "$(wc -l <part.jsonl)" -gt 0 ]
    run pic-cat -n full.zst
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 20000 ]
}

@test "a corrupt zstd stream is an error that says so" {
    seq 1 1000 | sed 's/.*/{"n":&}/' | zstd -q > good.zst
    { head -c 20 good.zst; head -c 200 /dev/urandom; } > bad.zst
    run pic-cat -n bad.zst
    fails_with 1 'bad.zst: (corrupt|truncated) zstd stream.* after line [0-9]+'
    # a plain text appended to a zstd stream: corrupt after its last line
    printf '{"a":1}\n{"a":2}\n' | zstd -q >zp.zst
    printf '{"b":1}\n' >>zp.zst
    run pic-cat -n zp.zst
    fails_with 1 '^pic-cat: zp.zst: corrupt zstd stream after line 2: what follows is not a zstd frame \(plain text appended'
    # and a zstd file appended to a plain one: its line is binary, and says so
    printf '{"b":0}\n' >pz.jsonl
    printf '{"a":1}\n' | zstd -q >>pz.jsonl
    run pic-cat -n pz.jsonl
    fails_with 1 '^pic-cat: pz.jsonl:2: malformed JSON: zstd data inside a plain stream \(a zstd file appended'
    # gzip is not read, and the message says what it is
    printf '{"a":1}\n' | gzip >g.gz
    run pic-cat -n g.gz
    fails_with 1 '^pic-cat: g.gz:1: malformed JSON: gzip data \(pic reads plain or zstd'
    # as separate files, plain and zstd mix freely
    printf '{"a":1}\n' | zstd -q >a.zst
    printf '{"b":0}\n' >b.jsonl
    [ "$(pic-cat -q --plain b.jsonl a.zst b.jsonl | jq -c . | paste -sd' ')" = '{"b":0} {"a":1} {"b":0}' ]
}

@test "a 64 MB record passes through intact, plain and compressed" {
    { printf '{"id":1,"text":"'; head -c 67108864 /dev/zero | tr '\0' 'a'; printf '","z":0.5}\n'; } > big.jsonl
    pic-cat -q big.jsonl | pic-cat -q --plain > back.jsonl
    cmp big.jsonl back.jsonl
    [ "$(jq '.text | length' back.jsonl)" = 67108864 ]
}

@test "unknown fields pass through in order; reals print to round-trip" {
    printf '%s\n' '{"z":0.1,"a":1e-07,"m":[1.5,-2,0.30000001192092896],"s":"\u00e9\n","n":null,"t":true}' > in.jsonl
    run pic-cat -q --plain in.jsonl
    [ "$status" -eq 0 ]
    [ "$output" = '{"z":0.1,"a":1e-07,"m":[1.5,-2,0.3],"s":"é\n","n":null,"t":true}' ]
}

@test "malformed JSON names the file and the line" {
    printf '{"a":1}\n\n{"b":\n' > bad.jsonl
    run pic-cat -n bad.jsonl
    fails_with 1 '^pic-cat: bad.jsonl:3: malformed JSON'
    printf '[1,2]\n' | { run pic-cat -n; fails_with 1 '<stdin>:1: expected a JSON object'; }
}

@test "a byte-order mark before the first record is skipped, as jq skips it; one further on is malformed" {
    printf '\xef\xbb\xbf{"a":1}\n{"a":2}\n' > bom.jsonl
    [ "$(pic-cat -q --plain bom.jsonl)" = "$(jq -c . bom.jsonl)" ]
    zstd -q bom.jsonl -o bom.jsonl.zst
    [ "$(pic-cat -q --plain bom.jsonl.zst)" = "$(jq -c . bom.jsonl)" ]
    printf '{"a":0}\n' > first.jsonl
    [ "$(pic-cat -q -n first.jsonl bom.jsonl)" = 3 ]
    # a mark alone (an editor's empty file): no record, as jq reads none
    printf '\xef\xbb\xbf\n' >only.jsonl
    [ "$(pic-cat -q -n only.jsonl)" = 0 ]
    [ -z "$(jq -c . only.jsonl)" ]
    printf '{"a":1}\n\xef\xbb\xbf{"a":2}\n' > mid.jsonl
    run pic-cat -n mid.jsonl
    fails_with 1 '^pic-cat: mid.jsonl:2: malformed JSON'
}

@test "--count goes to -o's file when given, atomically, as plain text" {
    printf '{"a":1}\n{"a":2}\n{"a":3}\n' >in.jsonl
    pic-cat -q -n -o count.txt in.jsonl >stdout.txt
    [ "$(cat count.txt)" = 3 ]
    [ ! -s stdout.txt ]
    [ -z "$(ls -A | grep -v -e '^in.jsonl$' -e '^count.txt$' -e '^stdout.txt$')" ]
    # -o - is standard output, as for the stream (it made a file named -)
    [ "$(pic-cat -q -n -o - in.jsonl)" = 3 ]
    [ ! -e ./- ]
    # the count is never compressed: --plain and --level would do nothing
    run pic-cat -n --plain in.jsonl
    fails_with 2 "^pic-cat: --plain does nothing with -n"
    run pic-cat -n --level 9 -o count.txt in.jsonl
    fails_with 2 "^pic-cat: --level does nothing with -n"
}

@test "--skip-bad skips malformed lines and reports their count" {
    printf '{"a":1}\nnot json\n{"b":2}\n' > mixed.jsonl
    run pic-cat --plain --skip-bad mixed.jsonl
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = '{"a":1}' ]
    [ "${lines[1]}" = '{"b":2}' ]
    grep -q '2 records, 1 bad record skipped' <<<"$output"
}

@test "-o writes atomically: a failing run leaves the previous file intact" {
    printf '{"a":1}\n' > good.jsonl
    pic-cat -q --plain -o out.jsonl good.jsonl
    cmp out.jsonl good.jsonl
    printf '{"a":2}\n{oops\n' > bad.jsonl
    run pic-cat -q --plain -o out.jsonl bad.jsonl
    fails_with 1 'bad.jsonl:2'
    cmp out.jsonl good.jsonl
    [ -z "$(ls | grep tmp)" ]
}

# start_writer ENV...: pic-cat writing out.jsonl from in.fifo in the
# background (pid in $pid, the fifo's writer on fd $wfd), once its temporary
# exists
start_writer() {
    env "$@" pic-cat -q --plain -o out.jsonl in.fifo &
    pid=$!
    exec {wfd}>in.fifo
    printf '{"a":1}\n' >&"$wfd"
    for _ in $(seq 100); do ls -a | grep -q '\.tmp\.' && return; sleep 0.05; done
    echo "no temporary beside out.jsonl" >&2
    return 1
}

# reap: the exit status of $pid, killing it if it outlives 5 s
reap() {
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    exec {wfd}>&-
    rc=0
    wait "$pid" || rc=$?
}

@test "-o: a program killed by a signal leaves the previous file and no temporary" {
    printf '{"old":1}\n' >out.jsonl
    mkfifo in.fifo
    for sig in TERM INT HUP; do
        # a background job of a script starts with SIGINT ignored, and under
        # nohup SIGHUP is: env puts the defaults back, as a terminal would have them
        start_writer --default-signal=INT,HUP,TERM
        kill -"$sig" "$pid"
        reap
        # died of the signal (128 + its number), having removed its temporary
        [ "$rc" -eq $((128 + $(kill -l "$sig"))) ]
        [ "$(cat out.jsonl)" = '{"old":1}' ]
        [ -z "$(ls -a | grep '\.tmp\.')" ]
    done
    # a signal the caller ignores stays ignored (nohup)
    start_writer --ignore-signal=HUP
    kill -HUP "$pid"
    exec {wfd}>&-
    reap
    [ "$rc" -eq 0 ]
    [ "$(cat out.jsonl)" = '{"a":1}' ]
}

@test "-o through a symbolic link writes the file it points to, dangling or chained" {
    mkdir data
    echo old >data/out.jsonl
    ln -s data/out.jsonl out
    ln -s out chain
    ln -s data/new.jsonl dangling
    printf '{"a":1}\n' | pic-cat -q --plain -o out
    [ -L out ]
    [ "$(cat data/out.jsonl)" = '{"a":1}' ]
    printf '{"a":2}\n' | pic-cat -q --plain -o chain
    [ -L chain ]
    [ -L out ]
    [ "$(cat data/out.jsonl)" = '{"a":2}' ]
    printf '{"a":3}\n' | pic-cat -q --plain -o dangling
    [ -L dangling ]
    [ "$(cat data/new.jsonl)" = '{"a":3}' ]
    [ "$(ls data)" = "$(printf 'new.jsonl\nout.jsonl')" ]
}

@test "-o /dev/stdout, /dev/fd/N and a process substitution write to that descriptor, as >&N would" {
    printf '{"a":1}\n' > in.jsonl
    # into a pipe: the link led to "pipe:[ID]", where no temporary can be made
    [ "$(pic-cat -q --plain -o /dev/stdout in.jsonl | cat)" = '{"a":1}' ]
    [ "$(pic-cat -q --plain -o /dev/fd/3 in.jsonl 3>&1 >/dev/null | cat)" = '{"a":1}' ]
    [ "$(pic-cat -q --plain -o /proc/self/fd/1 in.jsonl | cat)" = '{"a":1}' ]
    pic-cat -q --plain -o >(cat > sub.jsonl) in.jsonl
    for _ in $(seq 100); do [ -s sub.jsonl ] && break; sleep 0.05; done
    [ "$(cat sub.jsonl)" = '{"a":1}' ]
    ln -s /dev/stdout mine
    [ "$(pic-cat -q --plain -o mine in.jsonl | cat)" = '{"a":1}' ]
    # into a file: a temporary renamed over it replaced what the shell had
    # written there (>> lost the file's lines, a group its other output)
    echo header > log
    pic-cat -q --plain -o /dev/stdout in.jsonl >> log
    [ "$(cat log)" = "$(printf 'header\n{"a":1}')" ]
    { echo first; pic-cat -q --plain -o /dev/stdout in.jsonl; echo last; } > log2
    [ "$(cat log2)" = "$(printf 'first\n{"a":1}\nlast')" ]
    [ -z "$(ls -a | grep '\.tmp\.')" ]
    # a descriptor that is not open
    run pic-cat -q --plain -o /dev/fd/9 in.jsonl
    fails_with 1 '^pic-cat: /dev/fd/9: '
}

@test "a full disk is an error, not a silent truncation" {
    seq 1 100000 | sed 's/.*/{"n":&}/' > many.jsonl
    run pic-cat -q --plain many.jsonl -o /dev/full
    [ "$status" -eq 1 ]
    run sh -c 'pic-cat -q --plain many.jsonl > /dev/full'
    fails_with 1 '^pic-cat: standard output \(/dev/full\): write error: No space left on device$'
    # the count of -n too, in the shared words (docs/conventions.md)
    run sh -c 'pic-cat -q -n many.jsonl > /dev/full'
    fails_with 1 '^pic-cat: standard output \(/dev/full\): write error: No space left on device$'
}

@test "a write error on standard output names the file the shell opened, and why" {
    # "<stdout>: write error" named no file: a run's redirection does not
    # show in its log. A file too large for ulimit -f fails as a full disk
    # would (EFBIG, with SIGXFSZ ignored), as a regular file of its own.
    seq 1 100000 | sed 's/.*/{"n":&}/' > many.jsonl
    run bash -c "trap '' XFSZ; ulimit -f 8; pic-cat -q --plain many.jsonl > '$PWD/out.jsonl'"
    [ "$status" -eq 1 ]
    [ "$output" = "pic-cat: standard output ($PWD/out.jsonl): write error: File too large" ]
    # a pipe is named as one; a closed one is SIGPIPE's (quiet) unless the
    # caller ignores it, as coreutils do: then the reason says so
    run bash -c "trap '' PIPE; pic-cat -q --plain many.jsonl | head -c 0; exit \${PIPESTATUS[0]}"
    fails_with 1 '^pic-cat: standard output \(a pipe\): write error: Broken pipe$'
    run bash -c 'pic-cat -q --plain many.jsonl | head -c 0; echo "${PIPESTATUS[0]}"'
    [ "$output" = 141 ]
}

@test "--version names the source a rebuild came from, not the one cli.o was first built from" {
    # PIC_VERSION (git describe) is compiled into cli.o alone, which make
    # rebuilt only when cli.c changed: after a commit, every --version
    # named an older one
    b="$T/build"
    make -s -C "$PIC_ROOT" BUILD="$b" CUDA=0 VERSION=pic-ver-one "$b/obj/src/common/cli.o"
    grep -q pic-ver-one "$b/obj/src/common/cli.o"
    make -s -C "$PIC_ROOT" BUILD="$b" CUDA=0 VERSION=pic-ver-two "$b/obj/src/common/cli.o"
    grep -q pic-ver-two "$b/obj/src/common/cli.o"
    # the same version builds nothing again
    run make -C "$PIC_ROOT" BUILD="$b" CUDA=0 VERSION=pic-ver-two "$b/obj/src/common/cli.o"
    [ "$status" -eq 0 ]
    [[ "$output" != *cli.c* ]]
}

@test "--help, --version and usage errors follow the conventions" {
    run pic-cat --help
    [ "$status" -eq 0 ]
    [[ "$output" == Usage:* ]]
    run pic-cat --version
    [ "$status" -eq 0 ]
    [[ "$output" == "pic-cat (pic) "* ]]
    run pic-cat --level 99
    fails_with 2 'level: 99 is outside'
    # an option that would do nothing is refused, in either order
    for o in "--plain --level 5" "--level 5 --plain"; do
        run pic-cat $o /dev/null
        fails_with 2 '^pic-cat: --level: --plain writes no compression'
        run pic-reward $o /dev/null
        fails_with 2 '^pic-reward: --level: --plain writes no compression'
    done
    run pic-cat --bogus
    fails_with 2 'Try .pic-cat --help.'
    run pic-cat missing.jsonl
    fails_with 1 'missing.jsonl: No such file'
}

@test "every program's and pipeline's --help names each option it takes" {
    # the long names of a getopt table, with cli.h's PIC_OUTPUT_OPTIONS spelled out
    std=$(sed -n '/^#define PIC_OUTPUT_OPTIONS/,/[^\\]$/p' "$PIC_ROOT/src/common/cli.h" | grep -oE '\{"[a-z0-9-]+"' | tr -d '{"')
    [ "$(wc -w <<<"$std")" -eq 6 ]
    long_names() {
        awk '/struct option [a-z_]+\[\] = \{/ { on = 1 } on { print } on && /\};/ { on = 0 }' "$1" |
            sed "s/PIC_OUTPUT_OPTIONS/$(printf '{"%s" ' $std)/" | grep -oE '\{"[a-z0-9-]+"' | tr -d '{"'
    }
    check() { # PROGRAM NAMES...
        local p=$1 help n
        shift
        help=$("$p" --help 2>&1) || { echo "$p --help failed" >&2; return 1; }
        for n in "$@"; do
            grep -qE -- "$n([^a-z0-9-]|\$)" <<<"$help" || { echo "$p: $n is not in --help" >&2; return 1; }
        done
    }
    total=0
    for pair in batch/main.c:pic-batch cat/main.c:pic-cat eval/main.c:pic-eval init/main.c:pic-init \
                pictl/main.c:pictl reward/main.c:pic-reward rollout/main.c:pic-rollout task/main.c:pic-task \
                tok/main.c:pic-tok update/options.c:pic-update model/bench.c:pic-model-bench \
                model/kernel_bench.c:pic-kernel-bench update/bench.c:pic-update-bench rollout/floor.c:pic-rollout-floor; do
        names=$(long_names "$PIC_ROOT/src/${pair%%:*}")
        [ -n "$names" ] || { echo "no option table in ${pair%%:*}" >&2; false; }
        # shellcheck disable=SC2046 # one name a word
        check "$PIC_BIN/${pair#*:}" $(printf -- '--%s ' $names)
        total=$((total + $(wc -w <<<"$names")))
    done
    [ "$total" -gt 200 ]
    # the pipelines: each option of their case arms
    for s in "$PIC_ROOT"/pipelines/*.sh; do
        [ "${s##*/}" != lib.sh ] || continue
        names=$(grep -oE '^ +(-[a-zA-Z]\|)?--[a-z0-9-]+(\|-[a-zA-Z])?\)' "$s" | grep -oE -- '--[a-z0-9-]+')
        [ -n "$names" ] || { echo "no options in $s" >&2; false; }
        # shellcheck disable=SC2086
        check "$s" $names
    done
}

@test "a bad option is one line under the program's name that says what is wrong, then the hint" {
    for p in pic-cat pic-batch pic-eval pic-init pic-reward pic-rollout pic-task pic-tok pic-update pictl; do
        run "$PIC_BIN/$p" --bogus
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "$p: unknown or ambiguous option '--bogus'" ]
        [ "${lines[1]}" = "Try '$p --help' for more information." ]
        [ "${#lines[@]}" -eq 2 ]
    done
    run "$PIC_BIN/pic-cat" -o
    [ "${lines[0]}" = "pic-cat: option '-o' needs an argument" ]
    run "$PIC_BIN/pic-cat" -Z
    [ "${lines[0]}" = "pic-cat: unknown option '-Z'" ]
    run "$PIC_BIN/pic-rollout" --mod
    [ "${lines[0]}" = "pic-rollout: option '--model' needs an argument" ]
    run "$PIC_BIN/pic-cat" --plain=1
    [ "${lines[0]}" = "pic-cat: option '--plain' takes no argument" ]
    run "$PIC_BIN/pictl" --kp
    [ "${lines[0]}" = "pictl: option '--kp' needs an argument" ]
}

@test "records flow through a pipe one at a time (a co-process gets its answer)" {
    coproc CAT { pic-cat -q --plain; }
    echo '{"a":1}' >&"${CAT[1]}"
    read -r -t 5 line <&"${CAT[0]}"
    [ "$line" = '{"a":1}' ]
    echo '{"b":2}' >&"${CAT[1]}"
    read -r -t 5 line <&"${CAT[0]}"
    [ "$line" = '{"b":2}' ]
    kill "$CAT_PID"
}

@test "a NUL inside a string (\\u0000) passes through; a raw NUL byte is malformed" {
    printf '%s\n' '{"response":"a\u0000b"}' > nul.jsonl
    run pic-cat -q --plain nul.jsonl
    [ "$status" -eq 0 ]
    [ "$output" = '{"response":"a\u0000b"}' ]
    printf '{"response":"a\0b"}\n' > raw.jsonl
    run pic-cat -q raw.jsonl
    fails_with 1 'raw.jsonl:1: malformed JSON at column 15: a raw NUL byte'
    # jansson drops a NUL after a number or a literal: {"reward": 0.5\0} was
    # read as 0.5. Anywhere on the line it is the same error, column counted
    # in characters as jansson counts them (é is one)
    for rec in '{"id": 1\0, "x": 2}|9' '{"reward": 0.5\0}|15' '{"ok": true\0}|12' '{"é": 1\0}|8' \
        '{"a": 1}\0|9' '\0{"a": 1}|1' '{"a":\0 1}|6'; do
        printf "${rec%|*}\\n" >r.jsonl
        run pic-cat -q --plain r.jsonl
        fails_with 1 "^pic-cat: r.jsonl:1: malformed JSON at column ${rec#*|}: a raw NUL byte \(JSON has NUL only as \\\\u0000 inside a string\)$"
    done
    # --skip-bad counts it like any malformed line
    printf '{"a":1}\n{"reward": 0.5\0}\n{"b":2}\n' >mixed.jsonl
    run pic-cat --skip-bad --plain mixed.jsonl
    [ "$status" -eq 0 ]
    [ "$(grep -c '^{' <<<"$output")" = 2 ]
    [[ "$output" == *"1 bad record skipped"* ]]
}

@test "summaries and messages count one in the singular: 1 record, 1 bad record, 1 more file" {
    printf '{"answer":"1","response":"\\\\boxed{1}"}\nnot json\n' > one.jsonl
    run pic-cat --plain --skip-bad one.jsonl
    grep -qx 'pic-cat: 1 record, 1 bad record skipped' <<<"$output"
    run pic-reward --plain --skip-bad one.jsonl
    grep -qx 'pic-reward: 1 record, 1 correct, 0 without an answer' <<<"$output"
    grep -qx 'pic-reward: 1 bad record skipped (--skip-bad)' <<<"$output"
    printf '{"numbers":[1,2],"target":3,"response":"1+2"}\n' > cd.jsonl
    run pic-reward --task countdown --plain cd.jsonl
    grep -qx 'pic-reward: 1 record, 1 correct, 0 without an expression' <<<"$output"
    run pic-batch --step 1 --size 1 --plain --skip-bad one.jsonl
    grep -qx 'pic-batch: step 1: 1 prompt from 1 (epoch 0), 1 bad record skipped' <<<"$output"
    run pic-task --count 1 --plain
    grep -qx 'pic-task: 1 math problem (difficulty 1, seed 1)' <<<"$output"
    printf 'not json\n' > bad.jsonl
    run pic-batch --step 1 --size 1 --skip-bad bad.jsonl
    fails_with 1 '^pic-batch: bad.jsonl: no prompt records \(1 bad record skipped, --skip-bad\)$'
    : > e.jsonl
    run pic-batch --step 1 --size 1 e.jsonl e.jsonl e.jsonl e.jsonl e.jsonl
    fails_with 1 '^pic-batch: e.jsonl, e.jsonl, e.jsonl, e.jsonl and 1 more file: no prompt records$'
}
