#!/usr/bin/env python3
"""Forward FLOPs and bytes of scoring one packed batch with a Qwen2/Llama-style
model, from its config.json (standard library only).

    flops.py [--seq T] [--batch B] [--rate TFLOPS] [--bandwidth TBPS] CONFIG...

prints, per config, the matrix-product FLOPs per token (2 x every weight that
multiplies an activation: q/k/v/o, gate/up/down, the lm_head; the embedding is
a lookup), the attention FLOPs per token of causal attention at length T
(QK^T and PV: 4 x head_dim per query-key pair and head, (T+1)/2 pairs per query
on average), and the floor that the bf16 matrix rate and the memory bandwidth
put under one batch. docs/gpu-checks.md quotes its table."""
import argparse
import json
import sys


def shape(cfg):
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    hd = cfg.get("head_dim") or d // heads
    return dict(d=d, L=cfg["num_hidden_layers"], F=cfg["intermediate_size"], H=heads, KV=kv, hd=hd,
                V=cfg["vocab_size"], tied=bool(cfg.get("tie_word_embeddings", False)))


def params(cfg):
    """(weights that multiply activations, all parameters)"""
    s = shape(cfg)
    d, q, k = s["d"], s["H"] * s["hd"], s["KV"] * s["hd"]
    bias = q + 2 * k if cfg.get("model_type") == "qwen2" else 0
    layer = d * q + 2 * d * k + q * d + 3 * d * s["F"]
    norms = 2 * d
    matmul = s["L"] * layer + s["V"] * d
    total = s["L"] * (layer + bias + norms) + d + s["V"] * d * (1 if s["tied"] else 2)
    return matmul, total


def flops_per_token(cfg, seq):
    """(matrix-product FLOPs, attention FLOPs) per token of a causal pass of length seq"""
    s = shape(cfg)
    matmul, _ = params(cfg)
    attention = s["L"] * 4 * s["H"] * s["hd"] * (seq + 1) / 2
    return 2 * matmul, attention


def activation_bytes_per_token(cfg):
    """bf16 bytes one unfused layer stack reads and writes per token: per layer the
    residual read and written twice, the normed input read three times (q/k/v,
    gate/up), q/k/v and the attention output written and read, gate/up written,
    read and the product written and read; an estimate of the traffic a fused
    implementation avoids, not a floor."""
    s = shape(cfg)
    q, k = s["H"] * s["hd"], s["KV"] * s["hd"]
    per_layer = 4 * s["d"] + 2 * s["d"] + 2 * (q + 2 * k) + 2 * q + 2 * s["d"] + 3 * 2 * s["F"]
    return 2 * s["L"] * per_layer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rate", type=float, default=790.0, help="bf16 matrix rate, TFLOP/s (measured: 769-798 on an H200)")
    ap.add_argument("--bandwidth", type=float, default=4.3, help="device memory, TB/s (measured copy: 4.3 on an H200)")
    ap.add_argument("configs", nargs="+")
    a = ap.parse_args()
    tokens = a.batch * a.seq
    print("| config | params | matmul GFLOP/token | attention GFLOP/token | total GFLOP/token | TFLOP per batch "
          "| compute floor ms | weight bytes ms | unfused activations ms | floor tokens/s | 50% goal tokens/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in a.configs:
        with open(path) as f:
            cfg = json.load(f)
        mm, att = flops_per_token(cfg, a.seq)
        _, total = params(cfg)
        per_batch = (mm + att) * tokens
        t_compute = per_batch / (a.rate * 1e12)
        t_weights = 2 * total / (a.bandwidth * 1e12)
        t_acts = activation_bytes_per_token(cfg) * tokens / (a.bandwidth * 1e12)
        floor = tokens / t_compute
        print(f"| {path.rsplit('/', 1)[-1]} | {total / 1e9:.3f} B | {mm / 1e9:.3f} | {att / 1e9:.3f} | "
              f"{(mm + att) / 1e9:.3f} | {per_batch / 1e12:.1f} | {t_compute * 1e3:.1f} | {t_weights * 1e3:.2f} | "
              f"{t_acts * 1e3:.1f} | {floor / 1e3:.0f}k | {floor / 2e3:.0f}k |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
