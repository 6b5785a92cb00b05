/* Counter-free, splittable random numbers: a stream is a pure function of
 * (seed, a, b) — say (seed, prompt index, sample index) — so results do not
 * depend on batch size, thread count or the order work finishes in.
 * splitmix64 derives the state; xoshiro256** generates. Header-only. */
#ifndef PIC_RNG_H
#define PIC_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} pic_rng;

#define PIC_SPLITMIX64_GAMMA 0x9e3779b97f4a7c15ull

static inline uint64_t pic_splitmix64(uint64_t *x) {
    uint64_t z = (*x += PIC_SPLITMIX64_GAMMA);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The state k draws after x: splitmix64's state only steps by its gamma,
 * so a stream can be cut into pieces drawn in any order (or in parallel). */
static inline uint64_t pic_splitmix64_skip(uint64_t x, uint64_t k) { return x + k * PIC_SPLITMIX64_GAMMA; }

/* The stream for (seed, a, b): each key is mixed in turn, so (1,2,3) and
 * (1,3,2) give unrelated streams. */
static inline void pic_rng_seed(pic_rng *r, uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t x = seed;
    x = pic_splitmix64(&x) ^ a;
    x = pic_splitmix64(&x) ^ b;
    for (int i = 0; i < 4; i++) r->s[i] = pic_splitmix64(&x);
}

static inline uint64_t pic_rng_u64(pic_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double pic_rng_uniform(pic_rng *r) {
    return (double)(pic_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0, without modulo bias (Lemire). */
static inline uint64_t pic_rng_below(pic_rng *r, uint64_t n) {
    for (;;) {
        __uint128_t m = (__uint128_t)pic_rng_u64(r) * n;
        uint64_t lo = (uint64_t)m;
        if (lo >= n || lo >= (uint64_t)(-n) % n) return (uint64_t)(m >> 64);
    }
}

#endif
