#!/usr/bin/env python3
"""PyTorch's own bf16 error on the golden fixtures: what pic's bf16 path is
held to (tests/gpu/run.sh, docs/gpu-checks.md).

    torch_bf16.py [--device cuda] FIXTURES_MODELS_DIR MODEL...

Each model is loaded by transformers in bf16 (from_pretrained with
dtype=bfloat16, sdpa attention) and run on the golden sequences; its logits,
taken to fp32 as a PyTorch user would (logits.float()), give log-softmax and
entropy at T = 1 and 0.6 in fp32. Prints the errors against golden.safetensors
(transformers in fp32) as golden.py's error lines, labelled 'torch':
logits over every position and vocabulary entry, log-probs of tokens 1..L-1
and entropies at positions 0..L-2 per temperature (logprobs.t1, entropy.t0.6,
...: the positions pic-rollout --score scores), and under test_model's names
both temperatures pooled (logprobs; entropy at every position) and
packed_logits (the same logits: PyTorch runs each sequence alone).
'stories260K' means stories260K/hf against its 64 x 512 transformers logits
(logits) and run.c's (logits_vs_runc)."""
import argparse
import math
import os
import struct
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402


def load(model_dir, device):
    try:
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="sdpa")
    except TypeError:  # transformers before 4.56 names it torch_dtype
        m = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    if m.dtype != torch.bfloat16:
        raise SystemExit(f"{model_dir}: loaded as {m.dtype}, not bfloat16")
    return m.to(device).eval()


def logits_of(model, ids, device):
    with torch.inference_mode():
        return model(torch.tensor([ids], device=device)).logits[0].float()


def err(got, want):
    """(max |error|, rms error, n) in float64; a non-finite value makes both infinite"""
    d = (got.double() - want.double()).abs()
    if not torch.isfinite(d).all():
        return math.inf, math.inf, d.numel()
    return d.max().item(), d.pow(2).mean().sqrt().item(), d.numel()


def pooled(parts):
    """(max, rms, n) of several err() results together"""
    n = sum(p[2] for p in parts)
    return max(p[0] for p in parts), math.sqrt(sum(p[1] ** 2 * p[2] for p in parts) / n), n


def tiny(model_dir, device):
    ids, g = golden.golden(model_dir)
    model = load(model_dir, device)
    acc = {}
    for i, seq in enumerate(ids):
        z = logits_of(model, seq, device)
        ref = torch.tensor(g[f"logits.{i}"][1], device=device).view(z.shape)
        acc.setdefault("logits", []).append(err(z, ref))
        acc.setdefault("packed_logits", []).append(acc["logits"][-1])
        nxt = torch.tensor(seq[1:], device=device)
        for T, tag in golden.TEMPS:
            lp = torch.log_softmax(z / T, dim=-1)
            lpt = lp[:-1].gather(1, nxt[:, None])[:, 0]
            ent = -(lp.exp() * lp).sum(-1)
            want_lp = torch.tensor(g[f"logprobs.{tag}.{i}"][1], device=device)
            want_ent = torch.tensor(g[f"entropy.{tag}.{i}"][1], device=device)
            acc.setdefault("logprobs." + tag, []).append(err(lpt, want_lp))
            acc.setdefault("entropy." + tag, []).append(err(ent[:-1], want_ent[:-1]))
            # test_model's pooled names: both temperatures, entropy at every position
            acc.setdefault("logprobs", []).append(err(lpt, want_lp))
            acc.setdefault("entropy", []).append(err(ent, want_ent))
    return {q: pooled(parts) for q, parts in acc.items()}


def stories(root, device):
    with open(os.path.join(root, "expected_greedy_ids.txt")) as f:
        ids = [int(x) for x in f.read().split()][:64]

    def f32(path):
        with open(os.path.join(root, path), "rb") as f:
            raw = f.read()
        return torch.tensor(struct.unpack(f"<{len(raw) // 4}f", raw), device=device).view(64, -1)

    z = logits_of(load(os.path.join(root, "hf"), device), ids, device)
    return {"logits": err(z, f32("hf/hf_logits_cpu_64x512.f32")),
            "logits_vs_runc": err(z, f32("reference_logits_runc_64x512.f32"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("models_dir")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    print(f"# torch {torch.__version__} transformers {transformers.__version__} device "
          f"{torch.cuda.get_device_name() if a.device == 'cuda' else a.device}", flush=True)
    for name in a.models:
        path = os.path.join(a.models_dir, name)
        result = stories(path, a.device) if name == "stories260K" else tiny(path, a.device)
        for quantity, (mx, rms, n) in sorted(result.items()):
            print(f"torch\t{name}\t{quantity}\t{mx:.6g}\t{rms:.6g}\t{n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
