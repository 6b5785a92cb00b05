#!/usr/bin/env bats
# The programs' GPU paths on a machine without a GPU: pic-update,
# pic-rollout and pic-model-bench built with the CUDA backend's host
# stand-in (make host-cuda:
# src/model/cuda_host.c, src/rollout/cuda_host.c), whose "device" is host
# memory and whose kernels are the CPU's. What the GPU paths do beside the
# arithmetic runs here as it will on a GPU: a trainer with no host state,
# the optimizer state checked at start and put on the device a tensor at a
# time once the model is there, the arena sized once, checkpoints and
# gradients written from the device in chunks; generation through the
# device's cache pages, with uniforms drawn before the pass and rows handed
# to the device sampler a block at a time. In f32 every byte must be the
# CPU's.
load helpers

M="$FIXTURES/models"
U="$FIXTURES/update"
HOST_BIN="${PIC_BUILD:-$PIC_ROOT/build}/host-cuda/bin"
HOST_CUDA="$HOST_BIN/pic-update"
S=(--lr 1e-2 --threads 1 -q)

setup() {
    T="$BATS_TEST_TMPDIR"
    cd "$T" || return 1
    if [ ! -x "$HOST_CUDA" ] || [ ! -x "$HOST_BIN/pic-rollout" ] || [ ! -x "$HOST_BIN/pic-model-bench" ]; then
        echo "no $HOST_BIN/pic-update, pic-rollout or pic-model-bench: make test builds them (make host-cuda)" >&2
        return 1
    fi
}

gpu() { "$HOST_CUDA" "$@"; }
gpu_rollout() { "$HOST_BIN/pic-rollout" "$@"; }
# home DIR PROGRAM...: a copy of the pipelines (and tests/gpu/pipeline.sh)
# whose bin/, which pipelines/lib.sh puts first on PATH, holds the programs
# under test with the stand-in's PROGRAMs in their place
home() {
    local h=$1 p
    shift
    mkdir -p "$h/bin" "$h/tests/gpu"
    cp -r "$PIC_ROOT/pipelines" "$h/"
    cp "$PIC_ROOT/tests/gpu/pipeline.sh" "$h/tests/gpu/"
    for p in "$PIC_BIN"/*; do ln -s "$p" "$h/bin/"; done
    for p in "$@"; do ln -sf "$HOST_BIN/$p" "$h/bin/$p"; done
}
# a stats line without what measures time or names the device
timeless() { jq -c 'del(.seconds, .load_seconds, .save_seconds, .tokens_per_s, .device)' "$@"; }
st_header() { head -c $((8 + $(head -c 8 "$1" | od -An -tu8))) "$1" | tail -c +9; }

@test "the stand-in is a GPU to pic-update: --device auto takes it" {
    s="$U/qwen2-tiny-step.jsonl"
    gpu -m "$M/qwen2-tiny" -o a "${S[@]}" --dtype f32 "$s" >a.json
    [ "$(jq -r .device a.json)" = cuda ]
    pic-update -m "$M/qwen2-tiny" -o c "${S[@]}" "$s" >c.json
    [ "$(jq -r .device c.json)" = cpu ]
}

@test "f32 on the GPU path: checkpoint, optimizer state, gradients and stats are the CPU's, bit for bit, step after step" {
    s="$U/qwen2-tiny-step.jsonl"
    pic-update -m "$M/qwen2-tiny" -o c1 "${S[@]}" --device cpu "$s" >c1.json
    gpu -m "$M/qwen2-tiny" -o g1 "${S[@]}" --device cuda --dtype f32 "$s" >g1.json
    same_ckpt c1 g1
    [ "$(timeless c1.json)" = "$(timeless g1.json)" ]
    # resumed (the optimizer state goes onto the device after the model), in
    # two optimizer steps of micro-batches, the gradients saved from the device
    M2=(--mini-batches 2 --micro-tokens 40)
    pic-update -m c1 -o c2 "${S[@]}" --device cpu "${M2[@]}" --save-grads cg.safetensors "$s" >c2.json
    gpu -m g1 -o g2 "${S[@]}" --device cuda --dtype f32 "${M2[@]}" --save-grads gg.safetensors "$s" >g2.json
    same_ckpt c2 g2
    cmp cg.safetensors gg.safetensors
    [ "$(timeless c2.json)" = "$(timeless g2.json)" ]
    [ "$(jq .micro_batches g2.json)" -gt 2 ]
    # --recompute keeps each layer's input only: the same bits
    gpu -m g1 -o g3 "${S[@]}" --device cuda --dtype f32 "${M2[@]}" --recompute "$s" >/dev/null
    same_ckpt c2 g3
}

@test "bf16 on the GPU path: a bf16 checkpoint stays bf16 with fp32 master weights, and resuming is exact" {
    s="$U/qwen3-tiny-step.jsonl"
    { cat "$s"; sed 's/"golden-/"again-/' "$s"; } >six.jsonl
    n=$(wc -l <"$s")
    head -"$n" six.jsonl >a.jsonl
    tail -"$n" six.jsonl >b.jsonl
    gpu -m "$M/qwen3-tiny" -o s1 "${S[@]}" --dtype bf16 a.jsonl >/dev/null
    st_header s1/model.safetensors | jq -e '[to_entries[] | select(.key != "__metadata__") | .value.dtype] | unique == ["BF16"]'
    st_header s1/optimizer.safetensors | jq -e 'has("master.model.embed_tokens.weight")'
    gpu -m s1 -o s2 "${S[@]}" --dtype bf16 b.jsonl >/dev/null
    gpu -m "$M/qwen3-tiny" -o u "${S[@]}" --dtype bf16 --mini-batches 2 six.jsonl >/dev/null
    same_ckpt s2 u
    # the first step reads the checkpoint's bf16 weights, as the CPU does;
    # the second reads the master weights' rounding, where the CPU reads them whole
    pic-update -m "$M/qwen3-tiny" -o c1 "${S[@]}" --device cpu a.jsonl >/dev/null
    same_ckpt c1 s1
    pic-update -m c1 -o c2 "${S[@]}" --device cpu b.jsonl >/dev/null
    ! cmp -s c2/optimizer.safetensors s2/optimizer.safetensors || false
    # an f32 checkpoint trained in bf16: its master weights are its exact
    # values, not their rounding (a step of lr 0 gives them back whole)
    pic-update -m "$M/qwen2-tiny" -o z-cpu --lr 0 -q --device cpu "$U/qwen2-tiny-step.jsonl" >/dev/null
    gpu -m "$M/qwen2-tiny" -o z-gpu --lr 0 -q --dtype bf16 "$U/qwen2-tiny-step.jsonl" >/dev/null
    cmp z-cpu/model.safetensors z-gpu/model.safetensors
}

@test "a bad optimizer state is refused at start, before the samples are read; --reset-optimizer does not read it" {
    s="$U/qwen3-tiny-step.jsonl"
    echo '{"prompt_ids": [1, 2' >bad.jsonl
    gpu -m "$M/qwen3-tiny" -o ck "${S[@]}" --dtype bf16 "$s" >/dev/null
    cp -r ck part
    st_edit part/optimizer.safetensors \
        'with_entries(if .key == "master.model.norm.weight" then .key = "other.model.norm.weight" else . end)'
    run gpu -m part -o next "${S[@]}" --dtype bf16 bad.jsonl
    fails_with 1 "^pic-update: part/optimizer.safetensors: master weights for [0-9]+ of the [0-9]+ parameters"
    cp -r ck tr
    st_edit tr/optimizer.safetensors '.["v.model.layers.0.mlp.down_proj.weight"].shape |= reverse'
    run gpu -m tr -o next "${S[@]}" --dtype bf16 bad.jsonl
    fails_with 1 "^pic-update: tr/optimizer.safetensors: tensor 'v.model.layers.0.mlp.down_proj.weight' is F32 \[[0-9]+, [0-9]+\]; the model needs"
    [ ! -e next ]
    gpu -m tr -o next "${S[@]}" --dtype bf16 --reset-optimizer "$s" >/dev/null
    [ -f next/optimizer.safetensors ]
}

@test "--serve on the GPU path: requests equal one process a step; the arena holds --micro-tokens, and a longer sample is refused" {
    s="$U/qwen2-tiny-step.jsonl"
    # the same micro-batches on the CPU: their sums decide the bits
    for i in 1 2 3; do
        pic-update -m "$( ((i > 1)) && echo c$((i - 1)) || echo "$M/qwen2-tiny")" -o c$i "${S[@]}" --device cpu \
            --micro-tokens 64 "$s" >/dev/null
    done
    run gpu -m "$M/qwen2-tiny" --serve "${S[@]}" --dtype f32 <<<"{\"samples\": \"$s\", \"output\": \"g1\"}"
    fails_with 2 "--serve on a GPU needs --micro-tokens N"
    printf '{"samples": "%s", "output": "g%d", "state": %s}\n' "$s" 1 true "$s" 2 false "$s" 3 false >req
    gpu -m "$M/qwen2-tiny" --serve --micro-tokens 64 "${S[@]}" --dtype f32 <req >g.jsonl
    [ "$(jq -c '[.step, .optimizer_state]' g.jsonl | tr -d '\n')" = "[1,true][2,false][3,false]" ]
    same_ckpt c1 g1
    cmp c2/model.safetensors g2/model.safetensors
    [ -f g2/optimizer-not-saved.json ]
    same_ckpt c3 g3 # the last request's checkpoint is written again, with its state, at the end
    # stopped by SIGTERM while it waits, the server writes its last
    # weights-only checkpoint again with the state it holds on the device
    rm -rf g2 && mkfifo fifo && : >t.jsonl
    "$HOST_CUDA" -m "$M/qwen2-tiny" --serve --micro-tokens 64 "${S[@]}" --dtype f32 <fifo >t.jsonl &
    pid=$!
    exec 7>fifo
    head -n 2 req >&7
    while [ "$(wc -l < t.jsonl)" -lt 2 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    [ -f g2/optimizer-not-saved.json ]
    kill -TERM "$pid"
    st=0 && wait "$pid" || st=$?
    exec 7>&-
    [ "$st" -eq 143 ]
    same_ckpt c2 g2
    # a sample longer than the arena: refused naming it, the earlier checkpoints kept
    printf '{"samples": "%s", "output": "h1"}\n' "$s" "$s" >req2
    sed -i '2s/h1/h2/' req2
    run gpu -m "$M/qwen2-tiny" --serve --micro-tokens 20 "${S[@]}" --dtype f32 <req2
    fails_with 1 "qwen2-tiny-step.jsonl:[0-9]+: a sample of [0-9]+ tokens, longer than the 20-token micro-batch"
    [ ! -e h1 ]
    [ ! -e h2 ]
}

@test "pic-rollout's GPU path: the CPU's bytes at batch sizes 1, 7 and 64, through a short cache (preemptions) and small passes" {
    prompts >p
    G=(--device cuda --dtype f32 --plain -q)
    pic-rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 7 --plain -q p >cpu
    for b in 1 7 64; do
        gpu_rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size "$b" "${G[@]}" p >"g$b"
        cmp cpu "g$b"
    done
    # a prompt's pages shared by its samples, copied on write, given up and refilled
    gpu_rollout -m "$M/qwen2-tiny" -n 4 --max-new-tokens 40 --stop j --seed 3 --max-batch-size 7 --kv-cache-tokens 128 \
        --max-batch-tokens 64 --device cuda --dtype f32 --plain p >short 2>err
    grep -Eq "on cuda \(f32\), KV cache peak 128 of 128 positions, [1-9][0-9]* preemptions?" err
    cmp cpu short
    pic-rollout -m "$M/llama-tiny" -n 3 --max-new-tokens 30 --top-p 0.95 --seed 7 --plain -q p >cpu2
    gpu_rollout -m "$M/llama-tiny" -n 3 --max-new-tokens 30 --top-p 0.95 --seed 7 --threads 1 "${G[@]}" p >g2
    cmp cpu2 g2
    # the arena holds a pass of --max-batch-tokens, so a longer prompt is refused at start
    run gpu_rollout -m "$M/qwen2-tiny" --max-new-tokens 4 --max-batch-tokens 16 "${G[@]}" p
    fails_with 1 "the longest prompt has 64 tokens, more than --max-batch-tokens 16"
}

@test "exactly on-policy on the GPU path in bf16: generation's log-probs are --score's and pic-update's, bit for bit" {
    prompts >p
    gpu_rollout -m "$M/qwen3-tiny" -n 2 --max-new-tokens 20 --seed 3 --device cuda --dtype bf16 --plain -q p >gen
    gpu_rollout -m "$M/qwen3-tiny" --score --device cuda --dtype bf16 --plain -q gen >scored
    cmp <(jq -c '[.logprobs, .entropy]' gen) <(jq -c '[.logprobs, .entropy]' scored)
    jq -c '.reward = (.sample % 2)' gen >step
    gpu -m "$M/qwen3-tiny" -o next --dtype bf16 "${S[@]}" step >stats
    [ "$(jq .logp_diff_max stats)" = 0 ]
    [ "$(jq -r .device stats)" = cuda ]
}

@test "train.sh with its trainer (and then its rollouts) on the GPU path: the run is the CPU's, with and without --serve, and resumes exactly" {
    pic-init -q -o m --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --seed 3
    TRAIN=(--model m --prompts 4 --n 2 --max-new-tokens 8 --lr 1e-3 --template chatml --seed 5 --keep 0
           --method nsr --with-entropic --target 2.0)
    train.sh -q --run cpu --steps 4 "${TRAIN[@]}" --update-args '--micro-tokens 64'
    home h pic-update
    G=(--update-args '--device cuda --dtype f32 --micro-tokens 64')
    h/pipelines/train.sh -q --run one --steps 4 "${TRAIN[@]}" "${G[@]}"
    h/pipelines/train.sh -q --run srv --steps 4 --serve --state-every 3 "${TRAIN[@]}" "${G[@]}"
    log() { jq -c 'del(.tokens_per_s, .seconds, .load_seconds, .save_seconds, .optimizer_state, .device)' "$1"; }
    for r in one srv; do
        cmp <(log cpu/log.jsonl) <(log $r/log.jsonl)
        for i in 1 2 3 4; do cmp "cpu/ckpt/step-00000$i/model.safetensors" "$r/ckpt/step-00000$i/model.safetensors"; done
        cmp cpu/ckpt/step-000004/optimizer.safetensors $r/ckpt/step-000004/optimizer.safetensors
    done
    [ "$(jq -c .optimizer_state srv/log.jsonl | tr -d '\n')" = falsefalsetruetrue ]
    # both programs on the GPU path
    home h2 pic-update pic-rollout
    h2/pipelines/train.sh -q --run all --steps 4 "${TRAIN[@]}" --device cuda --rollout-args '--dtype f32' \
        --update-args '--dtype f32 --micro-tokens 64'
    cmp <(log cpu/log.jsonl) <(log all/log.jsonl)
    cmp cpu/ckpt/step-000004/optimizer.safetensors all/ckpt/step-000004/optimizer.safetensors
    # stopped after step 2, a weights-only checkpoint: steps 1-2 are taken again from step 0's state on the GPU
    rm -rf cut && cp -r srv cut
    rm cut/steps/step-00000[34].json && rm -r cut/ckpt/step-00000[34]
    run h/pipelines/train.sh --run cut --steps 4 --serve --state-every 3 "${TRAIN[@]}" "${G[@]}"
    [ "$status" -eq 0 ]
    [[ "$output" == *"taking the updates of steps 1-2 again"* ]]
    cmp <(log cpu/log.jsonl) <(log cut/log.jsonl)
    cmp cpu/ckpt/step-000004/optimizer.safetensors cut/ckpt/step-000004/optimizer.safetensors
}

@test "tests/gpu/pipeline.sh --device cuda, as run.sh's pipe section runs it, on the stand-in: exact on-policy, --serve the same" {
    home h pic-update pic-rollout
    PATH="$T/h/bin:$PATH" h/tests/gpu/pipeline.sh pipe --device cuda --steps 3 --serve-steps 3 >line
    jq -e '.ok and .device == "cuda" and .trained_on == "cuda" and .dtype == "bf16" and .steps == 3
        and .logp_diff_max == 0 and .serve_same' line
}

@test "pic-model-bench --score and --train on the GPU path: the JSON line the GPU benchmarks read, the weights drawn on the device" {
    cfg="$M/qwen2-tiny/config.json"
    for mode in --score --train; do
        c=$(pic-model-bench "$mode" 3x17 --device cpu --config "$cfg" --threads 1)
        for exact in "" --exact; do
            # shellcheck disable=SC2086 # an empty $exact is no word
            g=$("$HOST_BIN/pic-model-bench" "$mode" 3x17 --device cuda --config "$cfg" $exact)
            jq -e --argjson c "$c" '(keys_unsorted == ($c | keys_unsorted)) and .device == "cuda"
                and .dtype == "bf16" and .tokens == 51 and .model_flops == $c.model_flops and .seconds > 0' <<<"$g"
        done
    done
}

