#!/usr/bin/env python3
"""A reference forward pass of transformers' Llama / Mistral / Qwen2 / Qwen3
decoders in plain Python (float64 lists, standard library only), for the tiny
models of tests/model_ref.bats. It follows transformers' code, not pic's:

  modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py: RMSNorm (weight
  after the normalised row), q/k/v/o and MLP biases per class, Qwen3's q_norm
  and k_norm over head_dim before RoPE, rotate_half, repeat_kv (GQA),
  scaling = head_dim ** -0.5, causal softmax, down(silu(gate) * up), tied
  lm_head; modeling_rope_utils.py: inv_freq of default, linear, dynamic,
  llama3 and yarn with yarn's attention_factor scaling cos and sin;
  configuration_*.py: the class defaults of absent keys.

  model_ref.py weights DIR SEED [F32|BF16|F16]
      random weights for DIR/config.json into DIR/model.safetensors
  model_ref.py check DIR SCORED
      SCORED: pic-rollout --score --plain output (prompt_ids, response_ids,
      temperature, logprobs, entropy); exit 1 naming the first token whose
      log-prob or entropy is further than 1e-4 (relative above 1) from ours
"""
import json, math, random, struct, sys


# ---- config.json as transformers' config classes read it ----

def config(path):
    c = json.load(open(path))
    t = c['model_type']
    heads = c['num_attention_heads']
    kv_default = {'qwen2': 32, 'qwen3': 32, 'mistral': 8}.get(t, heads)
    kv = c.get('num_key_value_heads', kv_default)
    hd = c.get('head_dim', 128 if t == 'qwen3' else None)
    if hd is None:
        hd = c['hidden_size'] // heads
    ab = c.get('attention_bias', False) if t in ('llama', 'qwen3') else False
    return {
        'type': t, 'V': c['vocab_size'], 'C': c['hidden_size'], 'F': c['intermediate_size'],
        'L': c['num_hidden_layers'], 'nh': heads, 'nkv': heads if kv is None else kv, 'hd': hd,
        'eps': c.get('rms_norm_eps', 1e-6), 'tied': c.get('tie_word_embeddings', False),
        'qkv_bias': t == 'qwen2' or ab, 'o_bias': ab,
        'mlp_bias': c.get('mlp_bias', False) if t == 'llama' else False,
        'qk_norm': t == 'qwen3', 'max_pos': c.get('max_position_embeddings',
                                                 {'qwen2': 32768, 'qwen3': 32768, 'mistral': 131072}.get(t, 2048)),
        'raw': c,
    }


def rope_params(cfg):
    """(inv_freq, attention_factor) as modeling_rope_utils computes them."""
    c = cfg['raw']
    rp = c.get('rope_scaling') or c.get('rope_parameters') or {}
    if 'full_attention' in rp and 'rope_type' not in rp and 'type' not in rp:
        rp = rp['full_attention']
    base = rp.get('rope_theta', c.get('rope_theta', 10000.0))
    dim = cfg['hd']
    kind = rp.get('rope_type', rp.get('type', 'default'))
    inv = [1.0 / base ** (i / dim) for i in range(0, dim, 2)]
    af = 1.0
    omp = c.get('original_max_position_embeddings') or rp.get('original_max_position_embeddings') or cfg['max_pos']
    if kind == 'linear':
        inv = [f / rp['factor'] for f in inv]
    elif kind == 'dynamic':
        L = cfg['max_pos']
        b = base * ((rp['factor'] * L / L) - (rp['factor'] - 1)) ** (dim / (dim - 2))
        inv = [1.0 / b ** (i / dim) for i in range(0, dim, 2)]
    elif kind == 'llama3':
        factor, lo, hi = rp['factor'], rp['low_freq_factor'], rp['high_freq_factor']
        lo_wl, hi_wl = omp / lo, omp / hi
        out = []
        for f in inv:
            wl = 2 * math.pi / f
            g = f / factor if wl > lo_wl else f
            s = (omp / wl - lo) / (hi - lo)
            sm = (1 - s) * g / factor + s * g
            out.append(sm if not (wl < hi_wl) and not (wl > lo_wl) else g)
        inv = out
    elif kind == 'yarn':
        factor = rp.get('factor')
        if factor is None:
            factor = cfg['max_pos'] / omp
        ms, msa = rp.get('mscale'), rp.get('mscale_all_dim')

        def get_mscale(scale, m=1):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0
        af = rp.get('attention_factor')
        if af is None:
            af = get_mscale(factor, ms) / get_mscale(factor, msa) if ms and msa else get_mscale(factor)
        bf, bs = rp.get('beta_fast') or 32, rp.get('beta_slow') or 1

        def corr(n):
            return (dim * math.log(omp / (n * 2 * math.pi))) / (2 * math.log(base))
        low, high = corr(bf), corr(bs)
        if rp.get('truncate', True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        pos = [base ** (i / dim) for i in range(0, dim, 2)]
        out = []
        for i, p in enumerate(pos):
            ramp = min(max((i - low) / (high - low), 0.0), 1.0)
            ef = 1 - ramp
            out.append(1 / (factor * p) * (1 - ef) + 1 / p * ef)
        inv = out
    elif kind != 'default':
        raise SystemExit('model_ref.py: rope type %s' % kind)
    return inv, af


# ---- safetensors ----

def bf16(x):
    b = struct.unpack('<I', struct.pack('<f', x))[0]
    return (b + 0x7FFF + ((b >> 16) & 1)) >> 16


def write_st(path, tensors, dtype):
    size = {'F32': 4, 'BF16': 2, 'F16': 2}[dtype]
    header, blobs, off = {}, [], 0
    for name, (shape, vals) in tensors.items():
        if dtype == 'F32':
            blob = struct.pack('<%df' % len(vals), *vals)
        elif dtype == 'F16':
            blob = struct.pack('<%de' % len(vals), *vals)
        else:
            blob = struct.pack('<%dH' % len(vals), *[bf16(v) for v in vals])
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [off, off + len(vals) * size]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def read_st(path):
    b = open(path, 'rb').read()
    n = struct.unpack_from('<Q', b)[0]
    out = {}
    for name, t in json.loads(b[8:8 + n]).items():
        if name == '__metadata__':
            continue
        lo, hi = t['data_offsets']
        raw = b[8 + n + lo:8 + n + hi]
        if t['dtype'] == 'F32':
            v = list(struct.unpack('<%df' % (len(raw) // 4), raw))
        elif t['dtype'] == 'F16':
            v = list(struct.unpack('<%de' % (len(raw) // 2), raw))
        else:
            v = [struct.unpack('<f', struct.pack('<I', h << 16))[0]
                 for h in struct.unpack('<%dH' % (len(raw) // 2), raw)]
        out[name] = (t['shape'], v)
    return out


def shapes(cfg):
    C, F, hd = cfg['C'], cfg['F'], cfg['hd']
    qd, kvd = cfg['nh'] * hd, cfg['nkv'] * hd
    s = {'model.embed_tokens.weight': [cfg['V'], C], 'model.norm.weight': [C]}
    if not cfg['tied']:
        s['lm_head.weight'] = [cfg['V'], C]
    for l in range(cfg['L']):
        p = 'model.layers.%d.' % l
        s[p + 'input_layernorm.weight'] = [C]
        s[p + 'post_attention_layernorm.weight'] = [C]
        for n, o in (('q', qd), ('k', kvd), ('v', kvd)):
            s[p + 'self_attn.%s_proj.weight' % n] = [o, C]
            if cfg['qkv_bias']:
                s[p + 'self_attn.%s_proj.bias' % n] = [o]
        s[p + 'self_attn.o_proj.weight'] = [C, qd]
        if cfg['o_bias']:
            s[p + 'self_attn.o_proj.bias'] = [C]
        if cfg['qk_norm']:
            s[p + 'self_attn.q_norm.weight'] = [hd]
            s[p + 'self_attn.k_norm.weight'] = [hd]
        for n, shp in (('gate', [F, C]), ('up', [F, C]), ('down', [C, F])):
            s[p + 'mlp.%s_proj.weight' % n] = shp
            if cfg['mlp_bias']:
                s[p + 'mlp.%s_proj.bias' % n] = shp[:1]
    return s


def weights(d, seed, dtype):
    cfg = config(d + '/config.json')
    r = random.Random(seed)
    t = {}
    for name, shp in shapes(cfg).items():
        n = 1
        for x in shp:
            n *= x
        if 'norm' in name:  # norm weights away from 1, so misplacing one shows
            v = [1 + 0.3 * r.gauss(0, 1) for _ in range(n)]
        elif 'embed' in name or 'lm_head' in name:
            v = [r.gauss(0, 1) for _ in range(n)]
        else:  # logits of a few nats' spread through two layers
            std = 0.2 if name.endswith('bias') else 1.2 / math.sqrt(shp[-1])
            v = [r.gauss(0, std) for _ in range(n)]
        t[name] = (shp, v)
    write_st(d + '/model.safetensors', t, dtype)


# ---- the forward pass ----

def linear(x, w, b, o, i):
    """x [i] through nn.Linear(i, o): w is [o, i] row-major."""
    return [sum(w[r * i + k] * x[k] for k in range(i)) + (b[r] if b else 0.0) for r in range(o)]


def rmsnorm(x, w, eps):
    var = sum(v * v for v in x) / len(x)
    r = 1 / math.sqrt(var + eps)
    return [w[k] * (x[k] * r) for k in range(len(x))]


def rope(x, cos, sin):
    """x * cos + rotate_half(x) * sin, cos/sin of cat(freqs, freqs)."""
    h = len(x) // 2
    rot = [-v for v in x[h:]] + x[:h]
    return [x[k] * cos[k] + rot[k] * sin[k] for k in range(len(x))]


def forward(cfg, W, ids):
    """Logits of every position of one sequence."""
    C, F, hd, nh, nkv, eps = cfg['C'], cfg['F'], cfg['hd'], cfg['nh'], cfg['nkv'], cfg['eps']
    qd, kvd = nh * hd, nkv * hd
    g = lambda n: W[n][1] if n in W else None
    inv, af = rope_params(cfg)
    emb = g('model.embed_tokens.weight')
    xs = [emb[t * C:(t + 1) * C] for t in ids]
    trig = []
    for pos in range(len(ids)):
        fr = [pos * f for f in inv] * 2
        trig.append(([math.cos(a) * af for a in fr], [math.sin(a) * af for a in fr]))
    for l in range(cfg['L']):
        p = 'model.layers.%d.' % l
        hs = [rmsnorm(x, g(p + 'input_layernorm.weight'), eps) for x in xs]
        Q, K, Vv = [], [], []
        for t, h in enumerate(hs):
            q = linear(h, g(p + 'self_attn.q_proj.weight'), g(p + 'self_attn.q_proj.bias'), qd, C)
            k = linear(h, g(p + 'self_attn.k_proj.weight'), g(p + 'self_attn.k_proj.bias'), kvd, C)
            v = linear(h, g(p + 'self_attn.v_proj.weight'), g(p + 'self_attn.v_proj.bias'), kvd, C)
            qh = [q[j * hd:(j + 1) * hd] for j in range(nh)]
            kh = [k[j * hd:(j + 1) * hd] for j in range(nkv)]
            if cfg['qk_norm']:
                qh = [rmsnorm(x, g(p + 'self_attn.q_norm.weight'), eps) for x in qh]
                kh = [rmsnorm(x, g(p + 'self_attn.k_norm.weight'), eps) for x in kh]
            cos, sin = trig[t]
            Q.append([rope(x, cos, sin) for x in qh])
            K.append([rope(x, cos, sin) for x in kh])
            Vv.append([v[j * hd:(j + 1) * hd] for j in range(nkv)])
        new = []
        for t in range(len(xs)):
            att = []
            for j in range(nh):
                kj = j // (nh // nkv)  # repeat_kv
                s = [sum(a * b for a, b in zip(Q[t][j], K[u][kj])) * hd ** -0.5 for u in range(t + 1)]
                m = max(s)
                e = [math.exp(v - m) for v in s]
                z = sum(e)
                att += [sum(e[u] / z * Vv[u][kj][d] for u in range(t + 1)) for d in range(hd)]
            o = linear(att, g(p + 'self_attn.o_proj.weight'), g(p + 'self_attn.o_proj.bias'), C, qd)
            r1 = [a + b for a, b in zip(xs[t], o)]
            h2 = rmsnorm(r1, g(p + 'post_attention_layernorm.weight'), eps)
            gt = linear(h2, g(p + 'mlp.gate_proj.weight'), g(p + 'mlp.gate_proj.bias'), F, C)
            up = linear(h2, g(p + 'mlp.up_proj.weight'), g(p + 'mlp.up_proj.bias'), F, C)
            act = [a / (1 + math.exp(-a)) * b for a, b in zip(gt, up)]
            dn = linear(act, g(p + 'mlp.down_proj.weight'), g(p + 'mlp.down_proj.bias'), C, F)
            new.append([a + b for a, b in zip(r1, dn)])
        xs = new
    head = g('model.embed_tokens.weight') if cfg['tied'] else g('lm_head.weight')
    return [linear(rmsnorm(x, g('model.norm.weight'), eps), head, None, cfg['V'], C) for x in xs]


def check(d, scored):
    cfg = config(d + '/config.json')
    W = read_st(d + '/model.safetensors')
    worst = 0.0
    for n, line in enumerate(open(scored), 1):
        r = json.loads(line)
        p, resp, T = r['prompt_ids'], r['response_ids'], r.get('temperature') or 1.0
        z = forward(cfg, W, p + resp)
        for i, y in enumerate(resp):
            u = [v / T for v in z[len(p) - 1 + i]]
            m = max(u)
            ls = m + math.log(sum(math.exp(v - m) for v in u))
            lp = [v - ls for v in u]
            want = (lp[y], -sum(math.exp(v) * v for v in lp))
            got = (r['logprobs'][i], r['entropy'][i])
            for what, a, b in zip(('logprob', 'entropy'), got, want):
                err = abs(a - b) / max(1.0, abs(b))
                worst = max(worst, err)
                if err > 1e-4:
                    sys.exit('%s:%d: response token %d: %s %.7g, the reference %.7g' % (scored, n, i, what, a, b))
    print('worst relative error %.3g' % worst)


if __name__ == '__main__':
    if sys.argv[1] == 'weights':
        weights(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else 'F32')
    else:
        check(sys.argv[2], sys.argv[3])
