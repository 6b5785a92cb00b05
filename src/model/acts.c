/* Activations live in one allocation carved into tensors, like the
 * parameters, so retaining them for a backward pass is a size change. */
#include "model/acts.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

typedef struct {
    float *base; /* NULL when counting */
    size_t off;
} carver;

static float *take(carver *k, size_t n) {
    float *p = k->base ? k->base + k->off : NULL;
    k->off += (n + 15) / 16 * 16; /* 64-byte aligned tensors */
    return p;
}

static void carve(carver *k, pic_acts *a, const pic_config *c, size_t N) {
    size_t C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    size_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int nl = a->retain ? c->n_layers : 1;
    a->x = take(k, N * C);
    for (int l = 0; l < nl; l++) {
        pic_layer_acts *la = a->layer ? &a->layer[l] : &(pic_layer_acts){0};
        la->ln1 = take(k, N * C);
        la->ln1_rstd = take(k, N);
        la->qkv = take(k, N * (qd + 2 * kvd));
        la->q = take(k, N * qd);
        la->k = take(k, N * kvd);
        la->v = take(k, N * kvd);
        la->qn_rstd = take(k, N * c->n_heads);
        la->kn_rstd = take(k, N * c->n_kv_heads);
        la->att = take(k, N * qd);
        la->att_lse = take(k, N * c->n_heads);
        la->res1 = take(k, N * C);
        la->ln2 = take(k, N * C);
        la->ln2_rstd = take(k, N);
        la->gu = take(k, N * 2 * F);
        la->h = take(k, N * F);
        la->res2 = take(k, N * C);
    }
    a->lnf = take(k, N * C);
    a->lnf_rstd = take(k, N);
    a->cos = take(k, N * hd / 2);
    a->sin = take(k, N * hd / 2);
}

void pic_acts_reserve(pic_acts *a, const pic_config *c, size_t N) {
    if (N <= a->cap && a->mem) return;
    bool retain = a->retain;
    pic_acts_free(a);
    a->retain = retain;
    carver count = {0};
    carve(&count, a, c, N);
    a->mem = aligned_alloc(64, count.off * sizeof(float));
    if (!a->mem) pic_die("out of memory for the activations of %zu tokens", N);
    a->layer = pic_calloc(retain ? (size_t)c->n_layers : 1, sizeof *a->layer);
    carver k = {a->mem, 0};
    carve(&k, a, c, N);
    a->tok_seq = pic_malloc(N * sizeof(int));
    a->tok_pos = pic_malloc(N * sizeof(int));
    a->cap = N;
}

void pic_acts_free(pic_acts *a) {
    free(a->mem);
    free(a->layer);
    free(a->tok_seq);
    free(a->tok_pos);
    bool retain = a->retain;
    memset(a, 0, sizeof *a);
    a->retain = retain;
}
