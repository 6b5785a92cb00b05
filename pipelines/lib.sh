# Shared by the pipeline scripts: messages, and files that appear whole.
# shellcheck shell=bash

say() { [ -n "${QUIET:-}" ] || echo "$PROG: $*" >&2; }
die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help' for more information." >&2; exit 2; }

# need VALUE-OF-OPTION: the option's value, or a usage error
need() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }

# publish TMP FINAL: rename a finished temporary into place
publish() { sync "$1" 2>/dev/null || true; mv -f "$1" "$2"; }

# model_dir DIR: true for a checkpoint directory, also one caught between
# pic-update's two renames (DIR gone, DIR.old.* whole), which the programs
# restore when they load it
model_dir() {
    local d
    [ -f "$1/config.json" ] && return 0
    for d in "$1".old.*; do [ -f "$d/config.json" ] && return 0; done
    return 1
}

# dataset_name FILE: the dataset a prompt file is in eval.sh's tables and
# --n specs, and its samples' file name: the file name without extensions
dataset_name() { local n=${1##*/}; echo "${n%%.*}"; }

# distinct_datasets FILE...: a usage error when two files are one dataset
# (a/test.jsonl and b/test.jsonl): the second's samples would replace the
# first's
distinct_datasets() {
    local f seen=" " n
    for f in "$@"; do
        n=$(dataset_name "$f")
        case "$seen" in *" $n "*) usage_error "two datasets named '$n' (the file name without extensions): rename one" ;; esac
        seen+="$n "
    done
}

# step_name N: step-000042
step_name() { printf 'step-%06d' "$1"; }
# The same into variable $1, without the fork of a $(...) (a loop's hot path:
# a fork cost a millisecond or more where page tables are a hypervisor's).
step_name_to() { printf -v "$1" 'step-%06d' "$2"; }

# The programs: bin/ beside this directory comes first.
PIC_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH="$PIC_HOME/bin:$PIC_HOME/pipelines:$PATH"
export PATH
