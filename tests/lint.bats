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
