/* The backward pass (backward.h): forward.c's calls in reverse, each layer's
 * backward beside its forward in the layer files. The residual stream's
 * gradient dres runs down the layers; its per-layer scratch is the arena's
 * (acts.c), reused by every backward. */
#include "model/backward.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/acts.h"
#include "model/cuda/entry.h"
#include "model/layers.h"

typedef struct {
    float *dres, *dln, *dh, *dgu, *datt, *dq, *dk, *dv, *dqkv, *qpre, *kpre, *vpre;
} scratch;

/* The per-layer gradients for N tokens, carved from base (NULL: only
 * counted); returns their floats. dres and dln live through a layer; the
 * MLP's {dh, dgu} and the attention's {datt, dq, dk, dv, dqkv, and with
 * q/k norm the pre-norm q, k, v} are never live at once, so the two sets
 * share one region (a training step touches every page of its scratch: a
 * smaller one is fewer page faults). */
static size_t scratch_carve(scratch *s, const pic_config *c, size_t N, float *base) {
    size_t C = c->hidden_size, F = c->intermediate_size, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, pre = c->qk_norm ? N * (qd + 2 * kvd) : 0;
    size_t mlp[2] = {N * F, N * 2 * F}, att[8] = {N * qd, N * qd, N * kvd, N * kvd, N * (qd + 2 * kvd),
                                                   pre ? N * qd : 0, pre ? N * kvd : 0, pre ? N * kvd : 0};
    float **mlp_dst[2] = {&s->dh, &s->dgu}, **att_dst[8] = {&s->datt, &s->dq, &s->dk, &s->dv, &s->dqkv,
                                                             &s->qpre, &s->kpre, &s->vpre};
    size_t off = 0, m = 0, a = 0;
    s->dres = base, off += N * C;
    s->dln = base ? base + off : NULL, off += N * C;
    for (int i = 0; i < 2; i++) *mlp_dst[i] = base ? base + off + m : NULL, m += mlp[i];
    for (int i = 0; i < 8; i++) *att_dst[i] = base ? base + off + a : NULL, a += att[i];
    return off + (m > a ? m : a);
}

/* pic_head_backward's rows per block: about 4M logits at once, at most 256
 * rows (the block decides the order of lm_head's gradient sums). */
static size_t head_block(int V) {
    size_t block = (4u << 20) / (size_t)V;
    return block < 1 ? 1 : block > 256 ? 256 : block;
}

static size_t head_floats(const pic_config *c) {
    return head_block(c->vocab_size) * (2 * (size_t)c->hidden_size + (size_t)c->vocab_size);
}

/* The head's backward runs before the layers': the two share the region. */
size_t pic_backward_scratch_floats(const pic_config *c, size_t N) {
    scratch s;
    size_t layers = scratch_carve(&s, c, N, NULL), head = head_floats(c);
    return layers > head ? layers : head;
}

void pic_backward(pic_model *m, const pic_batch *b, float *dlnf, pic_params *grad) {
    const pic_config *c = &m->cfg;
    pic_acts *a = &m->acts;
    pic_err err;
    if (m->device == PIC_DEVICE_CUDA) {
        if (pic_backward_cuda(m, b, &err)) pic_die("%s", err.msg);
        return;
    }
    if (!a->retain) pic_die("pic_backward: the forward did not retain its activations");
    size_t N = m->n_tokens;
    int C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd, L = c->n_layers;
    scratch s;
    scratch_carve(&s, c, N, a->bwd); /* the arena's: sized with it, for its cap >= N tokens */

    /* the final norm: its input is the last layer's output */
    const float *last = L ? a->layer[L - 1].res2 : a->x;
    memset(s.dres, 0, N * C * sizeof(float));
    rmsnorm_backward(s.dres, grad->norm, dlnf, last, m->params.norm, a->lnf_rstd, N, C);

    size_t *seq_off = pic_malloc(((size_t)b->n_seq + 1) * sizeof *seq_off);
    for (int l = L - 1; l >= 0; l--) {
        const pic_layer_params *p = &m->params.layer[l];
        pic_layer_params *g = &grad->layer[l];
        if (a->recompute) pic_layer_recompute(m, b, l); /* its activations, from its input */
        const pic_layer_acts *la = &a->layer[l];
        const float *in = l ? a->layer[l - 1].res2 : a->x;

        /* res2 = res1 + down(h): dres passes through to res1 unchanged */
        memset(s.dh, 0, N * F * sizeof(float));
        matmul_backward(s.dh, g->wd, g->bd, s.dres, la->h, p->wd, N, F, C);
        swiglu_backward(s.dgu, s.dh, la->gu, N, F);
        memset(s.dln, 0, N * C * sizeof(float));
        matmul_backward(s.dln, g->wgu, g->bgu, s.dgu, la->ln2, p->wgu, N, C, 2 * F);
        rmsnorm_backward(s.dres, g->ln2, s.dln, la->res1, p->ln2, la->ln2_rstd, N, C);

        /* res1 = in + o_proj(att) */
        memset(s.datt, 0, N * qd * sizeof(float));
        matmul_backward(s.datt, g->wo, g->bo, s.dres, la->att, p->wo, N, qd, C);
        memset(s.dq, 0, N * qd * sizeof(float));
        memset(s.dk, 0, N * kvd * sizeof(float));
        memset(s.dv, 0, N * kvd * sizeof(float));
        size_t n = 0;
        for (int q = 0; q < b->n_seq; q++) {
            seq_off[q] = n * kvd;
            n += (size_t)b->len[q];
        }
        pic_attn_input ai = {N, a->tok_seq, a->tok_pos, la->k, la->v, seq_off, (size_t)kvd, NULL};
        attention_backward(s.dq, s.dk, s.dv, s.datt, la->att, la->att_lse, la->q, &ai, b->n_seq, nh, nkv, hd);
        rope_backward(s.dq, N, nh, hd, a->cos, a->sin);
        rope_backward(s.dk, N, nkv, hd, a->cos, a->sin);
        if (c->qk_norm) {
            /* the norms' inputs are the projections before them, in qkv */
            qkv_split_forward(s.qpre, s.kpre, s.vpre, la->qkv, N, qd, kvd);
            float *dqn = s.datt; /* free again: reuse it for the pre-norm gradient */
            memset(dqn, 0, N * qd * sizeof(float));
            rmsnorm_backward(dqn, g->q_norm, s.dq, s.qpre, p->q_norm, la->qn_rstd, N * nh, hd);
            memcpy(s.dq, dqn, N * qd * sizeof(float));
            memset(s.vpre, 0, N * kvd * sizeof(float));
            rmsnorm_backward(s.vpre, g->k_norm, s.dk, s.kpre, p->k_norm, la->kn_rstd, N * nkv, hd);
            memcpy(s.dk, s.vpre, N * kvd * sizeof(float));
        }
        qkv_split_backward(s.dqkv, s.dq, s.dk, s.dv, N, qd, kvd);
        memset(s.dln, 0, N * C * sizeof(float));
        matmul_backward(s.dln, g->wqkv, g->bqkv, s.dqkv, la->ln1, p->wqkv, N, C, qd + 2 * kvd);
        rmsnorm_backward(s.dres, g->ln1, s.dln, in, p->ln1, la->ln1_rstd, N, C);
    }
    /* dres is now the gradient of the embeddings' output; recover the
     * tokens from the batch */
    embedding_backward(grad->embed, s.dres, b->tokens, N, C, m->cfg.pad_id);
    free(seq_off);
}

void pic_head_backward(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                       const float *dlogp, const float *dent, float *dlnf, pic_params *grad) {
    pic_err err;
    if (m->device == PIC_DEVICE_CUDA) {
        /* the GPU adds a block's rows into dlnf with a thread per element:
         * a row given twice would race, where the CPU adds it twice */
        unsigned char *seen = pic_calloc(m->n_tokens + 1, 1);
        for (size_t i = 0; i < n; i++) {
            if (rows[i] >= m->n_tokens) pic_die("pic_head_backward: row %zu of %zu", rows[i], m->n_tokens);
            if (seen[rows[i]]++) pic_die("pic_head_backward: row %zu given twice (the GPU needs distinct rows)", rows[i]);
        }
        free(seen);
        if (pic_head_backward_cuda(m, rows, n, targets, T, dlogp, dent, &err)) pic_die("%s", err.msg);
        return;
    }
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    size_t block = head_block(V);
    /* the arena's backward scratch after a forward that kept its activations */
    float *mem = m->acts.bwd ? m->acts.bwd : pic_malloc(head_floats(&m->cfg) * sizeof(float) + 1);
    if (block > n) block = n;
    float *x = mem, *z = x + block * C, *dx = z + block * V;
    for (size_t i = 0; i < n; i += block) {
        size_t k = n - i < block ? n - i : block;
        for (size_t j = 0; j < k; j++) {
            if (rows[i + j] >= m->n_tokens) pic_die("pic_head_backward: row %zu of %zu", rows[i + j], m->n_tokens);
            memcpy(x + j * C, m->acts.lnf + rows[i + j] * C, C * sizeof(float));
        }
        matmul_forward(z, x, m->params.lm_head, NULL, k, C, V, false);
        logprob_entropy_backward(z, z, targets + i, dlogp ? dlogp + i : NULL, dent ? dent + i : NULL, k, V, T);
        memset(dx, 0, k * C * sizeof(float));
        matmul_backward(dx, grad->lm_head, NULL, z, x, m->params.lm_head, k, C, V);
        for (size_t j = 0; j < k; j++) {
            float *d = dlnf + rows[i + j] * C;
            for (int q = 0; q < C; q++) d[q] += dx[j * C + q];
        }
    }
    if (mem != m->acts.bwd) free(mem);
}
