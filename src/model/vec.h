/* Sixteen-float vectors for the kernels (matmul_bi.c, attention.c,
 * logits.c): GCC's vector extension, one AVX-512 register, two AVX2 ones or
 * four SSE ones, so one source serves every instruction set. Every helper
 * here is a fixed sequence of IEEE operations that the compiler never fuses
 * (ISO C's -ffp-contract=off), so its results are the same bits on every
 * instruction set. Fused multiply-adds are explicit (v16_fma_*: intrinsics,
 * or fmaf() lane by lane), one correctly rounded step on every target, so
 * they too give the same bits everywhere. Vectors only pass between
 * always-inlined helpers, never through a real call, so the ABI note about
 * 64-byte vector arguments does not apply. */
#ifndef PIC_MODEL_VEC_H
#define PIC_MODEL_VEC_H

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "model/x86_intrin.h"

#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef int i8 __attribute__((vector_size(32)));

/* GCC 12 lowers a compare or a two-source shuffle of 64-byte vectors one lane
 * at a time where the target has no 64-byte registers (AVX2: about 120
 * instructions for one v16 compare, 650 for v16_reduce16), but 32-byte ones
 * to a few instructions on AVX2 and AVX-512 alike. So the compares here take
 * `halves` (true in the AVX2 kernels) to work on the two halves (lanes 0-7,
 * 8-15), which gives the same bits, and the AVX2 kernels reduce with
 * v8_reduce8x8 instead of v16_reduce16. */
typedef union {
    v16 v;
    v8 h[2];
} v16_halves;
typedef union {
    i16 v;
    i8 h[2];
} i16_halves;

#define VEC_INLINE static inline __attribute__((always_inline))

/* z + x y lane by lane, rounded once, and x in every lane (a kernel takes
 * them as parameters, so that one always-inlined body serves every target:
 * GCC 12 builds a generic vector of one value that feeds an intrinsic lane
 * by lane, sixteen masked moves, so the broadcast is the target's too). */
typedef v16 (*v16_fma_fn)(v16 x, v16 y, v16 z);
typedef v16 (*v16_splat_fn)(float x);

VEC_INLINE v16 v16_splat_c(float x) {
    v16 v;
    for (int l = 0; l < 16; l++) v[l] = x;
    return v;
}

/* Without FMA hardware: the C library's fmaf(), correctly rounded. */
VEC_INLINE v16 v16_fma_c(v16 x, v16 y, v16 z) {
    for (int l = 0; l < 16; l++) z[l] = fmaf(x[l], y[l], z[l]);
    return z;
}

/* The same at eight lanes: the AVX2 kernels keep their sums in v8 variables
 * (GCC 12 has no register for a v16 without AVX-512, so a v16 variable lives
 * in memory there and every operation on it loads and stores). */
typedef v8 (*v8_fma_fn)(v8 x, v8 y, v8 z);
typedef v8 (*v8_splat_fn)(float x);

VEC_INLINE v8 v8_splat_c(float x) { return (v8){0} + x; }

VEC_INLINE v8 v8_fma_c(v8 x, v8 y, v8 z) {
    for (int l = 0; l < 8; l++) z[l] = fmaf(x[l], y[l], z[l]);
    return z;
}

#if PIC_X86_KERNELS
#define V16_TARGET_AVX2 PIC_TARGET("avx2,fma")
#define V16_TARGET_AVX512 PIC_TARGET("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")

V16_TARGET_AVX2 VEC_INLINE v16 v16_splat_avx2(float x) {
    union {
        v16 v;
        __m256 h[2];
    } u;
    u.h[0] = u.h[1] = _mm256_set1_ps(x);
    return u.v;
}

V16_TARGET_AVX2 VEC_INLINE v16 v16_fma_avx2(v16 x, v16 y, v16 z) {
    union {
        v16 v;
        __m256 h[2];
    } a = {x}, b = {y}, c = {z};
    c.h[0] = _mm256_fmadd_ps(a.h[0], b.h[0], c.h[0]);
    c.h[1] = _mm256_fmadd_ps(a.h[1], b.h[1], c.h[1]);
    return c.v;
}

V16_TARGET_AVX2 VEC_INLINE v8 v8_splat_avx2(float x) { return (v8)_mm256_set1_ps(x); }
V16_TARGET_AVX2 VEC_INLINE v8 v8_fma_avx2(v8 x, v8 y, v8 z) { return (v8)_mm256_fmadd_ps((__m256)x, (__m256)y, (__m256)z); }
V16_TARGET_AVX512 VEC_INLINE v8 v8_splat_avx512(float x) { return (v8)_mm256_set1_ps(x); }
V16_TARGET_AVX512 VEC_INLINE v8 v8_fma_avx512(v8 x, v8 y, v8 z) { return (v8)_mm256_fmadd_ps((__m256)x, (__m256)y, (__m256)z); }

V16_TARGET_AVX512 VEC_INLINE v16 v16_splat_avx512(float x) { return (v16)_mm512_set1_ps(x); }

V16_TARGET_AVX512 VEC_INLINE v16 v16_fma_avx512(v16 x, v16 y, v16 z) {
    return (v16)_mm512_fmadd_ps((__m512)x, (__m512)y, (__m512)z);
}
#endif

VEC_INLINE v16 v16_load(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first n (0..16) floats of p, zeros after them. A memcpy of a
 * variable size is a call to the C library's, per vector: whole vectors
 * (every one but a row's last) take the one-instruction path. */
VEC_INLINE v16 v16_loadn(const float *p, int n) {
    if (n == 16) return v16_load(p);
    v16 v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

VEC_INLINE void v16_storen(float *p, v16 v, int n) {
    if (n == 16)
        memcpy(p, &v, sizeof v);
    else
        memcpy(p, &v, (size_t)n * sizeof(float));
}

VEC_INLINE v8 v8_load(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The eight floats of p from d on, zeros at and past n (the row's length). */
VEC_INLINE v8 v8_load_to(const float *p, int d, int n) {
    v8 v = {0};
    if (n - d >= 8)
        memcpy(&v, p + d, sizeof v);
    else if (n > d)
        memcpy(&v, p + d, (size_t)(n - d) * sizeof(float));
    return v;
}

VEC_INLINE void v8_storen(float *p, v8 v, int n) {
    if (n == 8)
        memcpy(p, &v, sizeof v);
    else
        memcpy(p, &v, (size_t)n * sizeof(float));
}

/* What a kernel body takes of its instruction set: its FMAs and broadcasts
 * at both widths, and whether its products keep their sums in v8 registers
 * (AVX2) or v16 ones (AVX-512; the scalar build either way). A constant in
 * each instantiation, so every choice is made at compile time. */
typedef struct {
    v16_fma_fn fma;
    v16_splat_fn splat;
    v8_fma_fn fma8;
    v8_splat_fn splat8;
    bool halves;
} vec_isa;

#define VEC_ISA(SUF, HALVES) ((vec_isa){v16_fma_##SUF, v16_splat_##SUF, v8_fma_##SUF, v8_splat_##SUF, HALVES})

/* K(SUFFIX, TARGET ATTRIBUTE, HALVES) once per instruction set this build
 * has kernels for: scalar (fmaf), and on x86-64 (or over SIMDe,
 * x86_intrin.h) AVX2 and AVX-512. */
#if PIC_X86_KERNELS
#define VEC_EACH_ISA(K) K(c, , false) K(avx2, V16_TARGET_AVX2, true) K(avx512, V16_TARGET_AVX512, false)
#else
#define VEC_EACH_ISA(K) K(c, , false)
#endif

/* The fixed pairwise tree of matmul_bi.h: lane l + 8 onto lane l, then + 4,
 * + 2, + 1. */
VEC_INLINE float v8_reduce(v8 a) {
    a += __builtin_shuffle(a, (i8){4, 5, 6, 7, 4, 5, 6, 7});
    a += __builtin_shuffle(a, (i8){2, 3, 2, 3, 2, 3, 2, 3});
    a += __builtin_shuffle(a, (i8){1, 1, 1, 1, 1, 1, 1, 1});
    return a[0];
}

VEC_INLINE float v16_reduce(v16 a) {
    v16_halves x = {a};
    return v8_reduce(x.h[0] + x.h[1]);
}

/* The tree's steps l + 4, l + 2, l + 1 for eight vectors at once: lane i of
 * the result is v8_reduce(a[i]), bit for bit. With a[i] the sum of a v16's
 * halves (its step l + 8), lane i is that v16's v16_reduce: the AVX2
 * kernels' form of v16_reduce16, eight sums at a time. */
VEC_INLINE v8 v8_reduce8x8(const v8 a[8]) {
    v8 z[4], y[2];
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) /* lanes 0-3: a[k]'s l + (l + 4); 4-7: a[k + 4]'s */
        z[k] = __builtin_shuffle(a[k], a[k + 4], (i8){0, 1, 2, 3, 8, 9, 10, 11}) +
               __builtin_shuffle(a[k], a[k + 4], (i8){4, 5, 6, 7, 12, 13, 14, 15});
    _Pragma("GCC unroll 2") for (int k = 0; k < 2; k++) /* pairs of lanes: a[k], a[k + 2], a[k + 4], a[k + 6] */
        y[k] = __builtin_shuffle(z[k], z[k + 2], (i8){0, 1, 8, 9, 4, 5, 12, 13}) +
               __builtin_shuffle(z[k], z[k + 2], (i8){2, 3, 10, 11, 6, 7, 14, 15});
    return __builtin_shuffle(y[0], y[1], (i8){0, 8, 2, 10, 4, 12, 6, 14}) +
           __builtin_shuffle(y[0], y[1], (i8){1, 9, 3, 11, 5, 13, 7, 15});
}

/* Lane i of the result is v16_reduce(a[i]), bit for bit (the same additions
 * of the same operands), for sixteen vectors at once: each stage adds the
 * halves of two vectors into one, 15 two-source shuffle pairs for sixteen
 * sums instead of four shuffles per sum. */
VEC_INLINE v16 v16_reduce16(const v16 a[16]) {
    v16 z[8], y[4], x[2];
    _Pragma("GCC unroll 16") for (int k = 0; k < 8; k++) /* lanes 0-7: a[k]'s l + (l + 8); 8-15: a[k + 8]'s */
        z[k] = __builtin_shuffle(a[k], a[k + 8], (i16){0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}) +
               __builtin_shuffle(a[k], a[k + 8], (i16){8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31});
    _Pragma("GCC unroll 16") for (int k = 0; k < 4; k++) /* quarters: a[k], a[k + 4], a[k + 8], a[k + 12] */
        y[k] = __builtin_shuffle(z[k], z[k + 4], (i16){0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}) +
               __builtin_shuffle(z[k], z[k + 4], (i16){4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31});
    _Pragma("GCC unroll 16") for (int k = 0; k < 2; k++) /* pairs: lanes 2m, 2m + 1 hold a[k + 2m] */
        x[k] = __builtin_shuffle(y[k], y[k + 2], (i16){0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}) +
               __builtin_shuffle(y[k], y[k + 2], (i16){2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31});
    return __builtin_shuffle(x[0], x[1], (i16){0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}) +
           __builtin_shuffle(x[0], x[1], (i16){1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31});
}

/* a < b lane by lane: one compare (AVX-512; the scalar build), or one per
 * half where halves is set (AVX2, where GCC 12 would go lane by lane). */
VEC_INLINE i16 v16_lt(bool halves, v16 a, v16 b) {
    if (!halves) return a < b;
    v16_halves x = {a}, y = {b};
    i16_halves r;
    r.h[0] = x.h[0] < y.h[0];
    r.h[1] = x.h[1] < y.h[1];
    return r.v;
}

/* a > b ? a : b lane by lane, as MAXPS: b where either is NaN. */
VEC_INLINE v16 v16_max(bool halves, v16 a, v16 b) {
    i16 gt = v16_lt(halves, b, a);
    return (v16)(((i16)a & gt) | ((i16)b & ~gt));
}

/* Lanes i0 + l < n (l = 0..15) set, the others clear. */
VEC_INLINE i16 v16_below(bool halves, int i0, int n) {
    if (!halves) return (i16){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} + i0 < n;
    i16_halves r;
    r.h[0] = (i8){0, 1, 2, 3, 4, 5, 6, 7} + i0 < n;
    r.h[1] = (i8){8, 9, 10, 11, 12, 13, 14, 15} + i0 < n;
    return r.v;
}

/* The largest lane (the order of a max does not matter). */
VEC_INLINE float v16_hmax(bool halves, v16 a) {
    if (halves) {
        v16_halves x = {a};
        v8 m = x.h[0], n = x.h[1];
        i8 gt = m > n;
        m = (v8)(((i8)m & gt) | ((i8)n & ~gt));
        for (int s = 4; s >= 1; s /= 2)
            for (int l = 0; l < s; l++) m[l] = m[l] > m[l + s] ? m[l] : m[l + s];
        return m[0];
    }
    a = v16_max(false, a, __builtin_shuffle(a, (i16){8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
    a = v16_max(false, a, __builtin_shuffle(a, (i16){4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}));
    a = v16_max(false, a, __builtin_shuffle(a, (i16){2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1}));
    a = v16_max(false, a, __builtin_shuffle(a, (i16){1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}));
    return a[0];
}

/* exp(x) for x <= 0 (-inf included), about 1 ulp: Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2 / 2, Cephes' degree-6 polynomial for e^r,
 * times 2^n built in the exponent bits. Below -87.3 (where expf turns
 * subnormal) it returns 0. Softmax weights are exp(s - max s), always <= 0.
 * And 1 / (1 + exp(-x)) for every x, from it alone: with e = exp(-|x|),
 * 1 / (1 + e) where x >= 0 and e / (1 + e) where x < 0.
 * One body for both widths (V, its integer type I, LT the lanes' a < b), so
 * that the v8 forms do the same operations lane by lane: AVX2 keeps a v8 in
 * a register, where a v16 lives in memory (AVX2's SwiGLU ran 2x faster at
 * eight lanes). */
#define VEC_EXP_SIGMOID(EXP, SIGMOID, V, I, LT)                                                                \
    VEC_INLINE V EXP(bool halves, V x) {                                                                       \
        (void)halves;                                                                                          \
        const V lo = (V){0} - 87.3365f;                                                                        \
        I tiny = LT(halves, x, lo);                                                                            \
        x = (V)(((I)x & ~tiny) | ((I)lo & tiny));                                                              \
        V t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: round to nearest */                        \
        V n = t - 12582912.0f;                                                                                 \
        V r = x - n * 0.693359375f;                                                                            \
        r = r - n * -2.12194440e-4f;                                                                           \
        V p = 1.9875691500e-4f * r + 1.3981999507e-3f;                                                         \
        p = p * r + 8.3334519073e-3f;                                                                          \
        p = p * r + 4.1665795894e-2f;                                                                          \
        p = p * r + 1.6666665459e-1f;                                                                          \
        p = p * r + 5.0000001201e-1f;                                                                          \
        p = p * (r * r) + r + 1.0f;                                                                            \
        I scale = ((I)t - 0x4b400000 + 127) << 23; /* t's low bits hold n + 1.5 * 2^23 */                      \
        return (V)((I)(p * (V)scale) & ~tiny);                                                                 \
    }                                                                                                          \
    VEC_INLINE V SIGMOID(bool halves, V x) {                                                                   \
        V e = EXP(halves, (V)((I)x | ((I){0} + (-2147483647 - 1)))); /* -|x|: the sign bit set */                \
        V one = (V){0} + 1.0f, pos = one / (one + e), neg = e / (one + e);                                     \
        I below = LT(halves, x, (V){0});                                                                       \
        return (V)(((I)neg & below) | ((I)pos & ~below));                                                      \
    }

#define V8_LT(halves, a, b) ((void)(halves), (a) < (b))
VEC_EXP_SIGMOID(v16_exp_neg, v16_sigmoid, v16, i16, v16_lt)
VEC_EXP_SIGMOID(v8_exp_neg, v8_sigmoid, v8, i8, V8_LT)

#endif
