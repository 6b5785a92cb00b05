#!/usr/bin/env bats
# The device flags (--device, --dtype, --max-batch-tokens) of pic-rollout
# --score and pic-model-bench, on the CPU. Runs on the GPU itself are
# tests/gpu/run.sh's; here a GPU is never required, and the tests that
# assume none is visible skip where one is.
load helpers

M="$FIXTURES/models"

gpu_visible() { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; }

@test "--device cpu scores, says so in its summary, and equals the default on a machine without a GPU" {
    pic-rollout --score -m "$M/qwen2-tiny" --device cpu --dtype f32 --plain "$M/derived/score_qwen2-tiny.jsonl" >a 2>err
    grep -q "on cpu (f32)" err
    [ "$(wc -l <a)" -eq 3 ]
    if ! gpu_visible; then
        pic-rollout --score -m "$M/qwen2-tiny" --plain -q "$M/derived/score_qwen2-tiny.jsonl" >b
        cmp a b
    fi
}

@test "--device auto (the default) takes the CPU when no GPU is visible" {
    gpu_visible && skip "a GPU is visible here"
    run pic-rollout --score -m "$M/qwen2-tiny" --plain "$M/derived/score_qwen2-tiny.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" == *"scored 3 records"*"on cpu (f32)"* ]]
    run pic-rollout --score -m "$M/qwen2-tiny" --device auto --plain "$M/derived/score_qwen2-tiny.jsonl"
    [[ "$output" == *"on cpu (f32)"* ]]
}

@test "--device cuda without a GPU (or in a build without CUDA) is refused: exit 1, a message, no output" {
    gpu_visible && skip "a GPU is visible here"
    run pic-rollout --score -m "$M/qwen2-tiny" --device cuda --plain -o out "$M/derived/score_qwen2-tiny.jsonl"
    fails_with 1 "no CUDA GPU is visible|built without CUDA"
    [ ! -e out ]
    run pic-model-bench --score 2x8 --device cuda
    fails_with 1 "no CUDA GPU is visible|built without CUDA"
}

@test "generation: --device cuda without a GPU is refused (exit 1, no output); auto generates on the CPU" {
    echo '{"prompt_ids": [1, 2, 3]}' >p
    if ! gpu_visible; then
        run pic-rollout -m "$M/qwen2-tiny" --device cuda --max-new-tokens 2 --plain -o out p
        fails_with 1 "no CUDA GPU is visible|built without CUDA"
        [ ! -e out ]
    fi
    run pic-rollout -m "$M/qwen2-tiny" --device auto --max-new-tokens 2 --plain p
    [ "$status" -eq 0 ]
    [[ "$output" == *"generated 1 sample, "*"on cpu (f32)"* ]]
}

@test "--dtype bf16 on the CPU and unknown devices or dtypes are usage errors" {
    run pic-rollout --score -m "$M/qwen2-tiny" --device cpu --dtype bf16
    fails_with 2 "--dtype bf16: the CPU computes in f32 only"
    run pic-rollout --score -m "$M/qwen2-tiny" --device tpu
    fails_with 2 "--device: expected cpu, cuda or auto, got 'tpu'"
    run pic-rollout --score -m "$M/qwen2-tiny" --dtype f16
    fails_with 2 "--dtype: expected f32 or bf16, got 'f16'"
    run pic-model-bench --device cpu
    fails_with 2 "belong to --score"
    run pic-model-bench --score 2x8 --device cpu --dtype bf16
    fails_with 2 "f32 only"
    run pic-model-bench --score 16-2048
    fails_with 2 "--score: expected BxT"
    # one of the two: --train silently replaced --score
    run pic-model-bench --score 2x8 --train 2x8 --device cpu
    fails_with 2 "^pic-model-bench: --score and --train: choose one"
    run pic-model-bench --train 2x8 --score 2x8 --device cpu
    fails_with 2 "^pic-model-bench: --score and --train: choose one"
    # the decode run's options do nothing to a --score or --train run
    for o in "--batch 2" "--prompt 9" "--decode 9"; do
        run pic-model-bench --score 2x8 --device cpu $o
        fails_with 2 "^pic-model-bench: ${o% *} belongs to the prefill and decode run"
    done
    # an empty list ran nothing and exited 0, as "," did not
    for b in '' 1, ,1 1,,2; do
        run pic-model-bench --batch "$b" --prompt 1 --decode 1
        fails_with 2 "^pic-model-bench: --batch: (empty list|an empty item in '$b')"
    done
    run pic-model-bench --batch 1,x --prompt 1 --decode 1
    fails_with 2 "^pic-model-bench: --batch: "
}

@test "pic-model-bench --batch trims its items, as every list option (pic_option_list)" {
    # '1, 2' was a bad list here while pic-kernel-bench --rows took it
    run pic-model-bench --batch ' 1 , 2' --prompt 2 --decode 1 --threads 1 --config "$M/qwen2-tiny/config.json"
    [ "$status" -eq 0 ]
    [[ "$output" == *"batch   1 x "* ]]
    [[ "$output" == *"batch   2 x "* ]]
}

@test "--score takes --max-batch-tokens as --batch-tokens: same records, whatever the packing" {
    cat "$M/derived/score_qwen2-tiny.jsonl" "$M/derived/score_qwen2-tiny.jsonl" >in
    pic-rollout --score -m "$M/qwen2-tiny" --device cpu --plain -q --batch-tokens 1 in >a
    pic-rollout --score -m "$M/qwen2-tiny" --device cpu --plain -q --max-batch-tokens 1 in >b
    cmp a b
    pic-rollout --score -m "$M/qwen2-tiny" --device cpu --plain -q --max-batch-tokens 100000 in >c
    cmp a c
}

@test "pic-model-bench --score BxT prints exactly one JSON line with the harness's keys" {
    run pic-model-bench --score 3x17 --device cpu --dtype f32 --config "$M/qwen2-tiny/config.json" --threads 1
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    echo "$output" | jq -e '
        (keys_unsorted == ["device","dtype","config","batch","seq","params","tokens","seconds","tokens_per_s",
                           "model_flops","peak_bytes","products"])
        and .products == "fast" and .device == "cpu" and .dtype == "f32" and .batch == 3 and .seq == 17 and .tokens == 51
        and .params == 125504 and .seconds > 0 and .peak_bytes > 0
        and (.tokens_per_s - .tokens / .seconds | fabs) < 1e-6 * .tokens_per_s'
    # qwen2-tiny: C 64, F 176, 4/2 heads of 16, V 512, 2 layers (config.json):
    # per layer 2 N (64 * 128 + 64 * 64 + 2 * 64 * 176 + 176 * 64) + 4 * 16 * 4 * 3 * 17 * 18 / 2
    cfg="$M/qwen2-tiny/config.json"
    want=$(jq -n --slurpfile c "$cfg" '$c[0] as $c | 51 as $n | ($c.hidden_size) as $C | ($c.intermediate_size) as $F
        | ($c.hidden_size / $c.num_attention_heads) as $hd | ($c.num_attention_heads * $hd) as $qd
        | ($c.num_key_value_heads * $hd) as $kvd
        | $c.num_hidden_layers * (2 * $n * ($C * ($qd + 2 * $kvd) + $qd * $C + 2 * $C * $F + $F * $C)
                                  + 4 * $hd * $c.num_attention_heads * 3 * 17 * 18 / 2)
          + 2 * $n * $C * $c.vocab_size')
    [ "$(echo "$output" | jq .model_flops)" = "$want" ] || [ "$(echo "$output" | jq ".model_flops == $want")" = true ]
}

@test "pic-model-bench --exact: the programs' fixed-order products, said in the JSON line; only with --score or --train" {
    cfg="$M/qwen2-tiny/config.json"
    run pic-model-bench --score 3x17 --device cpu --config "$cfg" --threads 1 --exact
    [ "$status" -eq 0 ]
    echo "$output" | jq -e '.products == "exact" and .tokens == 51 and .tokens_per_s > 0'
    run pic-model-bench --train 3x17 --device cpu --config "$cfg" --threads 1 --exact
    [ "$status" -eq 0 ]
    echo "$output" | jq -e '.products == "exact" and .tokens == 51'
    run pic-model-bench --exact
    [ "$status" -eq 2 ]
    [[ "$output" == *"--exact belongs to --score and --train"* ]]
}

# ---- pic-update (issue 11) ------------------------------------------------

U="$FIXTURES/update"
# a safetensors file's JSON header, and the dtypes of its tensors
st_header() { head -c $((8 + $(head -c 8 "$1" | od -An -tu8))) "$1" | tail -c +9; }
dtypes() { st_header "$1" | jq -r '[to_entries[] | select(.key != "__metadata__") | .value.dtype] | unique | join(",")'; }

@test "pic-update --device cpu trains and its stats line says so; auto takes the CPU when no GPU is visible" {
    pic-update -m "$M/qwen2-tiny" -o a --device cpu --dtype f32 --lr 1e-3 --threads 1 -q "$U/qwen2-tiny-step.jsonl" >sa
    [ "$(jq -r .device sa)" = cpu ]
    [ "$(jq -r .dtype sa)" = f32 ]
    [ "$(jq -r .products sa)" = exact ]
    # --fast trades exact on-policy away, and says so (DESIGN.md)
    run pic-update -m "$M/qwen2-tiny" -o f --device cpu --fast --lr 1e-3 --threads 1 "$U/qwen2-tiny-step.jsonl"
    [[ "$output" == *"on cpu (f32, fast)"* ]]
    [ "$(grep '^{' <<<"$output" | jq -r .products)" = fast ]
    run pic-rollout -m "$M/qwen2-tiny" --device cpu --fast --max-new-tokens 2 --plain <<<'{"prompt_ids": [1, 2]}'
    [[ "$output" == *"on cpu (f32, fast)"* ]]
    gpu_visible && skip "a GPU is visible here"
    run pic-update -m "$M/qwen2-tiny" -o b --lr 1e-3 --threads 1 "$U/qwen2-tiny-step.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" == *"to step 1 on cpu (f32)"* ]]
    cmp a/model.safetensors b/model.safetensors
    cmp a/optimizer.safetensors b/optimizer.safetensors
}

@test "pic-update --recompute writes the same checkpoint, bit for bit" {
    for r in "" --recompute; do
        pic-update -m "$M/qwen3-tiny" -o "out$r" --device cpu --lr 1e-2 --micro-tokens 40 --threads 2 -q $r \
            "$U/qwen3-tiny-step.jsonl" >/dev/null
    done
    cmp out/model.safetensors out--recompute/model.safetensors
    cmp out/optimizer.safetensors out--recompute/optimizer.safetensors
}

@test "pic-update --device cuda without a GPU (or without CUDA) is refused: exit 1, no checkpoint" {
    gpu_visible && skip "a GPU is visible here"
    run pic-update -m "$M/qwen2-tiny" -o out --device cuda --threads 1 "$U/qwen2-tiny-step.jsonl"
    fails_with 1 "no CUDA GPU is visible|built without CUDA"
    [ ! -e out ]
}

@test "pic-update: bf16 on the CPU and unknown devices are usage errors" {
    run pic-update -m "$M/qwen2-tiny" -o out --device cpu --dtype bf16 "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "--dtype bf16: the CPU computes in f32 only"
    run pic-update -m "$M/qwen2-tiny" -o out --device tpu "$U/qwen2-tiny-step.jsonl"
    fails_with 2 "--device: 'tpu' is not one of the choices"
    [ ! -e out ]
}

@test "pic-update keeps a bf16 checkpoint bf16, with fp32 master weights that make resuming exact" {
    # qwen3-tiny is stored in bf16: two invocations vs one of two mini-batches
    { cat "$U/qwen3-tiny-step.jsonl"; sed 's/"golden-/"again-/' "$U/qwen3-tiny-step.jsonl"; } >six.jsonl
    n=$(wc -l <"$U/qwen3-tiny-step.jsonl")
    head -"$n" six.jsonl >a.jsonl
    tail -"$n" six.jsonl >b.jsonl
    S=(--lr 1e-2 --threads 1 -q)
    pic-update -m "$M/qwen3-tiny" -o s1 "${S[@]}" a.jsonl >/dev/null
    [ "$(dtypes s1/model.safetensors)" = BF16 ]
    st_header s1/optimizer.safetensors | jq -e 'has("master.model.embed_tokens.weight")'
    pic-update -m s1 -o s2 "${S[@]}" b.jsonl >/dev/null
    pic-update -m "$M/qwen3-tiny" -o u "${S[@]}" --mini-batches 2 six.jsonl >/dev/null
    cmp s2/model.safetensors u/model.safetensors
    cmp s2/optimizer.safetensors u/optimizer.safetensors
    # master weights for some parameters only: the file is refused whole
    cp -r s1 part
    st_edit part/optimizer.safetensors \
        'with_entries(if .key == "master.model.norm.weight" then .key = "other.model.norm.weight" else . end)'
    run pic-update -m part -o p2 "${S[@]}" b.jsonl
    fails_with 1 "^pic-update: part/optimizer.safetensors: master weights for [0-9]+ of the [0-9]+ parameters: a file has all of them or none"
    [ ! -e p2 ]
    # another checkpoint's state beside these weights (s2's copied into
    # s1): its master weights are not the weights' source, and training
    # from them dropped the directory's weights, silently
    cp -r s1 mixed
    cp s2/optimizer.safetensors mixed/
    run pic-update -m mixed -o m2 "${S[@]}" b.jsonl
    fails_with 1 "^pic-update: mixed/optimizer.safetensors: tensor 'master\.[a-z_.0-9]+': element [0-9]+ is .*, which is not the checkpoint's weight .* \(mixed/model.safetensors, tensor '.*'\) rounded to BF16: the optimizer state of other weights"
    [ ! -e m2 ]
    pic-update -m mixed -o m2 "${S[@]}" --reset-optimizer b.jsonl >/dev/null
    # an f32 checkpoint stays f32, and is its own master copy
    pic-update -m "$M/qwen2-tiny" -o f1 "${S[@]}" "$U/qwen2-tiny-step.jsonl" >/dev/null
    [ "$(dtypes f1/model.safetensors)" = F32 ]
    st_header f1/optimizer.safetensors | jq -e 'has("master.model.embed_tokens.weight") | not'
}

@test "pic-update keeps an f16 checkpoint f16 (Llama 2's dtype), with fp32 master weights, as transformers keeps it" {
    # qwen2-tiny's f32 weights as F16 (float16 has the range and 11 bits for them)
    cp -r "$M/qwen2-tiny" h && chmod -R u+w h
    python3 - h/model.safetensors <<'EOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h, data, out, at = json.loads(b[8:8 + n]), b[8 + n:], b'', 0
for k, v in h.items():
    if k == '__metadata__': continue
    lo, hi = v['data_offsets']
    x = struct.unpack('<%df' % ((hi - lo) // 4), data[lo:hi])
    raw = struct.pack('<%de' % len(x), *x)
    v.update(dtype='F16', data_offsets=[at, at + len(raw)])
    out, at = out + raw, at + len(raw)
s = json.dumps(h).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(s)) + s + out)
EOF
    jq '.torch_dtype = "float16"' "$M/qwen2-tiny/config.json" >h/config.json
    S=(--lr 1e-2 --threads 1 -q)
    pic-update -m h -o h1 "${S[@]}" "$U/qwen2-tiny-step.jsonl" >/dev/null
    [ "$(dtypes h1/model.safetensors)" = F16 ]
    st_header h1/optimizer.safetensors | jq -e 'has("master.model.embed_tokens.weight")'
    # the master weights, not the rounded weights, are what a resumed run starts from
    pic-update -m h1 -o h2 "${S[@]}" "$U/qwen2-tiny-step.jsonl" >/dev/null
    [ "$(dtypes h2/model.safetensors)" = F16 ]
    printf '{"prompt_ids":[1,2,3],"response_ids":[4,5,6]}\n' >in.jsonl
    pic-rollout --score -m h2 --plain in.jsonl | jq -e '.logprobs | length == 3'
}

@test "pic-model-bench --train BxT: one training step, the same JSON keys, three times the forward's FLOPs" {
    cfg="$M/qwen2-tiny/config.json"
    s=$(pic-model-bench --score 3x17 --device cpu --config "$cfg" --threads 1)
    run pic-model-bench --train 3x17 --device cpu --config "$cfg" --threads 1
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    echo "$output" | jq -e --argjson s "$s" '(keys_unsorted == ($s | keys_unsorted)) and .tokens == 51
        and .model_flops == 3 * $s.model_flops and .seconds > 0'
    run pic-model-bench --train 3x17 --device cuda --config "$cfg"
    gpu_visible || fails_with 1 "no CUDA GPU is visible|built without CUDA"
    run pic-model-bench --train 3 --device cpu
    fails_with 2 "--train: expected BxT"
}
