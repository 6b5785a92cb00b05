#!/usr/bin/env python3
"""PyTorch autocast's bf16 gradient error on the golden fixtures: what pic's
bf16 gradients are held to (tests/gpu/run.sh, docs/gpu-checks.md).

    torch_grads.py [--device cuda] FIXTURES_MODELS_DIR MODEL...
    torch_grads.py --check-losses FIXTURES_MODELS_DIR MODEL...

Each model is loaded by transformers in fp32 (the master weights, as a
PyTorch trainer keeps them) and each of golden.json's losses (pg, entropic,
entropic_all, sft: pg_spec's definition, implemented in losses() below) is
computed on the golden sequences under torch.autocast(bfloat16) -- the matrix
products in bf16, the log-softmax of logits.float() in fp32 -- and
backpropagated. For each model and loss it prints the worst per-tensor
norm-wise relative error of the gradient against golden.safetensors'
grad.<loss>.* (the metric test_backward prints for pic as '# bf16 MODEL
grad.LOSS rel_err X') as an error line of golden.py's form:

    torch<TAB>MODEL<TAB>grad.LOSS<TAB>worst<TAB>worst<TAB>tensors

--check-losses needs neither a model nor transformers: it evaluates the four
losses on golden's own fp32 log-probs and prints them beside golden.json's
values, failing beyond 1e-5 relative; it is how this file's loss definitions
were checked on a machine without a GPU."""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402

KINDS = ("pg", "entropic", "entropic_all", "sft")


def spec_of(model_dir):
    with open(os.path.join(model_dir, "golden.json")) as f:
        g = json.load(f)
    return g, g["pg_spec"]


def losses(kind, logp, old, spec):
    """golden.json's loss KIND over the batch: logp[b] the log-probs of
    sequence b's response tokens (at pg_spec's temperature, at 1 for sft),
    old[b] golden's old log-probs of the same tokens."""
    n = sum(x.numel() for x in logp)
    if kind == "sft":
        return -torch.cat(logp).sum() / n
    log_tau = math.log(spec["tau"])
    pg_sum, adj_sum, masked = 0.0, 0.0, 0
    for lp, lo, A in zip(logp, old, spec["advantages"]):
        ratio = torch.exp(lp - lo)
        clipped = torch.clamp(ratio, 1 - spec["clip_low"], 1 + spec["clip_high"])
        pg = torch.maximum(-A * ratio, -A * clipped)
        if A < 0:
            pg = torch.minimum(pg, torch.full_like(pg, -A * spec["clip_ratio_c"]))
        mask = (lp.detach() > log_tau).to(lp.dtype)  # no gradient through the mask
        pg_sum = pg_sum + pg.sum()
        adj_sum = adj_sum + (-mask * ratio * abs(A)).sum()
        masked += int(mask.sum().item())
    if kind == "pg":
        return pg_sum / n
    if kind == "entropic":
        return pg_sum / n + spec["alpha"] * adj_sum / (masked + 1e-8)
    return pg_sum / n + spec["alpha"] * adj_sum / n


def response_logp(logits, seq, prompt_len, T):
    """log_softmax(logits[t-1] / T)[seq[t]] for the response tokens t >= prompt_len"""
    lp = torch.log_softmax(logits.float() / T, dim=-1)
    t = torch.arange(prompt_len, len(seq), device=logits.device)
    return lp[t - 1, torch.tensor(seq, device=logits.device)[t]]


def check_losses(model_dir):
    g, spec = spec_of(model_dir)
    ids = g["ids"]
    t = golden.read_safetensors(os.path.join(model_dir, "golden.safetensors"),
                                lambda k: k.startswith(("logprobs.", "old_logprobs.")))
    bad = 0
    for kind in KINDS:
        tag = "t1" if kind == "sft" else "t0.6"
        logp, old = [], []
        for b, seq in enumerate(ids):
            p = spec["prompt_len"][b]
            full = torch.tensor(t[f"logprobs.{tag}.{b}"][1], dtype=torch.float64)  # token j + 1's
            logp.append(full[p - 1:len(seq) - 1])
            old.append(torch.tensor(t[f"old_logprobs.{b}"][1], dtype=torch.float64))
        got, want = losses(kind, logp, old, spec).item(), g[f"loss.{kind}"]
        ok = abs(got - want) <= 1e-5 * max(abs(want), 1e-3)
        bad += not ok
        print(f"# {os.path.basename(model_dir)} loss.{kind}: {got:.9g} golden {want:.9g} {'ok' if ok else 'DIFFERS'}")
    return bad


def autocast_errors(model_dir, device):
    from transformers import AutoModelForCausalLM

    g, spec = spec_of(model_dir)
    ids = g["ids"]
    want = golden.read_safetensors(os.path.join(model_dir, "golden.safetensors"),
                                   lambda k: k.startswith(("grad.", "old_logprobs.")))
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    except TypeError:  # transformers before 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                     attn_implementation="sdpa")
    model = model.to(device).eval()
    old = [torch.tensor(want[f"old_logprobs.{b}"][1], device=device) for b in range(len(ids))]
    out = {}
    for kind in KINDS:
        T = 1.0 if kind == "sft" else spec["temperature"]
        model.zero_grad(set_to_none=True)
        logp = []
        for b, seq in enumerate(ids):
            with torch.autocast(device_type=device, dtype=torch.bfloat16):
                logits = model(torch.tensor([seq], device=device)).logits[0]
            logp.append(response_logp(logits, seq, spec["prompt_len"][b], T))
        losses(kind, logp, old, spec).backward()
        worst, n = 0.0, 0
        for key, (shape, values) in want.items():
            if not key.startswith(f"grad.{kind}."):
                continue
            grad = model.get_parameter(key[len(f"grad.{kind}."):]).grad
            ref = torch.tensor(values, device=device, dtype=torch.float64)
            got = grad.double().flatten() if grad is not None else torch.full_like(ref, math.nan)
            den = ref.pow(2).sum().item()
            r = math.sqrt((got - ref).pow(2).sum().item() / (den if den > 0 else 1e-30))
            worst = r if not math.isfinite(r) or r > worst else worst
            n += 1
        out[f"grad.{kind}"] = (worst, n)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--check-losses", action="store_true")
    ap.add_argument("models_dir")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    if a.check_losses:
        return 1 if sum(check_losses(os.path.join(a.models_dir, m)) for m in a.models) else 0
    import transformers

    print(f"# torch {torch.__version__} transformers {transformers.__version__} device "
          f"{torch.cuda.get_device_name() if a.device == 'cuda' else a.device}; bf16 autocast, fp32 master",
          flush=True)
    for name in a.models:
        for quantity, (worst, n) in sorted(autocast_errors(os.path.join(a.models_dir, name), a.device).items()):
            print(f"torch\t{name}\t{quantity}\t{worst:.6g}\t{worst:.6g}\t{n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
