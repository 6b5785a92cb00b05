/* The key/value cache of incremental decoding: per layer, per slot (one
 * sequence each), max_len positions of n_kv_heads * head_dim values, keys
 * after RoPE. A slot's length grows as pic_forward appends to it. On the
 * CPU the values are float in k and v; a cache made for a model on a GPU
 * (pic_kvcache_for, model.h) holds the same layout in the model's storage
 * type in device memory (dev_k, dev_v; cuda/kvcache.cu), and k, v are
 * NULL. Lengths live on the host either way. */
#ifndef PIC_MODEL_KVCACHE_H
#define PIC_MODEL_KVCACHE_H

#include <stddef.h>

#include "model/config.h"

typedef struct {
    int n_layers, n_slots, max_len, kv_dim;
    float *k, *v;        /* CPU: [L][n_slots][max_len][kv_dim] */
    int *len;            /* [n_slots] positions filled */
    void *dev_k, *dev_v; /* GPU: the same layout, elem_bytes per value */
    size_t elem_bytes;
    void *stream;        /* GPU: the model's stream (copies stay in order with its forwards) */
} pic_kvcache;

pic_kvcache *pic_kvcache_new(const pic_config *c, int n_slots, int max_len);
void pic_kvcache_free(pic_kvcache *kv);
static inline float *pic_kvcache_k(const pic_kvcache *kv, int layer, int slot) {
    return kv->k + (((size_t)layer * kv->n_slots + slot) * kv->max_len) * kv->kv_dim;
}
static inline float *pic_kvcache_v(const pic_kvcache *kv, int layer, int slot) {
    return kv->v + (((size_t)layer * kv->n_slots + slot) * kv->max_len) * kv->kv_dim;
}
/* Forgets positions from len on (len 0 empties the slot). */
void pic_kvcache_truncate(pic_kvcache *kv, int slot, int len);
/* Makes dst a copy of the first n positions of src: a prompt prefilled
 * once in its first sample's slot, shared by the others (n <= src's
 * length; src == dst truncates). */
void pic_kvcache_copy(pic_kvcache *kv, int dst, int src, int n);
/* Makes slot ds of dst a copy of slot ss of src, on the caches' device
 * (both on the same one, with the same layer count and width). */
void pic_kvcache_fork(pic_kvcache *dst, int ds, const pic_kvcache *src, int ss);

#endif
