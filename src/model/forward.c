/* The transformer's forward pass: the layer functions of layers.h in the
 * order of transformers' Qwen2 / Qwen3 / Llama decoder layers. A model on a
 * GPU goes to cuda/forward.cu, which mirrors this file call for call. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/acts.h"
#include "model/cuda/entry.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/model.h"
#include "model/parallel.h"

/* Each slot's sequence in the batch so far (-1: none), to find two
 * sharing one in a pass over the batch rather than a pass per sequence
 * (a decode step at batch 256 checked 33k pairs). */
static int check_slots(const pic_kvcache *kv, const pic_batch *b, pic_err *err) {
    int *seq_of = pic_malloc((size_t)kv->n_slots * sizeof *seq_of);
    for (int i = 0; i < kv->n_slots; i++) seq_of[i] = -1;
    int rc = 0;
    for (int s = 0; s < b->n_seq && !rc; s++) {
        int slot = b->slot ? b->slot[s] : s;
        if (slot < 0 || slot >= kv->n_slots)
            rc = pic_err_set(err, "sequence %d: kv cache slot %d does not exist", s, slot);
        else if (kv->len[slot] + b->len[s] > kv->max_len)
            rc = pic_err_set(err, "sequence %d: %d + %d tokens overflow the kv cache (%d positions)", s,
                             kv->len[slot], b->len[s], kv->max_len);
        else if (seq_of[slot] >= 0)
            rc = pic_err_set(err, "sequences %d and %d share kv cache slot %d", seq_of[slot], s, slot);
        else
            seq_of[slot] = s;
    }
    free(seq_of);
    return rc;
}

/* N tokens in all; ctx: the most positions a sequence reaches. */
static int check_batch(const pic_model *m, const pic_kvcache *kv, const pic_batch *b, size_t *N, int *ctx,
                       pic_err *err) {
    size_t n = 0;
    *ctx = 0;
    for (int s = 0; s < b->n_seq; s++)
        if (b->len[s] < 1) return pic_err_set(err, "sequence %d of the batch has no tokens", s);
    if (kv && check_slots(kv, b, err)) return -1;
    for (int s = 0; s < b->n_seq; s++) {
        int reach = (kv ? kv->len[b->slot ? b->slot[s] : s] : 0) + b->len[s];
        if (reach > *ctx) *ctx = reach;
        n += (size_t)b->len[s];
    }
    for (size_t i = 0; i < n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
            return pic_err_set(err, "token %zu of the batch: id %d is outside the vocabulary (%d)", i,
                               (int)b->tokens[i], m->cfg.vocab_size);
    *N = n;
    return 0;
}

/* Pages for every position the batch writes into the cache: all or none. */
static int grow_cache(pic_kvcache *kv, const pic_batch *b, pic_err *err) {
    if (!kv) return 0;
    int *slots = pic_malloc((size_t)b->n_seq * sizeof *slots), *lens = pic_malloc((size_t)b->n_seq * sizeof *lens);
    for (int s = 0; s < b->n_seq; s++) {
        slots[s] = b->slot ? b->slot[s] : s;
        lens[s] = kv->len[slots[s]] + b->len[s];
    }
    long need = pic_kvcache_batch_pages(kv, b->n_seq, slots, lens);
    free(slots), free(lens);
    if (need > kv->n_free)
        return pic_err_set(err,
                           "the kv cache has %d free pages of %d positions and the batch needs %ld "
                           "(raise --kv-cache-tokens, or lower --max-batch-size)",
                           kv->n_free, PIC_KV_PAGE, need);
    for (int s = 0; s < b->n_seq; s++) {
        int slot = b->slot ? b->slot[s] : s;
        if (pic_kvcache_grow(kv, slot, kv->len[slot] + b->len[s], err)) return -1;
    }
    return 0;
}

/* nn.Linear through the model's kind of matrix product. */
static void linear(const pic_model *m, float *out, const float *inp, const float *weight, const float *bias,
                   size_t N, int IC, int OC, bool accumulate) {
    if (m->batch_invariant)
        matmul_bi_forward(out, inp, weight, bias, N, IC, OC, accumulate);
    else
        matmul_forward(out, inp, weight, bias, N, IC, OC, accumulate);
}

/* lm_head over n rows of the last forward's final hidden states (rows NULL:
 * rows 0..n-1), a block of PIC_HEAD_ROWS at a time, each block's logits
 * handed to emit: the logits of all rows never exist at once. */
typedef void (*head_emit)(void *ctx, size_t i, size_t k, const float *z);

static void head_blocks(pic_model *m, const size_t *rows, size_t n, head_emit emit, void *ctx) {
    pic_acts *a = &m->acts;
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    for (size_t i = 0; i < n; i += PIC_HEAD_ROWS) {
        size_t k = n - i < PIC_HEAD_ROWS ? n - i : PIC_HEAD_ROWS;
        for (size_t j = 0; j < k; j++)
            memcpy(a->head_x + j * C, a->lnf + (rows ? rows[i + j] : i + j) * C, C * sizeof(float));
        linear(m, a->head_z, a->head_x, m->params.lm_head, NULL, k, C, V, false);
        emit(ctx, i, k, a->head_z);
    }
}

typedef struct {
    float *logits;
    size_t V;
} copy_ctx;

static void copy_logits(void *ctx, size_t i, size_t k, const float *z) {
    copy_ctx *c = ctx;
    memcpy(c->logits + i * c->V, z, k * c->V * sizeof(float));
}

/* A range of tokens' queries, keys and values out of the fused product:
 * split, Qwen3's q/k norm, RoPE and, with a cache, the keys and values
 * appended at their positions in their slots. One job a range, where four
 * passes over the batch were four waits for the other thread (and the
 * split ran on one); each step is element-wise or per row, so the bits are
 * those of the passes. The first write to each page of a slot faults: the
 * threads share that too. */
typedef struct {
    const pic_model *m;
    pic_kvcache *kv;
    const pic_batch *b;
    pic_layer_acts *la;
    int l;
} qkv_args;

static void qkv_tokens(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const qkv_args *x = ctx;
    const pic_config *c = &x->m->cfg;
    const pic_acts *a = &x->m->acts;
    const pic_layer_params *p = &x->m->params.layer[x->l];
    pic_layer_acts *la = x->la;
    int hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, half = hd / 2;
    size_t qd = (size_t)nh * hd, kvd = (size_t)nkv * hd, nt = end - begin;
    float *q = la->q + begin * qd, *k = la->k + begin * kvd, *v = la->v + begin * kvd;
    qkv_split_forward(q, k, v, la->qkv + begin * (qd + 2 * kvd), nt, (int)qd, (int)kvd);
    if (c->qk_norm) {
        rmsnorm_forward(q, la->qn_rstd + begin * nh, q, p->q_norm, nt * nh, hd, c->rms_eps);
        rmsnorm_forward(k, la->kn_rstd + begin * nkv, k, p->k_norm, nt * nkv, hd, c->rms_eps);
    }
    rope_forward(q, nt, nh, hd, a->cos + begin * half, a->sin + begin * half);
    rope_forward(k, nt, nkv, hd, a->cos + begin * half, a->sin + begin * half);
    if (!x->kv) return;
    for (size_t t = begin; t < end; t++) {
        int s = a->tok_seq[t], slot = x->b->slot ? x->b->slot[s] : s, pos = a->tok_pos[t];
        int page = pic_kvcache_page(x->kv, slot, pos);
        size_t at = (size_t)(pos % PIC_KV_PAGE) * kvd;
        memcpy(pic_kvcache_k(x->kv, x->l, page) + at, la->k + t * kvd, kvd * sizeof(float));
        memcpy(pic_kvcache_v(x->kv, x->l, page) + at, la->v + t * kvd, kvd * sizeof(float));
    }
}

/* Decoder layer l over the batch laid out in m->acts (positions, RoPE
 * tables, each sequence's first token): in -> la->res2, the activations in la. */
static void layer_forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, int l, const float *in,
                          pic_layer_acts *la) {
    const pic_config *c = &m->cfg;
    pic_acts *a = &m->acts;
    size_t N = m->n_tokens;
    int C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd;
    const pic_layer_params *p = &m->params.layer[l];

    rmsnorm_forward(la->ln1, la->ln1_rstd, in, p->ln1, N, C, c->rms_eps);
    linear(m, la->qkv, la->ln1, p->wqkv, p->bqkv, N, C, qd + 2 * kvd, false);
    qkv_args x = {m, kv, b, la, l};
    pic_parallel_for(N, 1 + 4096 / ((size_t)qd + 2 * (size_t)kvd), qkv_tokens, &x);

    /* keys: the pages of the cache's slots (this batch's appended), or the batch's own */
    pic_attn_input ai = {N, a->tok_seq, a->tok_pos, la->k, la->v, a->seq_off, (size_t)kvd, NULL};
    if (kv) {
        ai.k = pic_kvcache_k(kv, l, 0);
        ai.v = pic_kvcache_v(kv, l, 0);
        ai.page = kv->table;
    }
    for (int s = 0; s < b->n_seq; s++)
        a->seq_off[s] = kv ? (size_t)(b->slot ? b->slot[s] : s) * kv->slot_pages : a->first[s] * kvd;
    attention_forward(la->att, la->att_lse, la->q, &ai, nh, nkv, hd, a->attn_work, a->attn_work_bytes);

    memcpy(la->res1, in, N * C * sizeof(float));
    linear(m, la->res1, la->att, p->wo, p->bo, N, qd, C, true);

    rmsnorm_forward(la->ln2, la->ln2_rstd, la->res1, p->ln2, N, C, c->rms_eps);
    linear(m, la->gu, la->ln2, p->wgu, p->bgu, N, C, 2 * F, false);
    swiglu_forward(la->h, la->gu, N, F);
    memcpy(la->res2, la->res1, N * C * sizeof(float));
    linear(m, la->res2, la->h, p->wd, p->bd, N, F, C, true);
}

void pic_layer_recompute(pic_model *m, const pic_batch *b, int l) {
    pic_acts *a = &m->acts;
    layer_forward(m, NULL, b, l, l ? a->layer[l - 1].res2 : a->x, &a->layer[l]);
}

int pic_forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, float *logits,
                pic_err *err) {
    const pic_config *c = &m->cfg;
    size_t N = 0;
    int ctx = 0;
    if (check_batch(m, kv, b, &N, &ctx, err)) return -1;
    if (kv && !kv->dev_k != (m->device != PIC_DEVICE_CUDA))
        return pic_err_set(err, "pic_forward: the KV cache is not on the model's device (pic_kvcache_for)");
    /* a batch the GPU refuses takes no pages of the cache */
    if (m->device == PIC_DEVICE_CUDA && pic_forward_check_cuda(m, N, err)) return -1;
    if (grow_cache(kv, b, err)) return -1;
    if (m->device == PIC_DEVICE_CUDA) return pic_forward_cuda(m, kv, b, N, which, logits, NULL, NULL, err);
    pic_acts *a = &m->acts;
    pic_acts_reserve(a, c, N, b->n_seq, ctx);
    m->n_tokens = N;
    int C = c->hidden_size, hd = c->head_dim;

    /* where each token sits */
    size_t n = 0;
    for (int s = 0; s < b->n_seq; s++) {
        int start = kv ? kv->len[b->slot ? b->slot[s] : s] : 0;
        a->first[s] = n;
        for (int t = 0; t < b->len[s]; t++, n++) {
            a->tok_seq[n] = s;
            a->tok_pos[n] = start + t;
        }
    }
    rope_tables(a->cos, a->sin, a->tok_pos, N, m->inv_freq, hd, (float)c->rope.attention_factor);
    embedding_forward(a->x, b->tokens, m->params.embed, N, C);

    const float *in = a->x;
    for (int l = 0; l < c->n_layers; l++) {
        pic_layer_acts *la = &a->layer[a->retain ? l : 0];
        layer_forward(m, kv, b, l, in, la);
        in = la->res2;
    }
    rmsnorm_forward(a->lnf, a->lnf_rstd, in, m->params.norm, N, C, c->rms_eps);

    if (kv)
        for (int s = 0; s < b->n_seq; s++) kv->len[b->slot ? b->slot[s] : s] += b->len[s];

    copy_ctx cc = {logits, (size_t)c->vocab_size};
    if (which == PIC_LOGITS_ALL) {
        head_blocks(m, NULL, N, copy_logits, &cc);
    } else if (which == PIC_LOGITS_LAST) {
        /* each sequence's last token, in the seq_off array (free again) */
        for (int s = 0; s < b->n_seq; s++) a->seq_off[s] = a->first[s] + (size_t)b->len[s] - 1;
        head_blocks(m, a->seq_off, (size_t)b->n_seq, copy_logits, &cc);
    }
    return 0;
}

int pic_forward_head(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, pic_head_fn fn, void *ctx,
                     pic_err *err) {
    if (m->device != PIC_DEVICE_CUDA)
        return pic_err_set(err, "pic_forward_head: the model is on the CPU, where pic_forward gives the logits");
    size_t N = 0;
    int max_ctx = 0;
    if (check_batch(m, kv, b, &N, &max_ctx, err)) return -1;
    if (kv && !kv->dev_k)
        return pic_err_set(err, "pic_forward_head: the KV cache is not on the model's device (pic_kvcache_for)");
    if (pic_forward_check_cuda(m, N, err) || grow_cache(kv, b, err)) return -1;
    return pic_forward_cuda(m, kv, b, N, which, NULL, fn, ctx, err);
}

typedef struct {
    const int32_t *targets;
    float T, *logp, *ent;
    int V;
} stats_ctx;

static void stats_block(void *ctx, size_t i, size_t k, const float *z) {
    stats_ctx *c = ctx;
    logprob_entropy_forward(c->logp ? c->logp + i : NULL, c->ent ? c->ent + i : NULL, z,
                            c->targets ? c->targets + i : NULL, k, c->V, c->T);
}

int pic_forward_stats(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T, float *logp,
                      float *ent, pic_err *err) {
    for (size_t i = 0; i < n; i++) {
        if (rows[i] >= m->n_tokens)
            return pic_err_set(err, "pic_forward_stats: row %zu of a batch of %zu tokens", rows[i], m->n_tokens);
        /* read as an index into a row of logits: on a GPU a bad one is a
         * fault that ends the process's CUDA context */
        if (targets && (targets[i] < 0 || targets[i] >= m->cfg.vocab_size))
            return pic_err_set(err, "pic_forward_stats: target %d of row %zu is outside the vocabulary (%d)",
                               (int)targets[i], rows[i], m->cfg.vocab_size);
    }
    if (m->device == PIC_DEVICE_CUDA) return pic_forward_stats_cuda(m, rows, n, targets, T, logp, ent, err);
    stats_ctx sc = {targets, T, logp, ent, m->cfg.vocab_size};
    head_blocks(m, rows, n, stats_block, &sc);
    return 0;
}
