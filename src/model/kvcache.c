#include "model/kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

pic_kvcache *pic_kvcache_new(const pic_config *c, int n_slots, int max_len) {
    pic_kvcache *kv = pic_calloc(1, sizeof *kv);
    kv->n_layers = c->n_layers;
    kv->n_slots = n_slots;
    kv->max_len = max_len;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    size_t n = (size_t)c->n_layers * n_slots * max_len * kv->kv_dim;
    /* untouched pages cost nothing until a slot grows into them */
    kv->k = pic_malloc(n * sizeof(float));
    kv->v = pic_malloc(n * sizeof(float));
    kv->len = pic_calloc((size_t)n_slots, sizeof(int));
    return kv;
}

void pic_kvcache_free(pic_kvcache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->len);
    free(kv);
}

void pic_kvcache_truncate(pic_kvcache *kv, int slot, int len) {
    if (slot < 0 || slot >= kv->n_slots || len < 0 || len > kv->len[slot])
        pic_die("kv cache: cannot truncate slot %d to %d", slot, len);
    kv->len[slot] = len;
}

void pic_kvcache_copy(pic_kvcache *kv, int dst, int src) {
    if (dst == src) return;
    size_t n = (size_t)kv->len[src] * kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(pic_kvcache_k(kv, l, dst), pic_kvcache_k(kv, l, src), n);
        memcpy(pic_kvcache_v(kv, l, dst), pic_kvcache_v(kv, l, src), n);
    }
    kv->len[dst] = kv->len[src];
}
