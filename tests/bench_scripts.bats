#!/usr/bin/env bats
# The CPU benchmarks' scripts (bench/*.sh): what their summary lines say
# about the run they made. No figure is judged here (a timed test proves
# nothing on a shared machine); the shapes, labels and peers are.
load helpers
bats_require_minimum_version 1.5.0

# fake_torch DIR: a python that "has torch" and prints the PyTorch peer's
# lines with known figures, and a peer file for it to run
fake_torch() {
    mkdir -p "$1/peers"
    : > "$1/peers/cpu_peer_torch.py"
    cat > "$1/python3" <<'PY'
#!/bin/sh
[ "$1" = -c ] && exit 0
echo "torch train: 9.35M params, $2 threads: 300 response tokens/s (400 tokens/s forward+backward), 1.00 s/step"
echo "torch decode batch   1 x 128: 7 tokens/s"
PY
    chmod +x "$1/python3"
    export PIC_PEERS=$1/peers PIC_TORCH_PYTHON=$1/python3
}

@test "bench/update.sh: the summary line names the step's shape as run, not the default's" {
    cfg=$FIXTURES/models/qwen2-tiny/config.json
    run "$PIC_ROOT/bench/update.sh" --config "$cfg" --seqs 2 --prompt 4 --response 6 --steps 1 --threads 1
    [ "$status" -eq 0 ]
    # before: "train step 16 x 256" whatever ran
    [[ "${lines[1]}" == "train step 2 x 10: "* ]]
    [ "$(jq .tokens_per_step <<<"${lines[0]}")" -eq 20 ]
}

@test "bench/update.sh: PyTorch's figure only beside the peer's own step (16 x 256, the 9.35M model)" {
    fake_torch "$T/peer"
    # another model and shape: the peer's 16 x 256 on 9.35M is no peer of it
    run "$PIC_ROOT/bench/update.sh" --config "$FIXTURES/models/qwen2-tiny/config.json" --seqs 2 --prompt 4 \
        --response 4 --steps 1 --threads 1
    [ "$status" -eq 0 ]
    [[ "${lines[1]}" != *PyTorch* ]]
    # the default model and shape (one step): beside it
    run "$PIC_ROOT/bench/update.sh" --steps 1 --threads 1
    [ "$status" -eq 0 ]
    [[ "${lines[1]}" == "train step 16 x 256: "*" | PyTorch 400 tokens/s (pic / PyTorch "* ]]
}

@test "bench/torch_peer.sh: without torch or the peer file it says it skipped, on standard error, and exits 0" {
    printf '#!/bin/sh\nexit 1\n' > nopy && chmod +x nopy # a python without torch
    fake_torch "$T/peer"
    PIC_TORCH_PYTHON=$T/nopy run --separate-stderr "$PIC_ROOT/bench/torch_peer.sh" 2
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [[ "$stderr" == *"has no torch"*"PyTorch peer skipped"* ]]
    PIC_PEERS=$T/none run --separate-stderr "$PIC_ROOT/bench/torch_peer.sh" 2
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [[ "$stderr" == *"none/cpu_peer_torch.py: PyTorch peer skipped"* ]]
    # with both: the peer's lines, nothing said
    run --separate-stderr "$PIC_ROOT/bench/torch_peer.sh" 2
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "torch train: 9.35M params, 2 threads: "* ]]
    [ -z "$stderr" ]
}
