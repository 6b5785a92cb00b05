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
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));

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

#if defined(__x86_64__)
#define V16_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define V16_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))

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

/* The first n (0..16) floats of p, zeros after them. */
VEC_INLINE v16 v16_loadn(const float *p, int n) {
    v16 v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

VEC_INLINE void v16_storen(float *p, v16 v, int n) { memcpy(p, &v, (size_t)n * sizeof(float)); }

/* The fixed pairwise tree of matmul_bi.h: lane l + 8 onto lane l, then + 4,
 * + 2, + 1. */
VEC_INLINE float v16_reduce(v16 a) {
    a += __builtin_shuffle(a, (i16){8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15});
    a += __builtin_shuffle(a, (i16){4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7});
    a += __builtin_shuffle(a, (i16){2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3});
    a += __builtin_shuffle(a, (i16){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    return a[0];
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

VEC_INLINE v16 v16_max(v16 a, v16 b) {
    i16 gt = a > b;
    return (v16)(((i16)a & gt) | ((i16)b & ~gt));
}

/* The largest lane (the order of a max does not matter). */
VEC_INLINE float v16_hmax(v16 a) {
    a = v16_max(a, __builtin_shuffle(a, (i16){8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
    a = v16_max(a, __builtin_shuffle(a, (i16){4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}));
    a = v16_max(a, __builtin_shuffle(a, (i16){2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1}));
    a = v16_max(a, __builtin_shuffle(a, (i16){1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}));
    return a[0];
}

/* exp(x) for x <= 0 (-inf included), about 1 ulp: Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2 / 2, Cephes' degree-6 polynomial for e^r,
 * times 2^n built in the exponent bits. Below -87.3 (where expf turns
 * subnormal) it returns 0. Softmax weights are exp(s - max s), always <= 0. */
VEC_INLINE v16 v16_exp_neg(v16 x) {
    const v16 lo = (v16){0} - 87.3365f;
    i16 tiny = x < lo;
    x = (v16)(((i16)x & ~tiny) | ((i16)lo & tiny));
    v16 t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: round to nearest */
    v16 n = t - 12582912.0f;
    v16 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v16 p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    i16 scale = ((i16)t - 0x4b400000 + 127) << 23; /* t's low bits hold n + 1.5 * 2^23 */
    return (v16)((i16)(p * (v16)scale) & ~tiny);
}

#endif
