# Shared by the pipeline scripts: messages, and files that appear whole.
# shellcheck shell=bash

say() { [ -n "${QUIET:-}" ] || echo "$PROG: $*" >&2; }
die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help' for more information." >&2; exit 2; }

# need VALUE-OF-OPTION: the option's value, or a usage error
need() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }

# int_opt OPTION VAR MIN [MAX]: the integer option OPTION, whose value is
# in the variable VAR, read as the programs read one (strtol, base 10):
# decimal digits after an optional +, leading zeros and all ("010" is ten).
# VAR is set to its plain form (10), which bash's arithmetic reads as the
# programs do: it took "010" for octal 8 and stopped on "08", and a number
# past 2^63 wrapped. A usage error naming OPTION when the value is no such
# integer or is outside [MIN, MAX] (MAX: default 2^62, the programs' seeds').
int_opt() {
    # (locals of names no caller's variable has: printf -v would set the local)
    local _io_opt=$1 _io_min=$3 _io_max=${4:-4611686018427387904} _io_v=${!2} _io_d
    _io_d=${_io_v#+}
    [[ $_io_d =~ ^[0-9]+$ ]] || usage_error "$_io_opt: '$_io_v' is not $(int_kind "$_io_min")"
    while [[ $_io_d == 0?* ]]; do _io_d=${_io_d#0}; done
    # (by length first: bash's arithmetic would wrap a number past 2^63)
    if [ ${#_io_d} -gt ${#_io_max} ] || { [ ${#_io_d} -eq ${#_io_max} ] && [[ $_io_d > $_io_max ]]; }; then
        usage_error "$_io_opt: $_io_v is outside [$_io_min, $_io_max]"
    elif [ "$_io_d" -lt "$_io_min" ]; then
        [ "$_io_min" -gt 1 ] || usage_error "$_io_opt: '$_io_v' is not $(int_kind "$_io_min")"
        usage_error "$_io_opt: $_io_v is outside [$_io_min, $_io_max]"
    fi
    printf -v "$2" '%s' "$_io_d"
}
# n_spec OPTION VAR: samples per problem as N or NAME=N,...,N (eval.sh --n,
# train.sh --val-n): each N a positive integer as int_opt reads it, at most
# pic-rollout's --n (2^20: a larger one was refused when that dataset's turn
# came, after the others were sampled); VAR set with the Ns in plain form
n_spec() {
    local _ns_opt=$1 _ns_v=${!2} _ns_item _ns_n _ns_out=
    [[ $_ns_v =~ ^([A-Za-z0-9_.-]+=\+?[0-9]+,)*\+?[0-9]+$ ]] || usage_error "$_ns_opt: '$_ns_v' is not N or NAME=N,...,N"
    for _ns_item in ${_ns_v//,/ }; do
        _ns_n=${_ns_item##*=}
        int_opt "$_ns_opt" _ns_n 1 1048576
        [[ $_ns_item != *=* ]] || _ns_n=${_ns_item%=*}=$_ns_n
        _ns_out+=${_ns_out:+,}$_ns_n
    done
    printf -v "$2" '%s' "$_ns_out"
}
int_kind() { case $1 in 0) echo "a non-negative integer" ;; 1) echo "a positive integer" ;; *) echo "an integer" ;; esac; }

# dash_paths VAR...: each path in the variables (an array's each) that
# begins with '-' gets ./ before it, the same file: the commands it went
# to (mkdir, mv, rm, cd, realpath, find, the pipelines a script runs) took
# a run directory "-r" or an --out "-e" for their options, and stopped
# with their own message (mkdir: invalid option -- 'r')
dash_paths() {
    local _dp_v _dp_i
    for _dp_v in "$@"; do
        local -n _dp_r=$_dp_v
        for _dp_i in "${!_dp_r[@]}"; do [[ ${_dp_r[_dp_i]} != -* ]] || _dp_r[_dp_i]=./${_dp_r[_dp_i]}; done
        unset -n _dp_r
    done
}

# jq's mean of the numbers in an array, nulls left out (a step whose
# responses had no token logs entropy null), null when none is left:
# prefix a program with it, jq "$jq_mean"'...'
# shellcheck disable=SC2034
jq_mean='def mean: map(select(. != null)) | if length > 0 then add / length else null end;'

# publish TMP FINAL: rename a finished temporary into place
publish() { sync "$1" 2>/dev/null || true; mv -f "$1" "$2"; }

# write_whole FINAL CMD [ARG]...: CMD's standard output as FINAL, whole:
# into FINAL.tmp, published once CMD has succeeded. A failure (a full
# disk) dies naming FINAL after CMD's own message, which names no file
# (printf's, cat's, jq's and zstd's "write error"); in an && list set -e
# let it pass unsaid, and a half-written temporary stayed. The previous
# FINAL stays, and no temporary. (In a $(...), die ends the subshell
# alone: its caller says what failed.)
# CMD may be a function that writes a group of parts (a table's header and
# rows): it runs as a background job under set -e (in write_whole's if,
# bash turned set -e off inside the function, and the group went on past a
# failed part to publish the rest; a $(...) turns it off too). Where bash
# ignores set -e (write_whole in an if, on the left of || or &&, after !,
# or in a function called there) no job has it: a function CMD is refused
# there, loudly. Its stdin is the caller's (eval.sh's /dev/stdin dataset).
# SIGINT or SIGTERM while it runs stops it and removes the temporary, then
# goes to the traps the script had (train.sh's), or ends the script.
write_whole() {
    local final=$1 pid st=0 traps
    shift
    # (in a subshell, trap -p shows the script's traps, not in force there,
    # until a trap is set: RETURN's, which none uses, makes it the subshell's)
    trap - RETURN
    traps=$(trap -p INT TERM)
    # The traps go in before the job starts: a signal between the two would
    # run the script's own and leave the job writing the temporary. Bash runs
    # a trap between commands, so the job is $! once $! is not what it was.
    _ww_traps=$traps _ww_before=${!:-} _ww_pid='' _ww_tmp=$final.tmp
    trap '_ww_signal INT' INT
    trap '_ww_signal TERM' TERM
    # (SIGINT taken back in the job: a background job ignores it; stdin the
    # caller's, not a background job's /dev/null)
    (
        trap - INT TERM
        set -e
        if declare -F "$1" > /dev/null; then
            # a failed part ends a job where set -e holds, and only there
            ( false; exit 0 ) &
            if wait $!; then
                echo "$PROG: write_whole $1: set -e does not hold here (an if, an || list): a failed part would pass unsaid" >&2
                exit 1
            fi
        fi
        "$@"
    ) <&0 > "$final.tmp" &
    pid=$!
    _ww_pid=$pid
    wait "$pid" || st=$?
    trap - INT TERM
    eval "$traps"
    if [ "$st" -eq 0 ] && publish "$final.tmp" "$final"; then return 0; fi
    rm -f "$final.tmp"
    die "$final: cannot write it"
}
# _ww_signal SIG: write_whole's job (if it started) stopped, its temporary
# gone, and SIG again to this shell under the traps it had before
_ww_signal() {
    local job=$_ww_pid
    [ -n "$job" ] || [ "${!:-}" = "$_ww_before" ] || job=$!
    if [ -n "$job" ]; then
        kill -TERM "$job" 2> /dev/null || true
        wait "$job" 2> /dev/null || true
    fi
    rm -f "$_ww_tmp"
    trap - INT TERM
    eval "$_ww_traps"
    kill -s "$1" "$BASHPID"
}

# greedy T: true for a temperature of 0 (any spelling), where pic-rollout
# draws nothing and refuses --top-p and --seed
greedy() { awk -v t="$1" 'BEGIN { exit !(t + 0 == 0) }'; }

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

# n_names OPTION SPEC NAME...: a usage error when SPEC (N or NAME=N,...,N)
# gives an N to a name that is none of the datasets NAME...: a typo there
# (aime24 for the file aime_24.jsonl) sampled that dataset at the rest's N;
# or names one twice (the first N was taken, the second did nothing)
n_names() {
    local opt=$1 spec=$2 item d seen=" "
    shift 2
    for item in ${spec//,/ }; do
        [[ $item == *=* ]] || continue
        case "$seen" in *" ${item%%=*} "*) usage_error "$opt: '${item%%=*}' given twice" ;; esac
        seen+="${item%%=*} "
        for d in "$@"; do [ "$d" != "${item%%=*}" ] || continue 2; done
        usage_error "$opt: no dataset named '${item%%=*}' (the datasets: $*)"
    done
}

# distinct_problems FILE...: an error when two records of the files are one
# problem to pic-eval, which tells them apart by source and id (a record
# without source is its file's dataset, as eval.sh gives it): two files of
# one source with the same ids (pic-task's of two seeds, ids from 0 in
# each) were sampled whole, and then pic-eval stopped on the second's.
# (An id 0 and an id "0" are one to pic-eval.)
distinct_problems() {
    local f clash
    clash=$(for f in "$@"; do
        pic-cat -q --plain "$f" | jq -c --arg d "$(dataset_name "$f")" '{d: $d, s: (.source // $d), id}' || exit 1
    done | jq -rs 'group_by([.s, (.id | tostring)]) | map(select(length > 1)) | first // empty
        | "problem \(.[0].id | tojson) of source \(.[0].s | tojson) is "
          + if .[0].d == .[1].d then "twice in dataset \(.[0].d)" else "in datasets \(.[0].d) and \(.[1].d)" end') ||
        return 1
    [ -z "$clash" ] || { echo "$PROG: $clash (pic-eval tells problems apart by source and id: give one dataset's" \
        "records other ids, or another source)" >&2; return 1; }
}

# resume_partial PARTIAL PROMPTS N: how many of PROMPTS' records a killed
# rollout's samples in PARTIAL (plain) hold whole: each prompt's N samples
# in order, with the prompt's fields. PARTIAL is cut to them: a record cut
# short, the samples of an unfinished prompt, or anything that is not
# their prefix (another run's, a prompt --skip-bad passed over) go.
# pic-rollout --skip (that many) then appends the rest: the same samples.
resume_partial() {
    local part=$1 prompts=$2 n=$3 whole=0 lines
    [ -s "$part" ] || { : > "$part" && echo 0; return; } # a fresh start: no fork
    lines=$(wc -l < "$part") # whole lines: a record cut short has no newline
    whole=$(head -n "$lines" "$part" | jq -n --slurpfile p <(zstdcat -f "$prompts") --argjson n "$n" '
        reduce inputs as $r ({i: 0, ok: true};
            if .ok and ($p[.i / $n | floor] as $q | $q != null and $r.sample == .i % $n
                        and ([$q | keys[] as $k | $r[$k] == $q[$k]] | all))
            then .i += 1 else .ok = false end)
        | .i / $n | floor') || whole=0
    # (a failure here dies: the rollout would append to samples not cut)
    { head -n $((whole * n)) "$part" > "$part.tmp" && mv -f "$part.tmp" "$part"; } || die "$part: cannot cut it"
    echo "$whole"
}

# model_fingerprint DIR: the model's path and its files' names, sizes and
# times, which change when a checkpoint is written again in place (also one
# caught between pic-update's two renames, which the programs restore as it
# was): what a resumed sampling holds its samples' model to
model_fingerprint() {
    local d
    realpath -m "$1"
    for d in "$1" "$1".old.*; do
        [ -f "$d/config.json" ] || continue
        find "$d/" -maxdepth 1 -type f -printf '%f %s %T@\n' | sort
        return
    done
}

# rollout_args_own ARGS: a usage error for an option in --rollout-args
# that the script gives pic-rollout itself and counts on: --n (each
# dataset's or step's N, which the settings record, a --k is checked
# against, and resume_partial counts whole prompts by: '--n 1' beside
# --n 2 --k 2 gave pass@2 '-', and a killed step found no whole prompt),
# --skip (how a killed sampling is taken up), --shard (a part of the
# prompts alone) and -o (the samples went to that file, and the script
# read none: train.sh died dividing by zero in jq, eval.sh said 'no
# records'). pic-rollout takes the last of each, and getopt_long a
# unique prefix (--sh is --shard, --o --output) and short options bundled
# in one word (src/rollout/main.c's "m:t:n:o:qh": -qn4 is -q -n 4, and
# after -m or -t the rest of the word is its value: -t0.6).
rollout_args_own() {
    local w words b
    read -ra words <<<"$1"
    for w in ${words[@]+"${words[@]}"}; do
        # a bundle: its flags (q, h) before an -n or -o stand for that option
        b=$w
        if [[ $w == -[!-]* ]]; then
            b=${w#-}
            while [[ $b == [qh]* ]]; do b=${b:1}; done
            b=-$b
        fi
        case $b in
        -n* | --n | --n=*) usage_error "--rollout-args: '$w': the samples per prompt are $PROG's own --n" \
            "(the settings, resuming and pass@k count by it)" ;;
        -o* | --o*) usage_error "--rollout-args: '$w': the samples' stream is $PROG's own (it reads pic-rollout's output)" ;;
        --skip | --skip=* | --sh*) usage_error "--rollout-args: '$w': which prompts are sampled is $PROG's own" \
            "(--skip is how it resumes a killed sampling)" ;;
        esac
    done
}

# usage_check PROGRAM ARGS...: a usage error when PROGRAM refuses its
# options (exit 2), asked before any work with no input (eval.sh and
# filter.sh give pic-rollout a model that does not exist): a typo found at
# the sampling came after the samples of a killed run were removed as made
# with other settings (the corrected command sampled them again)
usage_check() {
    local err st=0
    err=$("$@" 2>&1 < /dev/null > /dev/null) || st=$?
    [ "$st" -ne 2 ] || usage_error "$1 refuses the options: ${err%%$'\n'*}"
}

# check_template T: a template name, or a file to read
check_template() {
    case "$1" in ''|raw|chatml|qwen2.5|qwen2.5-math|qwen3|qwen3-thinking|qwen3-nothink|llama3|llama3.1|deepseek-r1|auto) ;;
    *) [ -r "$1" ] || die "--template $1: not a template name, and no file to read" ;; esac
}
# template_key T: a template name, or a file by its path and its text
template_key() {
    case "$1" in ''|raw|chatml|qwen2.5|qwen2.5-math|qwen3|qwen3-thinking|qwen3-nothink|llama3|llama3.1|deepseek-r1|auto) echo "$1" ;;
    *) echo "$(realpath "$1") $(cksum < "$1")" ;; esac
}

# gq TEXT: TEXT as a gnuplot string (plot.sh, fig2.sh). Single-quoted,
# gnuplot takes it as it is but for '' (one quote), so a title, a path or
# a run's name with a double quote or a backslash is drawn and written as
# given.
gq() { printf "'%s'" "${1//\'/\'\'}"; }

# step_name N: step-000042
step_name() { printf 'step-%06d' "$1"; }
# The same into variable $1, without the fork of a $(...) (a loop's hot path:
# a fork cost a millisecond or more where page tables are a hypervisor's).
step_name_to() { printf -v "$1" 'step-%06d' "$2"; }

# The programs: bin/ beside this directory comes first.
PIC_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH="$PIC_HOME/bin:$PIC_HOME/pipelines:$PATH"
export PATH
