#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

#define EMPTY_LEN UINT32_MAX
#define EMPTY_KEY UINT64_MAX

/* FNV-1a folded through a final avalanche: vocabulary strings are short and
 * share prefixes, which plain FNV spreads poorly over a power-of-two table. */
uint32_t pic_hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static void strmap_alloc(pic_strmap *m, size_t cap) {
    m->slots = pic_malloc(cap * sizeof *m->slots);
    m->cap = cap;
    for (size_t i = 0; i < cap; i++) m->slots[i].len = EMPTY_LEN;
}

void pic_strmap_init(pic_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    strmap_alloc(m, pow2_at_least(expected * 2));
}

void pic_strmap_free(pic_strmap *m) {
    free(m->slots);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

void pic_strmap_clear(pic_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) m->slots[i].len = EMPTY_LEN;
    m->n = 0;
    m->pool_len = 0;
}

static size_t find_slot(const pic_strmap *m, const char *key, size_t len, uint32_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        const pic_strmap_slot *s = &m->slots[i];
        if (s->len == EMPTY_LEN) return i;
        if (s->hash == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

int32_t pic_strmap_get(const pic_strmap *m, const char *key, size_t len) {
    uint32_t h = pic_hash_bytes(key, len);
    const pic_strmap_slot *s = &m->slots[find_slot(m, key, len, h)];
    return s->len == EMPTY_LEN ? -1 : s->val;
}

static void strmap_grow(pic_strmap *m) {
    pic_strmap_slot *old = m->slots;
    size_t oldcap = m->cap;
    strmap_alloc(m, oldcap * 2);
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].len == EMPTY_LEN) continue;
        size_t mask = m->cap - 1, j = old[i].hash & mask;
        while (m->slots[j].len != EMPTY_LEN) j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

int32_t pic_strmap_put(pic_strmap *m, const char *key, size_t len, int32_t val) {
    if (len >= EMPTY_LEN) pic_die("tokenizer: a string of %zu bytes is too long for a map key", len);
    uint32_t h = pic_hash_bytes(key, len);
    pic_strmap_slot *s = &m->slots[find_slot(m, key, len, h)];
    if (s->len != EMPTY_LEN) {
        int32_t prev = s->val;
        s->val = val;
        return prev;
    }
    if (m->pool_len + len > m->pool_cap) {
        m->pool_cap = (m->pool_len + len) * 2 + 256;
        m->pool = pic_realloc(m->pool, m->pool_cap);
    }
    if (len) memcpy(m->pool + m->pool_len, key, len);
    s->hash = h;
    s->len = (uint32_t)len;
    s->off = (uint32_t)m->pool_len;
    s->val = val;
    m->pool_len += len;
    if (m->pool_len >= UINT32_MAX) pic_die("tokenizer: map key pool over 4 GiB");
    if (++m->n * 4 > m->cap * 3) strmap_grow(m);
    return -1;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static void pairmap_alloc(pic_pairmap *m, size_t cap) {
    m->slots = pic_malloc(cap * sizeof *m->slots);
    m->cap = cap;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = EMPTY_KEY;
}

void pic_pairmap_init(pic_pairmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    pairmap_alloc(m, pow2_at_least(expected * 2));
}

void pic_pairmap_free(pic_pairmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t pair_slot(const pic_pairmap *m, uint64_t key) {
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    while (m->slots[i].key != EMPTY_KEY && m->slots[i].key != key) i = (i + 1) & mask;
    return i;
}

int pic_pairmap_get(const pic_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    const pic_pairmap_slot *s = &m->slots[pair_slot(m, pair_key(a, b))];
    if (s->key == EMPTY_KEY) return 0;
    *rank = s->rank;
    *merged = s->merged;
    return 1;
}

int pic_pairmap_put(pic_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t key = pair_key(a, b);
    pic_pairmap_slot *s = &m->slots[pair_slot(m, key)];
    int fresh = s->key == EMPTY_KEY;
    s->key = key;
    s->rank = rank;
    s->merged = merged;
    if (fresh && ++m->n * 4 > m->cap * 3) {
        pic_pairmap_slot *old = m->slots;
        size_t oldcap = m->cap;
        pairmap_alloc(m, oldcap * 2);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].key != EMPTY_KEY) m->slots[pair_slot(m, old[i].key)] = old[i];
        free(old);
    }
    return fresh;
}
