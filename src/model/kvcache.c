#include "model/kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/cuda/entry.h"
#include "model/model.h"

pic_kvcache *pic_kvcache_new(const pic_config *c, int n_slots, int max_len) {
    pic_kvcache *kv = pic_calloc(1, sizeof *kv);
    kv->n_layers = c->n_layers;
    kv->n_slots = n_slots;
    kv->max_len = max_len;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    size_t n = (size_t)c->n_layers * n_slots * max_len * kv->kv_dim, bytes = (n * sizeof(float) + 63) / 64 * 64;
    /* Untouched pages cost nothing until a slot grows into them. Aligned to
     * a cache line, so that a head's row (a multiple of 64 bytes in every
     * model pic knows) is whole lines: malloc's 16-byte offset split every
     * second 32-byte load of decode attention across two lines (-30% of its
     * time at batch 8, docs/model.md). */
    kv->k = pic_alloc_pages(bytes);
    kv->v = pic_alloc_pages(bytes);
    if (!kv->k || !kv->v) pic_die("out of memory for a KV cache of %d slots x %d positions (%zu bytes)", n_slots, max_len, 2 * bytes);
    kv->len = pic_calloc((size_t)n_slots, sizeof(int));
    kv->elem_bytes = sizeof(float);
    return kv;
}

pic_kvcache *pic_kvcache_for(const pic_model *m, int n_slots, int max_len, pic_err *err) {
    if (m->device != PIC_DEVICE_CUDA) return pic_kvcache_new(&m->cfg, n_slots, max_len);
    pic_kvcache *kv = pic_calloc(1, sizeof *kv);
    kv->n_layers = m->cfg.n_layers;
    kv->n_slots = n_slots;
    kv->max_len = max_len;
    kv->kv_dim = m->cfg.n_kv_heads * m->cfg.head_dim;
    kv->len = pic_calloc((size_t)n_slots, sizeof(int));
    if (pic_kvcache_alloc_cuda(kv, m, err)) {
        free(kv->len);
        free(kv);
        return NULL;
    }
    return kv;
}

void pic_kvcache_free(pic_kvcache *kv) {
    if (!kv) return;
    if (kv->dev_k) pic_kvcache_free_cuda(kv);
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

/* Slot ds of dst gets the first n positions of slot ss of src. */
static void copy_positions(pic_kvcache *dst, int ds, const pic_kvcache *src, int ss, int n) {
    if (n < 0 || n > src->len[ss] || n > dst->max_len || !dst->dev_k != !src->dev_k || dst->n_layers != src->n_layers ||
        dst->kv_dim != src->kv_dim)
        pic_die("kv cache: %d positions of slot %d (%d held) do not fit slot %d", n, ss, src->len[ss], ds);
    if (dst == src && ds == ss) {
        dst->len[ds] = n;
        return;
    }
    if (src->dev_k) {
        pic_err err;
        if (pic_kvcache_fork_cuda(dst, ds, src, ss, n, &err)) pic_die("%s", err.msg);
    } else {
        size_t bytes = (size_t)n * src->kv_dim * sizeof(float);
        for (int l = 0; l < src->n_layers; l++) {
            memcpy(pic_kvcache_k(dst, l, ds), pic_kvcache_k(src, l, ss), bytes);
            memcpy(pic_kvcache_v(dst, l, ds), pic_kvcache_v(src, l, ss), bytes);
        }
    }
    dst->len[ds] = n;
}

void pic_kvcache_fork(pic_kvcache *dst, int ds, const pic_kvcache *src, int ss) {
    copy_positions(dst, ds, src, ss, src->len[ss]);
}

void pic_kvcache_copy(pic_kvcache *kv, int dst, int src, int n) { copy_positions(kv, dst, kv, src, n); }
