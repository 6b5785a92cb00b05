#!/usr/bin/env python3
"""The PyTorch side of bench/gpu_score.sh, one JSON line per call.

    torch_bench.py matmul [--n N] [--device cuda]
        the bf16 dense matrix rate (torch.matmul of N x N random normal bf16
        matrices, fp32 accumulation as cuBLAS does it; TFLOP/s from the median
        of timed runs after warm-up) and the device-to-device copy rate (TB/s,
        bytes read plus bytes written), the two ceilings of METHOD.md
    torch_bench.py score CONFIG [--batch 16] [--seq 2048] [--temperature 1] [--device cuda]
        transformers' scoring throughput: a model of CONFIG's architecture with
        random weights (transformers' own init, built on the device in bf16,
        sdpa attention), then for every sequence the fp32 log-softmax of its
        logits at T, the log-prob of each next token and the entropy at each
        position, under torch.inference_mode. Tokens/s from the median step
        time, peak memory from torch.cuda.max_memory_allocated (weights
        included).
    torch_bench.py train CONFIG [--batch 8] [--seq 2048] [--device cuda]
        one training step as trainers run it (bench/gpu_train.sh): fp32 master
        weights, the forward and backward under bf16 autocast, the mean NLL of
        every next token, fused AdamW; the fp32 log-softmax a sequence at a
        time (as score does, so its logits' memory is not the whole batch's);
        median step time, peak memory. model_flops: 3 x the forward's.

The log-softmax runs one sequence at a time: all 16 x 2048 rows of a 151936
vocabulary in fp32 would be 20 GB per temporary, a cost no careful PyTorch
user pays; the model's own bf16 logits (10 GB for 16 x 2048) are kept, as
transformers returns them."""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flops  # noqa: E402


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, min_reps=3, max_reps=10, min_seconds=2.0):
    """median seconds of fn() over min_reps..max_reps runs (until min_seconds in all)"""
    times = []
    while len(times) < min_reps or (len(times) < max_reps and sum(times) < min_seconds):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def matmul(a):
    n = a.n
    g = torch.Generator(device=a.device).manual_seed(0)
    x = torch.randn(n, n, device=a.device, dtype=torch.bfloat16, generator=g)
    y = torch.randn(n, n, device=a.device, dtype=torch.bfloat16, generator=g)
    out = torch.empty(n, n, device=a.device, dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(x, y, out=out)
    reps = 10

    def products():
        for _ in range(reps):
            torch.matmul(x, y, out=out)

    t, _ = timed(products, a.device, min_reps=3, max_reps=5, min_seconds=0)
    rate = 2.0 * n ** 3 * reps / t
    # the copy: a buffer several times the L2, bytes read plus bytes written
    src = torch.randn(a.copy_mib * 2 ** 18, device=a.device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    tc, _ = timed(lambda: dst.copy_(src), a.device, min_reps=5, max_reps=20, min_seconds=0.5)
    print(json.dumps({"what": "matmul", "device": device_name(a.device), "n": n, "dtype": "bf16",
                      "seconds": t / reps, "tflops": rate / 1e12,
                      "copy_bytes": 2 * src.numel() * 4, "copy_tbps": 2 * src.numel() * 4 / tc / 1e12,
                      "torch": torch.__version__}))
    return 0


def build(config_path, device):
    from transformers import AutoConfig, AutoModelForCausalLM
    with open(config_path) as f:
        d = json.load(f)
    cfg = AutoConfig.for_model(d.pop("model_type"), **d)
    torch.manual_seed(0)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    finally:
        torch.set_default_dtype(before)
    if model.dtype != torch.bfloat16:
        model = model.to(torch.bfloat16)
    return model.eval(), d


def score(a):
    import transformers
    name = os.path.basename(a.config)
    info = {"what": "score", "impl": "transformers", "config": name, "batch": a.batch, "seq": a.seq,
            "tokens": a.batch * a.seq, "temperature": a.temperature, "attn": "sdpa", "dtype": "bf16",
            "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        model, cfg = build(a.config, a.device)
        if a.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        ids = torch.randint(0, cfg["vocab_size"], (a.batch, a.seq), device=a.device,
                            generator=torch.Generator(device=a.device).manual_seed(1))

        def step():
            with torch.inference_mode():
                logits = model(ids, use_cache=False).logits
                lps, ents = [], []
                for b in range(a.batch):
                    z = logits[b, :-1].float()
                    if a.temperature != 1.0:
                        z = z / a.temperature
                    lp = torch.log_softmax(z, dim=-1)
                    lps.append(lp.gather(1, ids[b, 1:, None])[:, 0])
                    ents.append(-(lp.exp() * lp).sum(-1))
                return torch.stack(lps), torch.stack(ents)

        lp, ent = step()  # warm-up: kernels chosen, memory pools grown
        if not (torch.isfinite(lp).all() and torch.isfinite(ent).all()):
            raise RuntimeError("non-finite log-probs or entropies")
        t, times = timed(step, a.device)
        mm, att = flops.flops_per_token(cfg, a.seq)
        info.update(params=sum(p.numel() for p in model.parameters()), seconds=t, step_seconds=times,
                    tokens_per_s=a.batch * a.seq / t, model_flops=(mm + att) * a.batch * a.seq,
                    peak_bytes=torch.cuda.max_memory_allocated() if a.device == "cuda" else None)
    except torch.cuda.OutOfMemoryError as e:
        info["error"] = "out of memory: " + str(e).split("\n")[0][:200]
    print(json.dumps(info))
    return 0 if "error" not in info else 1


def train(a):
    import transformers
    name = os.path.basename(a.config)
    info = {"what": "train", "impl": "transformers", "config": name, "batch": a.batch, "seq": a.seq,
            "tokens": a.batch * a.seq, "attn": "sdpa", "dtype": "bf16 autocast, fp32 master, fused AdamW",
            "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        model, cfg = build(a.config, a.device)
        model = model.float().train()  # the fp32 master weights autocast reads
        opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=a.device == "cuda")
        if a.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        ids = torch.randint(0, cfg["vocab_size"], (a.batch, a.seq), device=a.device,
                            generator=torch.Generator(device=a.device).manual_seed(1))

        def step():
            with torch.autocast(a.device, dtype=torch.bfloat16):
                hidden = model.model(ids, use_cache=False).last_hidden_state
                loss = 0
                for b in range(a.batch):  # a sequence's fp32 logits at a time
                    lp = torch.log_softmax(model.lm_head(hidden[b, :-1]).float(), dim=-1)
                    loss = loss - lp.gather(1, ids[b, 1:, None]).sum()
                loss = loss / (a.batch * (a.seq - 1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

        if not torch.isfinite(step()):  # warm-up: kernels chosen, optimizer state made
            raise RuntimeError("non-finite loss")
        t, times = timed(step, a.device, min_reps=3, max_reps=5, min_seconds=2.0)
        mm, att = flops.flops_per_token(cfg, a.seq)
        info.update(params=sum(p.numel() for p in model.parameters()), seconds=t, step_seconds=times,
                    tokens_per_s=a.batch * a.seq / t, model_flops=3 * (mm + att) * a.batch * a.seq,
                    peak_bytes=torch.cuda.max_memory_allocated() if a.device == "cuda" else None)
    except torch.cuda.OutOfMemoryError as e:
        info["error"] = "out of memory: " + str(e).split("\n")[0][:200]
    print(json.dumps(info))
    return 0 if "error" not in info else 1


def device_name(device):
    return torch.cuda.get_device_name() if device == "cuda" else device


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("matmul")
    m.add_argument("--n", type=int, default=8192)
    m.add_argument("--copy-mib", type=int, default=4096, help="size of the copied buffer (MiB)")
    m.add_argument("--device", default="cuda")
    s = sub.add_parser("score")
    s.add_argument("config")
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--seq", type=int, default=2048)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--device", default="cuda")
    t = sub.add_parser("train")
    t.add_argument("config")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--seq", type=int, default=2048)
    t.add_argument("--device", default="cuda")
    a = ap.parse_args()
    return {"matmul": matmul, "score": score, "train": train}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
