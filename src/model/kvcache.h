/* The key/value cache of incremental decoding: per layer, per slot (one
 * sequence each), max_len positions of n_kv_heads * head_dim floats, keys
 * after RoPE. A slot's length grows as pic_forward appends to it. */
#ifndef PIC_MODEL_KVCACHE_H
#define PIC_MODEL_KVCACHE_H

#include <stddef.h>

#include "model/config.h"

typedef struct {
    int n_layers, n_slots, max_len, kv_dim;
    float *k, *v; /* [L][n_slots][max_len][kv_dim] */
    int *len;     /* [n_slots] positions filled */
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
/* Makes dst a copy of src (a prompt prefilled once, shared by n samples). */
void pic_kvcache_copy(pic_kvcache *kv, int dst, int src);

#endif
