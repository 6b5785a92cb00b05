#include "model/kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/cuda/entry.h"
#include "model/model.h"

/* The host side, the same for both devices: lengths, table, counts, the
 * free list. */
static void init_pages(pic_kvcache *kv, const pic_config *c, int n_slots, int max_len, int n_pages) {
    kv->n_layers = c->n_layers;
    kv->n_slots = n_slots;
    kv->max_len = max_len;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    kv->slot_pages = (max_len + PIC_KV_PAGE - 1) / PIC_KV_PAGE;
    kv->n_pages = n_pages > 0 ? n_pages : pic_kvcache_full_pages(n_slots, max_len);
    kv->len = pic_calloc((size_t)n_slots, sizeof(int));
    kv->table = pic_malloc(((size_t)n_slots * kv->slot_pages + 1) * sizeof(int));
    for (size_t i = 0; i < (size_t)n_slots * kv->slot_pages; i++) kv->table[i] = -1;
    kv->refs = pic_calloc((size_t)kv->n_pages, sizeof(int));
    kv->free_list = pic_malloc((size_t)kv->n_pages * sizeof(int));
    /* the lowest pages on top: a small run touches only the start of the pool */
    for (int p = 0; p < kv->n_pages; p++) kv->free_list[p] = kv->n_pages - 1 - p;
    kv->n_free = kv->n_pages;
    kv->dirty = pic_calloc((size_t)n_slots, sizeof(bool));
}

pic_kvcache *pic_kvcache_new(const pic_config *c, int n_slots, int max_len, int n_pages) {
    pic_kvcache *kv = pic_calloc(1, sizeof *kv);
    init_pages(kv, c, n_slots, max_len, n_pages);
    size_t n = (size_t)c->n_layers * kv->n_pages * PIC_KV_PAGE * kv->kv_dim, bytes = (n * sizeof(float) + 63) / 64 * 64;
    /* Untouched pages cost nothing until a slot grows into them. Aligned to
     * a cache line, so that a head's row (a multiple of 64 bytes in every
     * model pic knows) is whole lines: malloc's 16-byte offset split every
     * second 32-byte load of decode attention across two lines (-30% of its
     * time at batch 8, docs/model.md). */
    kv->k = pic_alloc_pages(bytes);
    kv->v = pic_alloc_pages(bytes);
    if (!kv->k || !kv->v)
        pic_die("out of memory for a KV cache of %d pages of %d positions (%zu bytes)", kv->n_pages, PIC_KV_PAGE,
                2 * bytes);
    kv->elem_bytes = sizeof(float);
    return kv;
}

/* What a GPU leaves the cache by default: its free memory less a margin
 * for what generation allocates after the cache (the device sampler's
 * sort buffers, 16 bytes a logit of 64 rows: 155 MB for a 152k
 * vocabulary, and CUB's scratch), in whole pages, at most every slot at
 * its longest and at least one slot at its longest (which then fails to
 * allocate, with the message that says what to lower). */
static int pages_that_fit(const pic_model *m, int n_slots, int max_len) {
    int full = pic_kvcache_full_pages(n_slots, max_len), one = pic_kvcache_full_pages(1, max_len);
    size_t elem = m->dtype == PIC_DTYPE_BF16 ? 2 : 4, free_b = pic_cuda_free_bytes();
    size_t page = 2 * (size_t)m->cfg.n_layers * PIC_KV_PAGE * m->cfg.n_kv_heads * m->cfg.head_dim * elem;
    size_t margin = ((size_t)1 << 30) + 64 * 16 * (size_t)m->cfg.vocab_size +
                    pic_kvcache_extra_bytes_cuda(m, n_slots, max_len);
    if (!free_b) return full;
    size_t fit = free_b > margin ? (free_b - margin) / page : 0;
    return fit >= (size_t)full ? full : fit > (size_t)one ? (int)fit : one;
}

pic_kvcache *pic_kvcache_for(const pic_model *m, int n_slots, int max_len, int n_pages, pic_err *err) {
    if (m->device != PIC_DEVICE_CUDA) return pic_kvcache_new(&m->cfg, n_slots, max_len, n_pages);
    if (!n_pages) n_pages = pages_that_fit(m, n_slots, max_len);
    pic_kvcache *kv = pic_calloc(1, sizeof *kv);
    init_pages(kv, &m->cfg, n_slots, max_len, n_pages);
    if (pic_kvcache_alloc_cuda(kv, m, err)) {
        pic_kvcache_free(kv);
        return NULL;
    }
    return kv;
}

void pic_kvcache_free(pic_kvcache *kv) {
    if (!kv) return;
    if (kv->dev_k || kv->dev_table) pic_kvcache_free_cuda(kv);
    free(kv->k);
    free(kv->v);
    free(kv->len);
    free(kv->table);
    free(kv->refs);
    free(kv->free_list);
    free(kv->dirty);
    free(kv);
}

static int *row(const pic_kvcache *kv, int slot) { return kv->table + (size_t)slot * kv->slot_pages; }

static int pages_for(int len) { return (len + PIC_KV_PAGE - 1) / PIC_KV_PAGE; }

static void release(pic_kvcache *kv, int page) {
    if (--kv->refs[page] == 0) kv->free_list[kv->n_free++] = page;
}

/* The page a write at the slot's length falls in when the slot shares it
 * (-1: none, or the slot's own). */
static int shared_tail(const pic_kvcache *kv, int slot) {
    int at = kv->len[slot];
    if (at % PIC_KV_PAGE == 0) return -1;
    int p = row(kv, slot)[at / PIC_KV_PAGE];
    return kv->refs[p] > 1 ? p : -1;
}

/* Table entries are the truth of what a slot holds: a forward that took
 * pages and then failed leaves them there, past the slot's length, for
 * the next grow to use or truncate to give back. */
int pic_kvcache_pages_needed(const pic_kvcache *kv, int slot, int len) {
    if (len <= kv->len[slot]) return 0;
    const int *r = row(kv, slot);
    int need = shared_tail(kv, slot) >= 0;
    for (int i = kv->len[slot] / PIC_KV_PAGE; i < pages_for(len); i++) need += r[i] < 0;
    return need;
}

static int by_value(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

long pic_kvcache_batch_pages(const pic_kvcache *kv, int n, const int *slots, const int *lens) {
    long need = 0;
    int n_tails = 0, *tails = NULL;
    for (int i = 0; i < n; i++) {
        int slot = slots[i], p = lens[i] > kv->len[slot] ? shared_tail(kv, slot) : -1;
        need += pic_kvcache_pages_needed(kv, slot, lens[i]);
        if (p < 0) continue;
        if (!tails) tails = pic_malloc((size_t)n * sizeof *tails);
        tails[n_tails++] = p;
    }
    /* A shared page is copied by each holder that writes into it but the
     * last: by then the others have let it go, and it writes in place. */
    if (n_tails > 1) { /* one holder alone never holds all of a shared page's references */
        qsort(tails, (size_t)n_tails, sizeof *tails, by_value);
        for (int i = 0, j; i < n_tails; i = j) {
            for (j = i; j < n_tails && tails[j] == tails[i]; j++) continue;
            if (j - i == kv->refs[tails[i]]) need--;
        }
    }
    free(tails);
    return need;
}

/* All layers' rows of page src into page dst. */
static void copy_page(pic_kvcache *kv, int dst, int src) {
    if (kv->dev_k) {
        pic_err err;
        if (pic_kvcache_copy_page_cuda(kv, dst, src, &err)) pic_die("%s", err.msg);
        return;
    }
    size_t bytes = (size_t)PIC_KV_PAGE * kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(pic_kvcache_k(kv, l, dst), pic_kvcache_k(kv, l, src), bytes);
        memcpy(pic_kvcache_v(kv, l, dst), pic_kvcache_v(kv, l, src), bytes);
    }
}

int pic_kvcache_grow(pic_kvcache *kv, int slot, int len, pic_err *err) {
    if (slot < 0 || slot >= kv->n_slots) return pic_err_set(err, "kv cache slot %d does not exist", slot);
    if (len > kv->max_len)
        return pic_err_set(err, "slot %d: %d positions overflow the kv cache (%d positions a slot)", slot, len,
                           kv->max_len);
    int need = pic_kvcache_pages_needed(kv, slot, len);
    if (need > kv->n_free)
        return pic_err_set(err,
                           "the kv cache has %d free pages of %d positions and slot %d needs %d "
                           "(raise --kv-cache-tokens, or lower --max-batch-size)",
                           kv->n_free, PIC_KV_PAGE, slot, need);
    if (!need) return 0;
    int *r = row(kv, slot), shared = shared_tail(kv, slot);
    if (shared >= 0 && len > kv->len[slot]) { /* copy on write */
        int p = kv->free_list[--kv->n_free];
        kv->refs[p] = 1;
        copy_page(kv, p, shared);
        release(kv, shared);
        r[kv->len[slot] / PIC_KV_PAGE] = p;
    }
    for (int i = kv->len[slot] / PIC_KV_PAGE; i < pages_for(len); i++)
        if (r[i] < 0) {
            r[i] = kv->free_list[--kv->n_free];
            kv->refs[r[i]] = 1;
        }
    kv->dirty[slot] = true;
    if (kv->n_pages - kv->n_free > kv->peak) kv->peak = kv->n_pages - kv->n_free;
    return 0;
}

void pic_kvcache_truncate(pic_kvcache *kv, int slot, int len) {
    if (slot < 0 || slot >= kv->n_slots || len < 0 || len > kv->len[slot])
        pic_die("kv cache: cannot truncate slot %d to %d", slot, len);
    int *r = row(kv, slot);
    for (int i = pages_for(len); i < kv->slot_pages && r[i] >= 0; i++) {
        release(kv, r[i]);
        r[i] = -1;
    }
    kv->len[slot] = len;
    kv->dirty[slot] = true;
}

void pic_kvcache_copy(pic_kvcache *kv, int dst, int src, int n) {
    if (dst < 0 || dst >= kv->n_slots || src < 0 || src >= kv->n_slots || n < 0 || n > kv->len[src])
        pic_die("kv cache: %d positions of slot %d (%d held) do not fit slot %d", n, src,
                src >= 0 && src < kv->n_slots ? kv->len[src] : 0, dst);
    if (dst == src) {
        pic_kvcache_truncate(kv, dst, n);
        return;
    }
    pic_kvcache_truncate(kv, dst, 0);
    int *d = row(kv, dst), *s = row(kv, src);
    for (int i = 0; i < pages_for(n); i++) {
        d[i] = s[i];
        kv->refs[d[i]]++;
    }
    kv->len[dst] = n;
}
