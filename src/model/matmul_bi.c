/* The batch-invariant product (matmul_bi.h). Each output element is a dot
 * product kept in sixteen lanes from the first k to the last, so neither the
 * tiling (4 x 4 tiles, then edge tiles), nor the column blocks threads take,
 * nor the number of rows can change its rounding. Each lane step is a fused
 * multiply-add, one rounding: the hardware's where the CPU has FMA (AVX-512
 * or AVX2 kernels, chosen once at run time), the C library's fmaf()
 * otherwise; both are correctly rounded, so the bits do not depend on the
 * machine. The sixteen sums of a 4 x 4 tile are reduced together
 * (v16_reduce16), the same additions as one v16_reduce each. */
#include "model/matmul_bi.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/parallel.h"
#include "model/vec.h"

typedef struct {
    float *out;
    const float *inp, *w, *bias;
    size_t N;
    int K, OC, cols; /* cols: output columns per work item */
    bool accumulate;
} args;

VEC_INLINE void put(const args *a, size_t n, int j, float s) {
    float *o = a->out + n * (size_t)a->OC + j;
    float init = a->accumulate ? *o : 0.0f;
    if (a->bias) init += a->bias[j];
    *o = init + s;
}

/* The kernels, once per instruction set: FMA(a, b, c) is a * b + c with one
 * rounding per lane. An RB x CB tile walks k in steps of 16; the zero-padded
 * tail adds +0 products, which change no lane. */
#define KERNELS(SUF, FMA)                                                                                      \
    VEC_INLINE void tile4x4_##SUF(const args *a, size_t n0, int j0) {                                          \
        int K = a->K;                                                                                          \
        const float *x[4], *w[4];                                                                              \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) x[i] = a->inp + (n0 + i) * (size_t)K,              \
                                                            w[i] = a->w + (size_t)(j0 + i) * K;               \
        v16 acc[16] = {0};                                                                                     \
        for (int k = 0; k < K; k += 16) {                                                                      \
            int m = K - k < 16 ? K - k : 16;                                                                   \
            v16 xv[4], wv[4];                                                                                  \
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {                                              \
                xv[i] = m == 16 ? v16_load(x[i] + k) : v16_loadn(x[i] + k, m);                                 \
                wv[i] = m == 16 ? v16_load(w[i] + k) : v16_loadn(w[i] + k, m);                                 \
            }                                                                                                  \
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                                \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) acc[i * 4 + c] = FMA(xv[i], wv[c], acc[i * 4 + c]); \
        }                                                                                                      \
        v16 s = v16_reduce16(acc);                                                                             \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                                    \
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) put(a, n0 + i, j0 + c, s[i * 4 + c]);         \
    }                                                                                                          \
    /* one row against 16 columns (decode) or fewer */                                                         \
    VEC_INLINE void tile1xC_##SUF(const args *a, size_t n, int j0, int C) {                                    \
        int K = a->K;                                                                                          \
        const float *x = a->inp + n * (size_t)K, *w[16];                                                       \
        _Pragma("GCC unroll 16") for (int c = 0; c < 16; c++) w[c] = a->w + (size_t)(j0 + (c < C ? c : 0)) * K; \
        v16 acc[16] = {0};                                                                                     \
        for (int k = 0; k < K; k += 16) {                                                                      \
            int m = K - k < 16 ? K - k : 16;                                                                   \
            v16 xv = m == 16 ? v16_load(x + k) : v16_loadn(x + k, m);                                          \
            _Pragma("GCC unroll 16") for (int c = 0; c < 16; c++)                                              \
                acc[c] = FMA(xv, m == 16 ? v16_load(w[c] + k) : v16_loadn(w[c] + k, m), acc[c]);               \
        }                                                                                                      \
        v16 s = v16_reduce16(acc);                                                                             \
        for (int c = 0; c < C; c++) put(a, n, j0 + c, s[c]);                                                   \
    }                                                                                                          \
    /* RB x 1 columns at the right edge of a block */                                                          \
    VEC_INLINE void tile4x1_##SUF(const args *a, size_t n0, int j) {                                           \
        int K = a->K;                                                                                          \
        const float *w = a->w + (size_t)j * K;                                                                 \
        v16 acc[16] = {0};                                                                                     \
        for (int k = 0; k < K; k += 16) {                                                                      \
            int m = K - k < 16 ? K - k : 16;                                                                   \
            v16 wv = m == 16 ? v16_load(w + k) : v16_loadn(w + k, m);                                          \
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {                                              \
                const float *x = a->inp + (n0 + i) * (size_t)K + k;                                            \
                acc[i] = FMA(m == 16 ? v16_load(x) : v16_loadn(x, m), wv, acc[i]);                             \
            }                                                                                                  \
        }                                                                                                      \
        v16 s = v16_reduce16(acc);                                                                             \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) put(a, n0 + i, j, s[i]);                          \
    }                                                                                                          \
    static void blocks_##SUF(void *ctx, size_t begin, size_t end, int tid) {                                   \
        (void)tid;                                                                                             \
        const args *a = ctx;                                                                                   \
        for (size_t b = begin; b < end; b++) {                                                                 \
            int j0 = (int)b * a->cols, j1 = j0 + a->cols < a->OC ? j0 + a->cols : a->OC;                       \
            size_t n = 0;                                                                                      \
            for (; n + 4 <= a->N; n += 4) {                                                                    \
                int j = j0;                                                                                    \
                for (; j + 4 <= j1; j += 4) tile4x4_##SUF(a, n, j);                                            \
                for (; j < j1; j++) tile4x1_##SUF(a, n, j);                                                    \
            }                                                                                                  \
            for (; n < a->N; n++)                                                                              \
                for (int j = j0; j < j1; j += 16) tile1xC_##SUF(a, n, j, j1 - j < 16 ? j1 - j : 16);           \
        }                                                                                                      \
    }

/* Without FMA hardware: fmaf() lane by lane (correctly rounded, slow). */
VEC_INLINE v16 fma_c(v16 x, v16 y, v16 z) {
    for (int l = 0; l < 16; l++) z[l] = fmaf(x[l], y[l], z[l]);
    return z;
}
KERNELS(c, fma_c)

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef float v8 __attribute__((vector_size(32)));
VEC_INLINE v16 fma_avx2(v16 x, v16 y, v16 z) {
    v8 x2[2], y2[2], z2[2];
    memcpy(x2, &x, sizeof x), memcpy(y2, &y, sizeof y), memcpy(z2, &z, sizeof z);
    for (int i = 0; i < 2; i++) z2[i] = (v8)_mm256_fmadd_ps((__m256)x2[i], (__m256)y2[i], (__m256)z2[i]);
    memcpy(&z, z2, sizeof z);
    return z;
}
KERNELS(avx2, fma_avx2)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
VEC_INLINE v16 fma_avx512(v16 x, v16 y, v16 z) { return (v16)_mm512_fmadd_ps((__m512)x, (__m512)y, (__m512)z); }
KERNELS(avx512, fma_avx512)
#pragma GCC pop_options
#endif

/* PIC_MATMUL_BI=fmaf or avx2 picks a lesser kernel (tests compare them). */
static pic_task kernel(void) {
    const char *want = getenv("PIC_MATMUL_BI");
    if (want && !strcmp(want, "fmaf")) return blocks_c;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (want && !strcmp(want, "avx2")) return blocks_avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma"))
        return blocks_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return blocks_avx2;
#endif
    return blocks_c;
}

void matmul_bi_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N, int IC,
                       int OC, bool accumulate) {
    if (!N || OC <= 0) return;
    static pic_task fn;
    if (!fn) fn = kernel(); /* the same answer on every thread: a benign race */
    /* A block's weights (about 128 KB) stay in L2 while every row passes
     * over them; blocks small enough that each thread gets several. */
    int cols = 32768 / (IC > 0 ? IC : 1);
    int per = (OC + 4 * pic_threads() - 1) / (4 * pic_threads());
    if (cols > per) cols = per;
    cols = (cols + 3) / 4 * 4;
    if (cols < 4) cols = 4;
    args a = {out, inp, weight, bias, N, IC, OC, cols, accumulate};
    pic_parallel_for(((size_t)OC + cols - 1) / cols, 1, fn, &a);
}
