/* The transformer's forward pass: the layer functions of layers.h in the
 * order of transformers' Qwen2 / Qwen3 / Llama decoder layers. The CUDA
 * backend will mirror this file call for call. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/acts.h"
#include "model/layers.h"
#include "model/model.h"

static int check_batch(const pic_model *m, const pic_kvcache *kv, const pic_batch *b, size_t *N,
                       pic_err *err) {
    size_t n = 0;
    for (int s = 0; s < b->n_seq; s++) {
        if (b->len[s] < 1) return pic_err_set(err, "sequence %d of the batch has no tokens", s);
        if (kv) {
            int slot = b->slot ? b->slot[s] : s;
            if (slot < 0 || slot >= kv->n_slots)
                return pic_err_set(err, "sequence %d: kv cache slot %d does not exist", s, slot);
            if (kv->len[slot] + b->len[s] > kv->max_len)
                return pic_err_set(err, "sequence %d: %d + %d tokens overflow the kv cache (%d positions)", s,
                                   kv->len[slot], b->len[s], kv->max_len);
            for (int t = 0; t < s; t++)
                if ((b->slot ? b->slot[t] : t) == slot)
                    return pic_err_set(err, "sequences %d and %d share kv cache slot %d", t, s, slot);
        }
        n += (size_t)b->len[s];
    }
    for (size_t i = 0; i < n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
            return pic_err_set(err, "token %zu of the batch: id %d is outside the vocabulary (%d)", i,
                               (int)b->tokens[i], m->cfg.vocab_size);
    *N = n;
    return 0;
}

int pic_forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, float *logits,
                pic_err *err) {
    const pic_config *c = &m->cfg;
    size_t N = 0;
    if (check_batch(m, kv, b, &N, err)) return -1;
    pic_acts *a = &m->acts;
    pic_acts_reserve(a, c, N);
    m->n_tokens = N;

    int C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd;

    /* where each token sits, and where each sequence's keys live */
    const float **ks = pic_malloc((size_t)b->n_seq * sizeof *ks), **vs = pic_malloc((size_t)b->n_seq * sizeof *vs);
    size_t *first = pic_malloc((size_t)b->n_seq * sizeof *first);
    size_t n = 0;
    for (int s = 0; s < b->n_seq; s++) {
        int start = kv ? kv->len[b->slot ? b->slot[s] : s] : 0;
        first[s] = n;
        for (int t = 0; t < b->len[s]; t++, n++) {
            a->tok_seq[n] = s;
            a->tok_pos[n] = start + t;
        }
    }
    rope_tables(a->cos, a->sin, a->tok_pos, N, m->inv_freq, hd, (float)c->rope.attention_factor);
    embedding_forward(a->x, b->tokens, m->params.embed, N, C);

    const float *in = a->x;
    for (int l = 0; l < c->n_layers; l++) {
        const pic_layer_params *p = &m->params.layer[l];
        pic_layer_acts *la = &a->layer[a->retain ? l : 0];

        rmsnorm_forward(la->ln1, la->ln1_rstd, in, p->ln1, N, C, c->rms_eps);
        matmul_forward(la->qkv, la->ln1, p->wqkv, p->bqkv, N, C, qd + 2 * kvd, false);
        qkv_split_forward(la->q, la->k, la->v, la->qkv, N, qd, kvd);
        if (c->qk_norm) {
            rmsnorm_forward(la->q, la->qn_rstd, la->q, p->q_norm, N * nh, hd, c->rms_eps);
            rmsnorm_forward(la->k, la->kn_rstd, la->k, p->k_norm, N * nkv, hd, c->rms_eps);
        }
        rope_forward(la->q, N, nh, hd, a->cos, a->sin);
        rope_forward(la->k, N, nkv, hd, a->cos, a->sin);

        for (int s = 0; s < b->n_seq; s++) {
            if (kv) {
                int slot = b->slot ? b->slot[s] : s;
                float *K = pic_kvcache_k(kv, l, slot), *V = pic_kvcache_v(kv, l, slot);
                size_t at = (size_t)kv->len[slot] * kvd, nb = (size_t)b->len[s] * kvd * sizeof(float);
                memcpy(K + at, la->k + first[s] * kvd, nb);
                memcpy(V + at, la->v + first[s] * kvd, nb);
                ks[s] = K;
                vs[s] = V;
            } else {
                ks[s] = la->k + first[s] * kvd;
                vs[s] = la->v + first[s] * kvd;
            }
        }
        pic_attn_input ai = {N, a->tok_seq, a->tok_pos, ks, vs, (size_t)kvd};
        attention_forward(la->att, la->att_lse, la->q, &ai, nh, nkv, hd);

        memcpy(la->res1, in, N * C * sizeof(float));
        matmul_forward(la->res1, la->att, p->wo, p->bo, N, qd, C, true);

        rmsnorm_forward(la->ln2, la->ln2_rstd, la->res1, p->ln2, N, C, c->rms_eps);
        matmul_forward(la->gu, la->ln2, p->wgu, p->bgu, N, C, 2 * F, false);
        swiglu_forward(la->h, la->gu, N, F);
        memcpy(la->res2, la->res1, N * C * sizeof(float));
        matmul_forward(la->res2, la->h, p->wd, p->bd, N, F, C, true);
        in = la->res2;
    }
    rmsnorm_forward(a->lnf, a->lnf_rstd, in, m->params.norm, N, C, c->rms_eps);

    if (kv)
        for (int s = 0; s < b->n_seq; s++) kv->len[b->slot ? b->slot[s] : s] += b->len[s];

    if (which == PIC_LOGITS_ALL) {
        matmul_forward(logits, a->lnf, m->params.lm_head, NULL, N, C, c->vocab_size, false);
    } else if (which == PIC_LOGITS_LAST) {
        float *last = pic_malloc((size_t)b->n_seq * C * sizeof(float));
        for (int s = 0; s < b->n_seq; s++)
            memcpy(last + (size_t)s * C, a->lnf + (first[s] + b->len[s] - 1) * C, C * sizeof(float));
        matmul_forward(logits, last, m->params.lm_head, NULL, (size_t)b->n_seq, C, c->vocab_size, false);
        free(last);
    }
    free(ks);
    free(vs);
    free(first);
    return 0;
}

void pic_forward_stats(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                       float *logp, float *ent) {
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    /* a block of rows' logits at a time: at most ~16 MB whatever the vocabulary */
    size_t block = (4u << 20) / (size_t)V;
    if (block < 1) block = 1;
    if (block > 256) block = 256;
    if (block > n) block = n;
    float *x = pic_malloc(block * C * sizeof(float)), *z = pic_malloc(block * V * sizeof(float));
    for (size_t i = 0; i < n; i += block) {
        size_t k = n - i < block ? n - i : block;
        for (size_t j = 0; j < k; j++) {
            if (rows[i + j] >= m->n_tokens) pic_die("pic_forward_stats: row %zu of %zu", rows[i + j], m->n_tokens);
            memcpy(x + j * C, m->acts.lnf + rows[i + j] * C, C * sizeof(float));
        }
        matmul_forward(z, x, m->params.lm_head, NULL, k, C, V, false);
        logprob_entropy_forward(logp ? logp + i : NULL, ent ? ent + i : NULL, z, targets ? targets + i : NULL, k,
                                V, T);
    }
    free(x);
    free(z);
}
