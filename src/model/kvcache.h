/* The key/value cache of incremental decoding, in pages: per layer a pool
 * of n_pages pages of PIC_KV_PAGE positions of n_kv_heads * head_dim
 * values (keys after RoPE), and per slot (one sequence each) a row of the
 * page table naming the page of each PIC_KV_PAGE positions it holds. A
 * slot takes pages as it grows (pic_forward calls pic_kvcache_grow) and
 * gives them back when it is truncated, so sequences of very different
 * lengths share one pool; pic_kvcache_copy makes a slot share another's
 * pages (a prompt prefilled once, read by all its samples), and the first
 * write into a shared page copies it (copy on write). Pages are counted
 * by reference on the host.
 *
 * On the CPU the values are float in k and v; a cache made for a model on
 * a GPU (pic_kvcache_for, model.h) holds the same layout in the model's
 * storage type in device memory (dev_k, dev_v, with the page table
 * mirrored in dev_table; cuda/kvcache.cu), and k, v are NULL. Lengths,
 * the table and the counts live on the host either way. */
#ifndef PIC_MODEL_KVCACHE_H
#define PIC_MODEL_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/config.h"
#include "model/error.h"

/* Positions per page: a multiple of every attention kernel's chunk of keys
 * (16 on the CPU, 32 and 64 on a GPU), so that no chunk straddles two
 * pages and a paged sequence is read in the same chunks, at the same
 * absolute positions, as a contiguous one (the same bits: docs/model.md). */
enum { PIC_KV_PAGE = 64 };

typedef struct {
    int n_layers, n_slots, max_len, kv_dim;
    int n_pages;         /* the pool, the same in every layer */
    int slot_pages;      /* a table row: ceil(max_len / PIC_KV_PAGE) */
    float *k, *v;        /* CPU: [L][n_pages][PIC_KV_PAGE][kv_dim] */
    int *len;            /* [n_slots] positions filled */
    int *table;          /* [n_slots][slot_pages] page of each PIC_KV_PAGE positions, -1 where none */
    int *refs;           /* [n_pages] table entries naming the page */
    int *free_list;      /* [n_pages] a stack of the unused pages, n_free of them */
    int n_free;
    int peak;            /* the most pages in use at once (what --kv-cache-tokens could be) */
    bool *dirty;         /* [n_slots] table rows changed since the device copy (GPU) */
    void *dev_k, *dev_v; /* GPU: the same layout, elem_bytes per value */
    int *dev_table;      /* GPU: the table */
    size_t elem_bytes;
    void *stream;        /* GPU: the model's stream (copies stay in order with its forwards) */
    /* GPU decode attention (cuda/attention.cu): a step's work items, pairs
     * (row, segment), staged on the host and copied each step; and the
     * partial sums of rows split over segments (NULL when not split) */
    int seg_cap;         /* segments of a slot at max_len */
    int *work, *dev_work; /* [1 + n_slots * seg_cap][2] */
    float *dev_part;     /* [n_slots * seg_cap][n_heads][head_dim + 2] */
} pic_kvcache;

/* Pages for every slot at max_len: the most the slots can ever hold. */
static inline int pic_kvcache_full_pages(int n_slots, int max_len) {
    return n_slots * ((max_len + PIC_KV_PAGE - 1) / PIC_KV_PAGE);
}

/* A CPU cache of n_pages pages (0: pic_kvcache_full_pages) for n_slots
 * sequences of up to max_len positions each. */
pic_kvcache *pic_kvcache_new(const pic_config *c, int n_slots, int max_len, int n_pages);
void pic_kvcache_free(pic_kvcache *kv);

/* The first of the PIC_KV_PAGE rows of page p in a layer (CPU). */
static inline float *pic_kvcache_k(const pic_kvcache *kv, int layer, int page) {
    return kv->k + ((size_t)layer * kv->n_pages + (size_t)page) * PIC_KV_PAGE * kv->kv_dim;
}
static inline float *pic_kvcache_v(const pic_kvcache *kv, int layer, int page) {
    return kv->v + ((size_t)layer * kv->n_pages + (size_t)page) * PIC_KV_PAGE * kv->kv_dim;
}
/* The page holding position pos of slot (which must have it). */
static inline int pic_kvcache_page(const pic_kvcache *kv, int slot, int pos) {
    return kv->table[(size_t)slot * kv->slot_pages + (size_t)(pos / PIC_KV_PAGE)];
}

/* The free pages slot would take to be written from its length up to len
 * (new pages, and a copy of a shared page it writes into). */
int pic_kvcache_pages_needed(const pic_kvcache *kv, int slot, int len);
/* The free pages that growing slots[i] to lens[i], for each i (distinct
 * slots) in one batch, takes: pic_kvcache_pages_needed's sum, less the
 * copy the last writer of a shared page does not make when every holder
 * of the page writes into it in the batch (n samples decoding their first
 * token after a prompt whose last page they share take n - 1 copies). */
long pic_kvcache_batch_pages(const pic_kvcache *kv, int n, const int *slots, const int *lens);
/* Makes positions len[slot] .. len - 1 of slot writable: pages from the
 * pool, and a private copy of a shared page they fall in. Fails, taking
 * nothing, when the pool has too few free pages or len passes max_len. */
int pic_kvcache_grow(pic_kvcache *kv, int slot, int len, pic_err *err);
/* Forgets positions from len on (len 0 empties the slot); pages no slot
 * holds any more go back to the pool. */
void pic_kvcache_truncate(pic_kvcache *kv, int slot, int len);
/* Makes slot dst hold the first n positions of slot src by sharing its
 * pages (n <= src's length; src == dst truncates): a prompt prefilled
 * once, read by all its samples. */
void pic_kvcache_copy(pic_kvcache *kv, int dst, int src, int n);

#endif
