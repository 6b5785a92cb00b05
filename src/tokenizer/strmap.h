/* Open-addressing hash maps for the tokenizer: strings (vocabularies, the
 * word cache) and id pairs (BPE merges). Keys are copied into a pool owned by
 * the map, so callers may free theirs. Not thread-safe for writes. */
#ifndef PIC_TOK_STRMAP_H
#define PIC_TOK_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t hash, len, off; /* len == UINT32_MAX marks an empty slot */
    int32_t val;
} pic_strmap_slot;

typedef struct {
    pic_strmap_slot *slots;
    size_t cap, n; /* cap is a power of two */
    char *pool;
    size_t pool_len, pool_cap;
} pic_strmap;

void pic_strmap_init(pic_strmap *m, size_t expected);
void pic_strmap_free(pic_strmap *m);
void pic_strmap_clear(pic_strmap *m);
/* The value of key, or -1. */
int32_t pic_strmap_get(const pic_strmap *m, const char *key, size_t len);
/* Sets key to val; returns the previous value, or -1 if the key was new. */
int32_t pic_strmap_put(pic_strmap *m, const char *key, size_t len, int32_t val);

/* (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t key; /* UINT64_MAX marks an empty slot */
    uint32_t rank;
    int32_t merged;
} pic_pairmap_slot;

typedef struct {
    pic_pairmap_slot *slots;
    size_t cap, n;
} pic_pairmap;

void pic_pairmap_init(pic_pairmap *m, size_t expected);
void pic_pairmap_free(pic_pairmap *m);
/* Returns 1 and fills rank/merged when the pair is a merge, else 0. */
int pic_pairmap_get(const pic_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged);
/* Sets a merge; a pair listed twice keeps its later rank, as HF tokenizers'
 * HashMap collect does. Returns 0 if the pair was already present. */
int pic_pairmap_put(pic_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);

uint32_t pic_hash_bytes(const char *s, size_t n);

#endif
