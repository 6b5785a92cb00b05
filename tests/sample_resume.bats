#!/usr/bin/env bats
# eval.sh and filter.sh started again: what was sampled with the same
# settings is kept, sampling killed mid-way is taken up after its last whole
# problem (the same samples), and changed settings sample anew.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR" || return 1
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    # without their source, each file is one dataset of the table
    pic-task -q --plain -n 4 --seed 1 | jq -c 'del(.source)' >a.jsonl
    pic-task -q --plain -n 3 --seed 2 --start 50 | jq -c 'del(.source)' >b.jsonl
    E=(--model m --n 3 --max-new-tokens 6 --template chatml --seed 7)
}

@test "killed mid-way, eval.sh takes a dataset up after its last whole problem: the same samples" {
    eval.sh -q "${E[@]}" --out whole a.jsonl b.jsonl >/dev/null
    zstdcat whole/a.jsonl.zst >all.jsonl # 4 problems x 3 samples
    # LINES BYTES:PROBLEMS taken up: a.jsonl killed after LINES samples and
    # BYTES of the next; b.jsonl not begun
    for at in "7 30:2" "3 0:1" "12 0:4" "2 5:0" "0 0:0"; do
        # shellcheck disable=SC2086 # two numbers
        set -- ${at%:*}
        rm -rf cut && mkdir cut && cp whole/a.settings.json cut/
        { head -n "$1" all.jsonl; sed -n "$(($1 + 1))p" all.jsonl | head -c "$2"; } >cut/a.jsonl.partial
        run eval.sh "${E[@]}" --out cut a.jsonl b.jsonl
        [ "$status" -eq 0 ]
        if [ "${at#*:}" -gt 0 ]; then
            [[ "$output" == *"a: sampling 3 per problem, after the ${at#*:} problem"*"it had finished"* ]]
        else
            [[ "$output" != *"it had finished"* ]]
        fi
        for f in a b; do cmp <(zstdcat whole/$f.jsonl.zst) <(zstdcat cut/$f.jsonl.zst); done
        cmp whole/table.json cut/table.json
        [ -z "$(find cut -name '*.partial' -o -name '*.prompts.jsonl' -o -name '*.tmp')" ]
    done
}

@test "eval.sh killed between a dataset's publishing and the removal of its partial file: the next run removes it" {
    eval.sh -q "${E[@]}" --out e a.jsonl >/dev/null
    # as the kill left them: the samples published, their plain copy and
    # the records as sampled still beside them
    zstdcat e/a.jsonl.zst >e/a.jsonl.partial
    cp a.jsonl e/a.prompts.jsonl
    run eval.sh "${E[@]}" --out e a.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: kept"* ]]
    [ ! -e e/a.jsonl.partial ]
    [ ! -e e/a.prompts.jsonl ]
}

@test "eval.sh again with the same settings keeps every dataset; other settings sample anew" {
    eval.sh -q "${E[@]}" --out e a.jsonl b.jsonl >first.txt
    cp e/a.jsonl.zst a.keep
    run eval.sh "${E[@]}" --out e a.jsonl b.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: kept"* && "$output" == *"b: kept"* ]]
    [[ "$output" != *"sampling"* ]]
    # its table is made again from the kept samples
    [ "$(grep -v '^eval.sh:' <<<"$output")" = "$(cat first.txt)" ]
    # one dataset more: only it is sampled
    pic-task -q --plain -n 2 --seed 3 --start 90 | jq -c 'del(.source)' >c.jsonl
    run eval.sh "${E[@]}" --out e a.jsonl b.jsonl c.jsonl
    [[ "$output" == *"a: kept"* && "$output" == *"c: sampling 3 per problem"* ]]
    jq -e '[.datasets[].dataset] == ["a", "b", "c"]' e/table.json >/dev/null
    # another seed: every dataset again
    run eval.sh "${E[@]}" --seed 8 --out e a.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: its samples were made with other settings: sampling again"* ]]
    run cmp -s <(zstdcat a.keep) <(zstdcat e/a.jsonl.zst)
    [ "$status" -eq 1 ]
    # so does another value of each option that decides the samples
    for o in "--max-new-tokens 5" "--temperature 0.7" "--top-p 0.9" "--rollout-args --top-k=5"; do
        eval.sh -q "${E[@]}" --seed 8 --out e a.jsonl >/dev/null # (the settings before: these alone differ)
        # shellcheck disable=SC2086
        run eval.sh "${E[@]}" --seed 8 $o --out e a.jsonl
        [ "$status" -eq 0 ]
        [[ "$output" == *"a: its samples were made with other settings: sampling again"* ]]
    done
    # a dataset whose problems changed
    pic-task -q --plain -n 4 --seed 9 | jq -c 'del(.source)' >a.jsonl
    run eval.sh "${E[@]}" --seed 8 --out e a.jsonl
    [[ "$output" == *"a: its samples were made with other settings"* ]]
    # a checkpoint written again in place (the same path, new weights)
    touch -d '2001-01-01' m/model.safetensors
    run eval.sh "${E[@]}" --seed 8 --out e a.jsonl
    [[ "$output" == *"a: its samples were made with other settings"* ]]
    # the same settings through a symbolic link to the model
    ln -s m final
    run eval.sh "${E[@]}" --seed 8 --model final --out e a.jsonl
    [[ "$output" == *"a: kept"* ]]
}

@test "eval.sh: a run that fails leaves no table, not the last run's" {
    eval.sh -q "${E[@]}" --out e a.jsonl >/dev/null
    [ -s e/table.json ]
    # another seed samples a again, then bad's sampling fails (no problem)
    echo '{"id": 1}' >bad.jsonl
    run eval.sh "${E[@]}" --seed 8 --out e a.jsonl bad.jsonl
    [ "$status" -eq 1 ]
    [[ "$output" == *"a: its samples were made with other settings"* ]]
    [ -z "$(find e -name 'table.*')" ]
    # without it, the tables are a's samples at seed 8, kept
    run eval.sh "${E[@]}" --seed 8 --out e a.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: kept"* ]]
    [ -s e/table.json ]
}

@test "eval.sh: a prompts file it cannot write stops it naming the file, no temporary" {
    mkdir e
    # the file (and its temporary) a link to /dev/full, a full disk: jq's
    # message named no file
    ln -s /dev/full e/a.prompts.jsonl
    ln -s /dev/full e/a.prompts.jsonl.tmp
    run eval.sh "${E[@]}" --out e a.jsonl
    fails_with 1 '^eval\.sh: e/a\.prompts\.jsonl: cannot write it$'
    [ ! -e e/a.prompts.jsonl.tmp ]
    [ -z "$(find e -name '*.zst')" ]
}

@test "eval.sh: a dataset read from a pipe is read once; a template file by its text; one eval.sh an --out" {
    run eval.sh "${E[@]}" --out p <(cat a.jsonl)
    [ "$status" -eq 0 ]
    [ "$(zstdcat p/*.jsonl.zst | wc -l)" -eq 12 ]
    printf 'Q: {problem}\nA:' >tmpl
    E2=(--model m --n 1 --max-new-tokens 4 --template tmpl --out t a.jsonl)
    eval.sh -q "${E2[@]}" >/dev/null
    run eval.sh "${E2[@]}"
    [[ "$output" == *"a: kept"* ]]
    printf 'Problem: {problem}\nAnswer:' >tmpl
    run eval.sh "${E2[@]}"
    [[ "$output" == *"a: its samples were made with other settings"* ]]
    run eval.sh "${E[@]}" --template nope.txt --out t a.jsonl
    fails_with 1 "--template nope.txt: not a template name, and no file to read"
    # a second eval.sh on the same --out is refused while the first holds it
    exec 7>>t/.lock
    flock -n 7
    run eval.sh "${E[@]}" --out t a.jsonl
    exec 7>&-
    fails_with 1 "t: in use by another eval.sh"
}

@test "eval.sh and filter.sh read an integer as the programs do: leading zeros are the same setting" {
    eval.sh -q "${E[@]}" --out e a.jsonl >/dev/null
    # (--n refused a leading zero; the other integers were settings as written)
    run eval.sh --model m --n a=03,1 --max-new-tokens 006 --template chatml --seed +07 --out e a.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: kept"* ]]
    # an N past pic-rollout's --n: refused before any dataset is sampled
    run eval.sh "${E[@]}" --n b=2000000,3 --out e2 a.jsonl b.jsonl
    [ "$status" -eq 2 ]
    [[ "$output" == *"--n: 2000000 is outside [1, 1048576]"* ]]
    [ ! -e e2 ]
    pic-task -q --plain -n 2 --seed 2 >p.jsonl
    filter.sh -q --model m --n 2 --max-new-tokens 2 --seed 7 --samples plain.zst -o a.jsonl p.jsonl
    filter.sh -q --model m --n 02 --max-new-tokens 002 --seed 007 --samples zeros.zst -o b.jsonl p.jsonl
    cmp <(zstdcat plain.zst) <(zstdcat zeros.zst)
    run filter.sh --model m --n 08x -o c.jsonl p.jsonl
    [ "$status" -eq 2 ]
    [[ "$output" == *"--n: '08x' is not a positive integer"* ]]
}

@test "filter.sh samples with the template its help says is the default: raw, as train.sh" {
    # (its help said the model's chat format, as train.sh's and eval.sh's
    # once did: pic-rollout's default, raw, is what all three give)
    run filter.sh --help
    [[ "$output" == *"default raw"* ]]
    pic-task -q --plain -n 2 --seed 2 >p.jsonl
    filter.sh -q --model m --n 1 --max-new-tokens 2 --samples default.zst -o a.jsonl p.jsonl
    filter.sh -q --model m --n 1 --max-new-tokens 2 --template raw --samples raw.zst -o b.jsonl p.jsonl
    cmp <(zstdcat default.zst) <(zstdcat raw.zst)
}

@test "filter.sh --eos: one more token ends its samples, as in the run it filters for" {
    # (pic-rollout tells a base model in ChatML to take --eos '<|im_end|>',
    # and filter.sh refused the option: its samples went on past the turn)
    pic-task -q --plain -n 2 --seed 2 >p.jsonl
    F=(--model m --n 2 --max-new-tokens 8 --template chatml --seed 3)
    filter.sh -q "${F[@]}" --samples a.zst -o a.jsonl p.jsonl
    tok=$(zstdcat a.zst | jq -s '.[0].response_ids[0]')
    run filter.sh -q "${F[@]}" --eos "$tok" --samples b.zst -o b.jsonl p.jsonl
    [ "$status" -eq 0 ]
    [ "$(zstdcat b.zst | jq -sc '.[0] | [.response_ids, .finish]')" = "[[$tok],\"stop\"]" ]
    cmp <(zstdcat b.zst) <(pic-rollout -q --plain -m m --n 2 -t 0.6 --max-new-tokens 8 --template chatml --seed 3 \
        --eos "$tok" p.jsonl | pic-reward -q --plain)
}

@test "filter.sh killed in its sampling samples only the prompts it had not finished" {
    pic-task -q --plain -n 5 --seed 2 >p.jsonl
    F=(--model m --n 2 --max-new-tokens 4 --template chatml --seed 3)
    filter.sh -q "${F[@]}" --samples whole.zst -o whole.jsonl p.jsonl
    # a pic-reward that dies after 5 records (the pipelines take their
    # programs from bin/ beside them: a copy of both)
    mkdir -p fake/bin
    cp -r "$PIC_ROOT/pipelines" fake/
    for p in "$PIC_BIN"/*; do ln -s "$p" fake/bin/; done
    rm fake/bin/pic-reward
    printf '#!/bin/sh\n"%s" -q --plain | head -n 5 | "%s" "$@"\nexit 1\n' "$PIC_BIN/pic-cat" "$PIC_BIN/pic-reward" \
        >fake/bin/pic-reward
    chmod +x fake/bin/pic-reward
    run fake/pipelines/filter.sh -q "${F[@]}" --samples cut.zst -o cut.jsonl p.jsonl
    [ "$status" -ne 0 ]
    [ ! -e cut.jsonl ]
    [ ! -e cut.zst ]
    [ "$(wc -l <cut.jsonl.partial)" -eq 5 ]
    run filter.sh "${F[@]}" --samples cut.zst -o cut.jsonl p.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"sampling 5 prompts x 2, after the 2 it had finished"* ]]
    cmp <(zstdcat whole.zst) <(zstdcat cut.zst)
    cmp whole.jsonl cut.jsonl
    [ -z "$(find . -maxdepth 1 -name 'cut.jsonl.*')" ]
    # killed again; a --scored run to the same OUT leaves its samples alone
    run fake/pipelines/filter.sh -q "${F[@]}" -o cut.jsonl p.jsonl
    filter.sh -q --scored whole.zst --n 2 -o cut.jsonl p.jsonl
    [ "$(wc -l <cut.jsonl.partial)" -eq 5 ]
    # a typo in an option of sampling is refused before its samples go
    run filter.sh -q "${F[@]}" --reward-args '--task countdwn' -o cut.jsonl p.jsonl
    fails_with 2 "pic-reward refuses the options"
    run filter.sh -q "${F[@]}" --temperature 0.6x -o cut.jsonl p.jsonl
    fails_with 2 "pic-rollout refuses the options"
    [ "$(wc -l <cut.jsonl.partial)" -eq 5 ]
    # then started with another seed: sampled anew
    run filter.sh "${F[@]}" --seed 4 -o cut.jsonl p.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"cut.jsonl.partial: its samples were made with other settings: sampling again"* ]]
    [[ "$output" != *"it had finished"* ]]
    # so with another value of each option that decides the samples
    for o in "--max-new-tokens 3" "--temperature 0.7"; do
        run fake/pipelines/filter.sh -q "${F[@]}" -o cut.jsonl p.jsonl
        [ "$(wc -l <cut.jsonl.partial)" -eq 5 ]
        # shellcheck disable=SC2086
        run filter.sh "${F[@]}" $o -o cut.jsonl p.jsonl
        [ "$status" -eq 0 ]
        [[ "$output" == *"its samples were made with other settings: sampling again"* ]]
    done
}

@test "filter.sh: a file it cannot write stops it naming the file, exit 1; the previous one stays" {
    pic-task -q --plain -n 3 --seed 2 >p.jsonl
    F=(--model m --n 2 --max-new-tokens 4 --template chatml --seed 3)
    filter.sh -q "${F[@]}" --samples s.zst -o o.jsonl p.jsonl
    cp s.zst s.before
    # each temporary a link to /dev/full, a full disk: the samples' copy and
    # the settings' write failed inside && lists, which set -e passed over
    # (exit 0, the earlier run's samples left as this run's), and jq's own
    # message about OUT named no file
    ln -s /dev/full s.zst.tmp
    run filter.sh -q "${F[@]}" --seed 4 --samples s.zst -o o.jsonl p.jsonl
    fails_with 1 '^filter\.sh: s\.zst: cannot write it$'
    cmp s.before s.zst
    [ ! -e s.zst.tmp ]
    # and a run that settings of another seed sent sampling anew
    ln -s /dev/full o.jsonl.partial.settings.json.tmp
    run filter.sh -q "${F[@]}" -o o.jsonl p.jsonl
    fails_with 1 '^filter\.sh: o\.jsonl\.partial\.settings\.json: cannot write it$'
    [ ! -e o.jsonl.partial.settings.json.tmp ]
    [ ! -s o.jsonl.partial ]
    # every prompt solved once in two: each kept
    zstdcat s.before | jq -sc 'to_entries[] | .value + {correct: (.key % 2 == 0)}' >half.jsonl
    filter.sh -q --scored half.jsonl --n 2 -o o.jsonl p.jsonl
    cp o.jsonl o.before
    [ "$(wc -l <o.before)" -eq 3 ]
    ln -s /dev/full o.jsonl.tmp
    run filter.sh -q --scored half.jsonl --n 2 -o o.jsonl p.jsonl
    fails_with 1 '^filter\.sh: o\.jsonl: cannot write it$'
    cmp o.before o.jsonl
    [ ! -e o.jsonl.tmp ]
}

@test "two datasets with one problem (the same source and id) are refused before any sampling" {
    # pic-task's files of two seeds: source synthetic-d1 in both, ids from
    # 0 in each. Both were sampled whole, then pic-eval stopped on the
    # second's samples as repeats of the first's
    pic-task -q --plain -n 3 --seed 2 >s2.jsonl
    pic-task -q --plain -n 3 --seed 3 | zstd -q >s3.jsonl.zst
    run eval.sh "${E[@]}" --out e s2.jsonl s3.jsonl.zst
    fails_with 1 '^eval.sh: problem 0 of source "synthetic-d1" is in datasets s2 and s3 \(pic-eval tells'
    [ -z "$(ls e)" ]
    # one file holding a problem twice; an id "1" is pic-eval's id 1
    jq -c 'if .id == 2 then .id = "1" else . end' a.jsonl >dup.jsonl
    run eval.sh "${E[@]}" --out e dup.jsonl
    fails_with 1 'problem 1 of source "dup" is twice in dataset dup'
    # train.sh finds it before its first step, not at the first validation
    run train.sh --check --run r --model m --val-every 1 --val-data s2.jsonl --val-data s3.jsonl.zst
    fails_with 1 '^train.sh: problem 0 of source "synthetic-d1" is in datasets s2 and s3'
    # other sources, or other ids, are other problems
    jq -c '.source = "other"' s2.jsonl >o.jsonl
    eval.sh -q "${E[@]}" --out e s2.jsonl o.jsonl >/dev/null
    jq -e '[.datasets[].dataset] == ["other", "synthetic-d1"] or [.datasets[].dataset] == ["synthetic-d1", "other"]' \
        e/table.json >/dev/null
}

@test "eval.sh: a typo in a program's options is refused before anything is sampled or removed" {
    eval.sh -q "${E[@]}" --out e a.jsonl b.jsonl >/dev/null
    # the typo's settings differ: a's samples were removed before
    # pic-rollout refused them, and the corrected command sampled a again;
    # a bad --k came after every dataset was sampled
    for bad in "--temperature 0,6|pic-rollout refuses the options: pic-rollout: --temperature" \
               "--rollout-args --top-k=x|pic-rollout refuses the options: pic-rollout: --top-k" \
               "--reward-args --bogus|pic-reward refuses the options: pic-reward: unknown" \
               "--k abc|pic-eval refuses the options: pic-eval: --k" \
               "--k 1,4|--k: pass@4 needs 4 samples per problem, and --n gives at most 3"; do
        # shellcheck disable=SC2086
        run eval.sh "${E[@]}" ${bad%%|*} --out e a.jsonl b.jsonl
        fails_with 2 "^eval.sh: ${bad#*|}"
        [[ "$output" != *sampling* ]]
        run eval.sh "${E[@]}" ${bad%%|*} --out new a.jsonl
        [ "$status" -eq 2 ]
        [ ! -e new ]
    done
    run eval.sh "${E[@]}" --out e a.jsonl b.jsonl
    [ "$status" -eq 0 ]
    [[ "$output" == *"a: kept"* && "$output" == *"b: kept"* ]]
}

@test "eval.sh --k given twice: the second adds to the list, as pic-eval's" {
    eval.sh -q "${E[@]}" --k 1 --k 2,3 --out e a.jsonl >/dev/null
    jq -e '.k == [1, 2, 3]' e/table.json >/dev/null
    run eval.sh "${E[@]}" --k 1,2 --k 2 --out e a.jsonl
    fails_with 2 "^eval.sh: pic-eval refuses the options: pic-eval: --k: 2 given twice"
}

@test "eval.sh's defaults are the paper's sampling: T 0.6, top-p 0.95, seed 1 (not pic-rollout's 1, 1, 0)" {
    eval.sh -q --model m --n 2 --max-new-tokens 6 --template chatml --out d a.jsonl >/dev/null
    pic-cat -q --plain a.jsonl | jq -c '.source //= "a"' |
        pic-rollout -q --model m --n 2 --temperature 0.6 --top-p 0.95 --seed 1 --max-new-tokens 6 --template chatml |
        zstdcat -f | jq -c .response_ids >want
    cmp want <(zstdcat d/a.jsonl.zst | jq -c .response_ids)
}

@test "eval.sh: a dataset is named by its file name without extensions (a.jsonl.zst is a)" {
    zstd -q a.jsonl -o a.jsonl.zst
    eval.sh -q "${E[@]}" --n a=2,3 --out z a.jsonl.zst >/dev/null
    [ "$(pic-cat -q -n z/a.jsonl.zst)" -eq 8 ]
    jq -e '[.datasets[].dataset] == ["a"]' z/table.json >/dev/null
}

@test "eval.sh greedy: no --top-p or --seed goes to pic-rollout, and one given is refused" {
    G=(--model m --n 1 --max-new-tokens 6 --template chatml --temperature 0)
    eval.sh -q "${G[@]}" --out g a.jsonl >/dev/null
    [ "$(pic-cat -q -n g/a.jsonl.zst)" -eq 4 ]
    for o in "--seed 7" "--top-p 0.9"; do
        # shellcheck disable=SC2086
        run eval.sh "${G[@]}" $o --out g a.jsonl
        fails_with 2 "^eval.sh: pic-rollout refuses the options: pic-rollout: ${o% *} does nothing at --temperature 0"
    done
    # any spelling of 0 is greedy
    run eval.sh "${G[@]/#0/0.0}" --out g a.jsonl
    [ "$status" -eq 0 ]
}

@test "eval.sh greedy without --n: one sample a problem, not eight of the same; --n still says how many" {
    G=(--model m --max-new-tokens 6 --template chatml --temperature 0)
    eval.sh -q "${G[@]}" --out g a.jsonl >/dev/null
    [ "$(pic-cat -q -n g/a.jsonl.zst)" -eq 4 ]
    jq -e '.n == "1"' g/a.settings.json >/dev/null
    eval.sh -q "${G[@]}" --n 2 --out g2 a.jsonl >/dev/null
    [ "$(pic-cat -q -n g2/a.jsonl.zst)" -eq 8 ]
    run eval.sh "${G[@]}" --k 2 --out g3 a.jsonl
    fails_with 2 "^eval.sh: --k: pass@2 needs 2 samples per problem, and --n gives at most 1 \\(1 at --temperature 0 without --n\\)"
    # sampled at 0.6 the default stays 8
    eval.sh -q --model m --max-new-tokens 6 --template chatml --out s a.jsonl >/dev/null
    [ "$(pic-cat -q -n s/a.jsonl.zst)" -eq 32 ]
}

@test "eval.sh: --rollout-args takes no option eval.sh sets and counts on (--n, --skip, --shard, -o)" {
    # '--n 1' with --n 2 --k 2 passed the --k check and gave pass@2 '-';
    # '-o F' sent the samples to F and pic-eval said 'no records'
    # (and bundled after a flag, as getopt_long reads them: -qn1 is -q -n 1)
    for a in '--n 1' '-n1' '--seed 3 --n=1' '-o x.zst' '--output x.zst' '--skip 1' '--shard 0/2' \
        '-qn1' '-qhn 1' '-qox.zst' '-qq -o x.zst'; do
        run eval.sh "${E[@]}" --k 2 --out e --rollout-args "$a" a.jsonl
        fails_with 2 "--rollout-args: '[^']*': .* eval.sh's own"
        [ ! -e e ]
        [ ! -e x.zst ]
    done
    # what it does not set passes: --skip-bad is not --skip
    run eval.sh "${E[@]}" --out e --rollout-args '--skip-bad --top-k 5' a.jsonl
    [ "$status" -eq 0 ]
    # an n in a value bundled with -t is the value's (the rest of the word):
    # pic-rollout's to judge
    run eval.sh "${E[@]}" --out e2 --rollout-args '-qtnan' a.jsonl
    fails_with 2 "pic-rollout refuses the options: pic-rollout: --temperature: 'nan' is not a number"
}

@test "eval.sh: a dataset piped in as /dev/stdin is sampled, not read as empty" {
    # (write_whole's command is a background job, whose standard input was
    # /dev/null: pic-cat read no prompts, and pic-eval found no records)
    cat a.jsonl | eval.sh -q "${E[@]}" --out s /dev/stdin > /dev/null
    [ "$(zstdcat s/stdin.jsonl.zst | wc -l)" -eq 12 ]
}
