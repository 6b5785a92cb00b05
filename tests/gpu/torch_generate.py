#!/usr/bin/env python3
"""The PyTorch side of bench/gpu_generate.sh, one JSON line per call: output
tokens/s of sampling B sequences of --new tokens after --prompt random
prompt tokens at temperature T, with random bf16 weights of CONFIG's
architecture. The time covers prefill and decode (as pic-rollout's does).

    torch_generate.py hf CONFIG --batch B [--prompt 128] [--new 256] [--temperature 0.6]
        transformers' generate (do_sample, top_k 0, top_p 1, min_new_tokens =
        max_new_tokens so every sequence runs to the end; sdpa attention;
        transformers' default dynamic cache)
    torch_generate.py graph CONFIG --batch B [...]
        a hand-written Qwen2 decode loop: a static KV cache [L, B, kv, P + N,
        hd], the prompt prefilled in one causal pass, each decode step (all
        layers, lm_head, Gumbel-max sampling at T on the device) captured
        once in a CUDA graph and replayed; the fastest simple PyTorch loop,
        the bar a dedicated engine must clear"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import build  # noqa: E402


def hf(a):
    model, cfg = build(a.config, "cuda")
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (a.batch, a.prompt), device="cuda", generator=g)
    kw = dict(do_sample=True, temperature=a.temperature, top_k=0, top_p=1.0, pad_token_id=0,
              attention_mask=torch.ones_like(ids))
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=4, min_new_tokens=4, **kw)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=a.new, min_new_tokens=a.new, **kw)
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
    n = (out.shape[1] - a.prompt) * a.batch
    return {"impl": "transformers", "seconds": t, "tokens": n, "tokens_per_s": n / t}


class Loop:
    """Qwen2 (q/k/v biases, tied or untied head) over a static cache."""

    def __init__(self, cfg, B, S):
        d, self.H = cfg["hidden_size"], cfg["num_attention_heads"]
        self.KV, self.D = cfg.get("num_key_value_heads", self.H), d // self.H
        self.L, I, V = cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        g = torch.Generator(device="cuda").manual_seed(0)

        def w(*shape):
            return (torch.randn(*shape, device="cuda", generator=g) * 0.02).to(torch.bfloat16)

        qkv = (self.H + 2 * self.KV) * self.D
        self.emb = w(V, d)
        self.head = self.emb if cfg.get("tie_word_embeddings", False) else w(V, d)
        self.layers = [dict(wqkv=w(qkv, d), bqkv=w(qkv), wo=w(d, self.H * self.D), wgu=w(2 * I, d), wd=w(d, I))
                       for _ in range(self.L)]
        self.weight_bytes = 2 * (sum(t.numel() for p in self.layers for t in p.values()) + self.head.numel())
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, self.D, 2, device="cuda").float() / self.D))
        ang = torch.arange(S, device="cuda").float()[:, None] * inv[None]
        self.cos, self.sin = ang.cos(), ang.sin()
        self.k = torch.zeros(self.L, B, self.KV, S, self.D, device="cuda", dtype=torch.bfloat16)
        self.v = torch.zeros_like(self.k)
        self.S = S

    def norm(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(torch.bfloat16)

    def rope(self, x, pos):  # x [B, h, T, D], pos [T]
        c, s = self.cos[pos], self.sin[pos]
        x1, x2 = x[..., : self.D // 2].float(), x[..., self.D // 2:].float()
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1).to(torch.bfloat16)

    def forward(self, tok, pos, mask):
        """tok [B, T], pos [T] (positions), mask [T, S] bool: logits of the last token, float"""
        B, T = tok.shape
        x = self.emb[tok]
        H, KV, D = self.H, self.KV, self.D
        for l, p in enumerate(self.layers):
            qkv = F.linear(self.norm(x), p["wqkv"], p["bqkv"])
            q = qkv[..., : H * D].view(B, T, H, D).transpose(1, 2)
            k = qkv[..., H * D:(H + KV) * D].view(B, T, KV, D).transpose(1, 2)
            v = qkv[..., (H + KV) * D:].view(B, T, KV, D).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.k[l].index_copy_(2, pos, k)
            self.v[l].index_copy_(2, pos, v)
            # each kv head's G query heads as one head of G T rows (head h
            # reads kv head h // G, as HF's repeat_kv): SDPA's memory-efficient
            # kernel takes an explicit mask but not enable_gqa, and without it
            # a GQA call with a mask may fall back to the math kernel
            G = H // KV
            qg = q.reshape(B, KV, G * T, D)
            a = F.scaled_dot_product_attention(qg, self.k[l], self.v[l], attn_mask=mask.repeat(G, 1)[None, None])
            a = a.view(B, H, T, D)
            x = x + F.linear(a.transpose(1, 2).reshape(B, T, H * D), p["wo"])
            gate, up = F.linear(self.norm(x), p["wgu"]).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, p["wd"])
        return F.linear(self.norm(x[:, -1]), self.head).float()


def graph(a):
    with open(a.config) as f:
        cfg = json.load(f)
    B, P, N = a.batch, a.prompt, a.new
    S = P + N
    m = Loop(cfg, B, S)
    g = torch.Generator(device="cuda").manual_seed(1)
    prompt = torch.randint(0, cfg["vocab_size"], (B, P), device="cuda", generator=g)
    ar = torch.arange(S, device="cuda")
    tok = torch.zeros(B, 1, dtype=torch.long, device="cuda")
    pos = torch.zeros(1, dtype=torch.long, device="cuda")

    def sample(z):  # Gumbel-max at T: a draw from softmax(z / T)
        u = torch.rand(z.shape, device="cuda").clamp_(1e-20, 1.0)
        return (z / a.temperature - torch.log(-torch.log(u))).argmax(-1, keepdim=True)

    def step():
        tok.copy_(sample(m.forward(tok, pos, ar[None] <= pos[:, None])))
        pos.add_(1)

    def prefill():
        p = ar[:P]
        tok.copy_(sample(m.forward(prompt, p, ar[None] <= p[:, None])))
        pos.fill_(P)

    with torch.inference_mode():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            prefill()
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(s)
        gr = torch.cuda.CUDAGraph()
        with torch.cuda.graph(gr):
            step()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        prefill()
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        for _ in range(N - 1):  # the first new token came from the prefill
            gr.replay()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
    return {"impl": "torch-graph", "seconds": t2 - t0, "prefill_seconds": t1 - t0, "tokens": B * N,
            "tokens_per_s": B * N / (t2 - t0), "decode_ms_per_step": 1e3 * (t2 - t1) / (N - 1),
            "weight_bytes": m.weight_bytes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("hf", "graph"))
    ap.add_argument("config")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--temperature", type=float, default=0.6)
    a = ap.parse_args()
    info = {"config": os.path.basename(a.config), "batch": a.batch, "prompt": a.prompt, "new": a.new,
            "temperature": a.temperature, "torch": torch.__version__}
    try:
        info.update(hf(a) if a.what == "hf" else graph(a))
    except torch.cuda.OutOfMemoryError as e:
        info["error"] = "out of memory: " + str(e).split("\n")[0][:200]
    print(json.dumps(info))
    return 0 if "error" not in info else 1


if __name__ == "__main__":
    sys.exit(main())
