/* The BPE model: a word's characters become symbols, then the lowest-ranked
 * mergeable adjacent pair is merged until none is left. A heap of
 * candidate merges keyed by (rank, position) makes this O(n log n) in the
 * word's length (the textbook rescan is quadratic, which one long word turns
 * into minutes) and reproduces HF's order exactly: equal ranks merge
 * leftmost first, and a popped candidate whose symbols have changed since it
 * was pushed is dropped. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

enum { CACHE_MAX_WORD = 256, CACHE_MAX_ENTRIES = 1 << 18, CACHE_MAX_IDS = 1 << 22 };

typedef struct {
    int32_t id, prev, next;
    bool gone;
} sym;

/* A candidate merge: (rank << 32 | position), so one integer compare orders
 * by rank, then leftmost first. Ranks are the merge rules' line numbers, one
 * per pair, so the rank alone tells whether the pair is still the same. */
typedef uint64_t cand;

typedef struct {
    sym *s;
    size_t n, cap;
    cand *h;
    size_t hn, hcap;
} word;

/* An 8-ary min-heap: a node's eight children share one 64-byte cache line
 * and a million-symbol word's heap is 7 levels deep instead of 20, so a pop
 * costs a few cache misses instead of twenty (the binary heap's misses were
 * most of the time on a megabyte of spaces or of one letter). */
enum { ARITY = 8 };

static void heap_push(word *w, cand c) {
    if (w->hn == w->hcap) {
        w->hcap = w->hcap ? w->hcap * 2 : 64;
        w->h = pic_realloc(w->h, w->hcap * sizeof *w->h);
    }
    size_t i = w->hn++;
    while (i > 0) {
        size_t p = (i - 1) / ARITY;
        if (c >= w->h[p]) break;
        w->h[i] = w->h[p];
        i = p;
    }
    w->h[i] = c;
}

static cand heap_pop(word *w) {
    cand top = w->h[0], last = w->h[--w->hn];
    size_t i = 0, n = w->hn;
    for (;;) {
        size_t first = ARITY * i + 1, end = first + ARITY < n ? first + ARITY : n, m = first;
        if (first >= n) break;
        for (size_t c = first + 1; c < end; c++)
            if (w->h[c] < w->h[m]) m = c;
        if (w->h[m] >= last) break;
        w->h[i] = w->h[m];
        i = m;
    }
    if (n) w->h[i] = last;
    return top;
}

static void add_sym(word *w, int32_t id) {
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->s = pic_realloc(w->s, w->cap * sizeof *w->s);
    }
    w->s[w->n] = (sym){id, (int32_t)w->n - 1, (int32_t)w->n + 1, false};
    w->n++;
}

static void push_pair(const pic_tokenizer *t, word *w, int32_t pos) {
    int32_t nx = w->s[pos].next;
    if (nx < 0 || (size_t)nx >= w->n) return;
    uint32_t rank;
    int32_t merged;
    if (pic_pairmap_get(&t->merges, w->s[pos].id, w->s[nx].id, &rank, &merged))
        heap_push(w, (cand)rank << 32 | (uint32_t)pos);
}

/* Splits w into symbols: vocabulary characters, else <0xXX> byte tokens
 * (byte_fallback), else the unknown token (runs fused with fuse_unk), else
 * nothing, in the order HF's merge_word applies these rules. */
static void initial_symbols(const pic_tokenizer *t, word *wd, const char *w, size_t n) {
    int32_t unk = -1;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = pic_utf8_next(w, n, i, &cp);
        if (l <= 0) l = 1; /* pieces are valid UTF-8; this only guards the loop */
        int32_t id = pic_strmap_get(&t->vocab, w + i, (size_t)l);
        if (id >= 0) {
            if (unk >= 0) add_sym(wd, unk), unk = -1;
            add_sym(wd, id);
        } else {
            bool fell_back = false;
            if (t->byte_fallback) {
                fell_back = true;
                for (int k = 0; k < l; k++)
                    if (t->byte_tok[(unsigned char)w[i + k]] < 0) fell_back = false;
                if (fell_back)
                    for (int k = 0; k < l; k++) add_sym(wd, t->byte_tok[(unsigned char)w[i + k]]);
            }
            if (!fell_back && t->unk_id >= 0) {
                if (unk >= 0 && !t->fuse_unk) add_sym(wd, unk);
                unk = t->unk_id;
            }
        }
        i += (size_t)l;
    }
    if (unk >= 0) add_sym(wd, unk);
    if (wd->n) wd->s[wd->n - 1].next = -1;
}

static void merge_all(const pic_tokenizer *t, word *w) {
    w->hn = 0;
    for (size_t i = 0; i + 1 < w->n; i++) push_pair(t, w, (int32_t)i);
    while (w->hn) {
        cand c = heap_pop(w);
        uint32_t pos = (uint32_t)c;
        sym *a = &w->s[pos];
        if (a->gone || a->next < 0) continue;
        sym *b = &w->s[a->next];
        uint32_t rank;
        int32_t merged;
        if (!pic_pairmap_get(&t->merges, a->id, b->id, &rank, &merged) || rank != (uint32_t)(c >> 32)) continue;
        a->id = merged;
        b->gone = true;
        a->next = b->next;
        if (a->next >= 0) w->s[a->next].prev = (int32_t)pos;
        if (a->prev >= 0) push_pair(t, w, a->prev);
        push_pair(t, w, (int32_t)pos);
    }
}

static void cache_put(tk_state *st, const char *w, size_t n, const int32_t *ids, size_t k) {
    if (st->cache_entries >= CACHE_MAX_ENTRIES || st->cache_ids.n + k > CACHE_MAX_IDS) {
        /* full: start over rather than evict, the working set of a corpus is
         * its frequent words, which come straight back */
        pic_strmap_clear(&st->cache);
        st->cache_entries = 0;
        st->cache_ids.n = 0;
    }
    if (st->cache_entries == st->cache_entries_cap) {
        st->cache_entries_cap = st->cache_entries_cap ? st->cache_entries_cap * 2 : 4096;
        st->cache_at = pic_realloc(st->cache_at, st->cache_entries_cap * 2 * sizeof *st->cache_at);
    }
    st->cache_at[2 * st->cache_entries] = (uint32_t)st->cache_ids.n;
    st->cache_at[2 * st->cache_entries + 1] = (uint32_t)k;
    for (size_t i = 0; i < k; i++) tk_ids_add(&st->cache_ids, ids[i]);
    pic_strmap_put(&st->cache, w, n, (int32_t)st->cache_entries++);
}

void tk_bpe_word(const pic_tokenizer *t, tk_state *st, const char *w, size_t n, tk_ids *out) {
    bool cacheable = st->use_cache && n <= CACHE_MAX_WORD;
    if (cacheable) {
        int32_t e = pic_strmap_get(&st->cache, w, n);
        if (e >= 0) {
            uint32_t off = st->cache_at[2 * e], k = st->cache_at[2 * e + 1];
            for (uint32_t i = 0; i < k; i++) tk_ids_add(out, st->cache_ids.v[off + i]);
            return;
        }
    }
    size_t first = out->n;
    int32_t whole = t->ignore_merges ? pic_strmap_get(&t->vocab, w, n) : -1;
    if (whole >= 0) {
        tk_ids_add(out, whole);
    } else {
        word wd = {0};
        initial_symbols(t, &wd, w, n);
        merge_all(t, &wd);
        for (int32_t i = wd.n ? 0 : -1; i >= 0; i = wd.s[i].next) tk_ids_add(out, wd.s[i].id);
        free(wd.s);
        free(wd.h);
    }
    if (cacheable) cache_put(st, w, n, out->v + first, out->n - first);
}
