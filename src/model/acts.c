/* The CPU's arena: activations and scratch in one allocation carved into
 * tensors, like the parameters, so that retaining them for a backward pass
 * is a size change and a forward pass allocates nothing. */
#include "model/acts.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/layers.h"
#include "model/parallel.h"

typedef struct {
    char *base; /* NULL when counting */
    size_t off;
} carver;

static void *take(carver *k, size_t bytes) {
    void *p = k->base ? k->base + k->off : NULL;
    k->off += (bytes + 63) / 64 * 64; /* 64-byte aligned tensors */
    return p;
}

static float *takef(carver *k, size_t n) { return take(k, n * sizeof(float)); }

static void carve(carver *k, pic_acts *a, const pic_config *c, size_t N, int n_seq, int ctx) {
    size_t C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    size_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int nl = a->retain ? c->n_layers : 1;
    /* the fused projection is read again only by the q/k norms' backward:
     * without them one buffer serves every layer */
    float *qkv_shared = c->qk_norm ? NULL : takef(k, N * (qd + 2 * kvd));
    a->x = takef(k, N * C);
    for (int l = 0; l < nl; l++) {
        pic_layer_acts *la = a->layer ? &a->layer[l] : &(pic_layer_acts){0};
        if (a->recompute && l > 0) { /* layer 0's set, but an output of its own */
            if (a->layer) *la = a->layer[0];
            la->res2 = takef(k, N * C);
            continue;
        }
        la->ln1 = takef(k, N * C);
        la->ln1_rstd = takef(k, N);
        la->qkv = c->qk_norm ? takef(k, N * (qd + 2 * kvd)) : qkv_shared;
        la->q = takef(k, N * qd);
        la->k = takef(k, N * kvd);
        la->v = takef(k, N * kvd);
        la->qn_rstd = takef(k, N * c->n_heads);
        la->kn_rstd = takef(k, N * c->n_kv_heads);
        la->att = takef(k, N * qd);
        la->att_lse = takef(k, N * c->n_heads);
        la->res1 = takef(k, N * C);
        la->ln2 = takef(k, N * C);
        la->ln2_rstd = takef(k, N);
        la->gu = takef(k, N * 2 * F);
        la->h = takef(k, N * F);
        la->res2 = takef(k, N * C);
    }
    a->lnf = takef(k, N * C);
    a->lnf_rstd = takef(k, N);
    a->cos = takef(k, N * hd / 2);
    a->sin = takef(k, N * hd / 2);
    a->tok_seq = take(k, N * sizeof(int));
    a->tok_pos = take(k, N * sizeof(int));
    a->first = take(k, (size_t)n_seq * sizeof(size_t));
    a->seq_off = take(k, (size_t)n_seq * sizeof(size_t));
    a->head_x = takef(k, (size_t)PIC_HEAD_ROWS * C);
    a->head_z = takef(k, (size_t)PIC_HEAD_ROWS * c->vocab_size);
    a->attn_work_bytes = attention_workspace_size(N, ctx, c->n_heads, c->n_kv_heads);
    a->attn_work = take(k, a->attn_work_bytes);
    /* what a backward needs besides the activations, so that a training
     * step's second micro-batch or optimizer step touches no new pages */
    a->dlnf = a->retain ? takef(k, N * C) : NULL;
    a->bwd = a->retain ? takef(k, pic_backward_scratch_floats(c, N)) : NULL;
}

void pic_acts_reserve(pic_acts *a, const pic_config *c, size_t N, int n_seq, int ctx) {
    if (a->mem && N <= a->cap && n_seq <= a->cap_seq && ctx <= a->cap_ctx && pic_threads() <= a->threads) return;
    /* never shrink one dimension while growing another */
    if (a->mem) {
        N = N > a->cap ? N : a->cap;
        n_seq = n_seq > a->cap_seq ? n_seq : a->cap_seq;
        ctx = ctx > a->cap_ctx ? ctx : a->cap_ctx;
    }
    bool retain = a->retain, recompute = a->recompute;
    pic_acts_free(a);
    a->retain = retain, a->recompute = recompute;
    carver count = {0};
    carve(&count, a, c, N, n_seq, ctx);
    a->mem = pic_alloc_pages(count.off);
    if (!a->mem) pic_die("out of memory for the activations of %zu tokens (%zu bytes)", N, count.off);
    a->layer = pic_calloc(retain ? (size_t)c->n_layers : 1, sizeof *a->layer);
    carver k = {(char *)a->mem, 0};
    carve(&k, a, c, N, n_seq, ctx);
    a->cap = N;
    a->cap_seq = n_seq;
    a->cap_ctx = ctx;
    a->threads = pic_threads();
}

void pic_acts_free(pic_acts *a) {
    free(a->mem);
    free(a->layer);
    bool retain = a->retain, recompute = a->recompute;
    memset(a, 0, sizeof *a);
    a->retain = retain, a->recompute = recompute;
}
