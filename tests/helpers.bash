# Loaded by every bats file: the programs under test come first on PATH, and
# every test gets its own scratch directory.
PIC_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
PIC_BIN="${PIC_BIN:-$PIC_ROOT/bin}"
PATH="$PIC_BIN:$PIC_ROOT/pipelines:$PATH"
FIXTURES="$PIC_ROOT/tests/fixtures"
export PATH PIC_ROOT PIC_BIN FIXTURES

setup() {
    T="$BATS_TEST_TMPDIR"
    cd "$T" || return 1
}

# fails_with CODE PATTERN: the last `run` exited CODE and its output matches PATTERN
fails_with() {
    if [ "$status" -ne "$1" ]; then
        echo "expected exit $1, got $status; output: $output" >&2
        return 1
    fi
    if ! grep -qE -- "$2" <<<"$output"; then
        echo "expected output matching '$2', got: $output" >&2
        return 1
    fi
}

# near A B TOL: |A - B| <= TOL, all three numbers (awk reads "", null or a
# whole JSON line as 0, which made a missing field "near" 0)
near() {
    awk -v a="$1" -v b="$2" -v t="$3" 'function num(x) { return x ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
        BEGIN { if (!num(a) || !num(b) || !num(t)) exit 1; d = a - b; if (d < 0) d = -d; exit !(d <= t) }' ||
        { echo "not near: $1 vs $2 (tol $3)" >&2; return 1; }
}

# st_edit FILE JQ: the safetensors FILE with its JSON header put through JQ
# (the data as it was; shapes may change where the counts stay)
st_edit() {
    local n h
    n=$(head -c 8 "$1" | od -An -tu8 | tr -d ' ')
    h=$(head -c $((8 + n)) "$1" | tail -c +9 | jq -c "$2")
    { perl -e 'print pack("Q<", length($ARGV[0]))' "$h"; printf '%s' "$h"; tail -c +$((9 + n)) "$1"; } >"$1.new"
    mv "$1.new" "$1"
}

# same DIR DIR: two checkpoints' weights and optimizer states are the same bytes
same_ckpt() { cmp "$1/model.safetensors" "$2/model.safetensors" && cmp "$1/optimizer.safetensors" "$2/optimizer.safetensors"; }
# prompts [N]: N (default 10) problems of different lengths
prompts() {
    local i
    for ((i = 0; i < ${1:-10}; i++)); do
        jq -nc --arg i "$i" '{id: ($i | tonumber), problem: ("What is " + $i + " + " + ($i | tonumber * 7 | tostring) + "? " + ("Think. " * ($i | tonumber))), answer: "x"}'
    done
}
