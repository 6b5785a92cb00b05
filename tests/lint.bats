#!/usr/bin/env bats
# The test files themselves: a check that cannot fail is a defect.
load helpers

@test "every negated check in the bats files can fail: '! cmd || false'" {
    # bats runs a test under set -e, which ignores a negated command's
    # status (shellcheck SC2314): '! cmp a b' alone never stops a test
    # unless it is the test's last command. The files end each one in
    # '|| false', which set -e does see.
    run grep -nE '^[[:space:]]*! [^|]*$' "$PIC_ROOT"/tests/*.bats
    [ "$status" -eq 1 ] || { echo "negations that cannot fail: $output" >&2; false; }
    # the pattern finds one
    printf '@test "x" {\n    ! cmp -s a b\n}\n' > t.bats
    run grep -nE '^[[:space:]]*! [^|]*$' t.bats
    [ "$status" -eq 0 ]
}

@test "fails_with takes its pattern second: 'fails_with N -- PATTERN' checks only for '--'" {
    # fails_with STATUS PATTERN hands PATTERN to grep -E after its own --,
    # so a -- written before the pattern became the pattern: any output
    # holding "--" passed.
    run grep -nE 'fails_with [0-9]+ --( |$)' "$PIC_ROOT"/tests/*.bats
    [ "$status" -eq 1 ] || { echo "fails_with calls whose pattern is '--': $output" >&2; false; }
    printf '    fails_with 2 %s "-o DIR is required"\n' -- > t.bats
    run grep -nE 'fails_with [0-9]+ --( |$)' t.bats
    [ "$status" -eq 0 ]
}

@test "every test joined by && in the bats files can fail: one test a line" {
    # set -e ignores the failure of a command before && (bash: only the
    # last of an && list stops the shell), so '[ ! -e a ] && [ ! -e b ]'
    # checked only b unless it ended the test. One test a line checks both
    # (a list ended by '|| ...', which handles the failure, is fine).
    run grep -nE '^[[:space:]]*\[\[? [^|]*\]\]? && \[[^|]*$' "$PIC_ROOT"/tests/*.bats
    [ "$status" -eq 1 ] || { echo "checks of which only the last can fail: $output" >&2; false; }
    # the pattern finds one
    printf '@test "x" {\n    [ ! -e a ] && [ ! -e b ]\n    true\n}\n' > t.bats
    run grep -nE '^[[:space:]]*\[\[? [^|]*\]\]? && \[[^|]*$' t.bats
    [ "$status" -eq 0 ]
}
