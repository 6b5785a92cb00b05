/* The batch-invariant product (matmul_bi.h). Each output element is a dot
 * product kept in sixteen lanes from the first k to the last, so neither the
 * tiling, nor the column blocks threads take, nor the number of rows can
 * change its rounding. Each lane step is a fused multiply-add, one rounding:
 * the hardware's where the CPU has FMA (AVX-512 or AVX2 kernels, chosen once
 * at run time or by PIC_ISA), the C library's fmaf() otherwise; both are
 * correctly rounded, so the bits do not depend on the machine. The sums of a
 * tile are reduced together (v16_reduce16, v8_reduce8x8), the same additions as
 * one v16_reduce each. */
#include "model/matmul_bi.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/parallel.h"
#include "model/vec.h"

typedef struct {
    float *out;
    const float *inp, *w, *bias;
    size_t N;
    int K, OC, cols; /* cols: output columns per work item */
    bool accumulate;
} args;

/* Callers pass a local copy of their args: the build has
 * -fno-strict-aliasing, so after each store through o the compiler would
 * reload every field of an args it cannot prove untouched. */
VEC_INLINE void put(const args *a, size_t n, int j, float s) {
    float *o = a->out + n * (size_t)a->OC + j;
    float init = a->accumulate ? *o : 0.0f;
    if (a->bias) init += a->bias[j];
    *o = init + s;
}

/* With few rows, each weight is used by a few FMAs after it arrives from L3
 * or memory, too little arithmetic to hide the wait, and the hardware's
 * prefetchers do not run far enough ahead over four or eight interleaved row
 * streams (8 rows: 58 GFLOP/s on one thread over a decode step's 29 MB
 * against 103 with the same weights hot in cache). So the first row pass
 * over a column group asks for the weight rows two groups further on, one
 * line of each per k step (docs/model.md); the arithmetic is unchanged. */

/* Line k of weight rows [j, j + C) (j < 0: none). */
VEC_INLINE void prefetch_rows(const args *a, int j, int C, int k) {
    if (j < 0) return;
    _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) __builtin_prefetch(a->w + (size_t)(j + c) * a->K + k, 0, 3);
}

/* The rows to prefetch while row n passes over a group of C columns from
 * j: the group two further on, when all of it is below OC (the last two
 * groups of a matrix go without, rather than test each row each step). */
VEC_INLINE int prefetch_for(const args *a, size_t n, int j, int C) {
    return n == 0 && j + 3 * C <= a->OC ? j + 2 * C : -1;
}

/* The kernels, once per instruction set: FMA(a, b, c) is a * b + c with one
 * rounding per lane. An RB x CB tile walks k in steps of 16; the zero-padded
 * tail adds +0 products, which change no lane. */
#define KERNELS(SUF, FMA)                                                                                      \
    VEC_INLINE void tile4x4_##SUF(const args *a, size_t n0, int j0, int pf) {                                  \
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
            prefetch_rows(a, pf, 4, k);                                                                        \
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                                \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) acc[i * 4 + c] = FMA(xv[i], wv[c], acc[i * 4 + c]); \
        }                                                                                                      \
        v16 s = v16_reduce16(acc);                                                                             \
        const args t = *a;                                                                                     \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                                    \
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) put(&t, n0 + i, j0 + c, s[i * 4 + c]);        \
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
        const args t = *a;                                                                                     \
        for (int c = 0; c < C; c++) put(&t, n, j0 + c, s[c]);                                                  \
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
        const args t = *a;                                                                                     \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) put(&t, n0 + i, j, s[i]);                         \
    }                                                                                                          \
    static void blocks_##SUF(void *ctx, size_t begin, size_t end, int tid) {                                   \
        (void)tid;                                                                                             \
        const args *a = ctx;                                                                                   \
        for (size_t b = begin; b < end; b++) {                                                                 \
            int j0 = (int)b * a->cols, j1 = j0 + a->cols < a->OC ? j0 + a->cols : a->OC;                       \
            size_t n = 0;                                                                                      \
            for (; n + 4 <= a->N; n += 4) {                                                                    \
                int j = j0;                                                                                    \
                for (; j + 4 <= j1; j += 4) tile4x4_##SUF(a, n, j, prefetch_for(a, n, j, 4));                     \
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

#if PIC_X86_KERNELS
PIC_TARGET_BEGIN("avx2,fma")
/* AVX2 has sixteen 8-float registers: a 16-lane accumulator per output, as
 * the AVX-512 kernel keeps, would spill. So each half of the lanes (0-7,
 * then 8-15: independent sums) is its own pass over k, and a tile is R rows
 * x C columns of 8-lane accumulators (2 x 4: eight sums, six loads per eight
 * FMAs, two registers spare). The halves meet in the tree's first step. */
/* Eight floats of p from k, zeros at and past K (k < K). */
VEC_INLINE __m256 load8(const float *p, int k, int K) {
    if (k + 8 <= K) return _mm256_loadu_ps(p + k);
    static const int ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_maskload_ps(p + k, _mm256_loadu_si256((const __m256i *)(ones + 8 - (K - k))));
}

/* One step of an R x C tile at k: rows x, weight rows w, eight lanes. Each
 * weight vector is pinned in a register: left to itself GCC folds the load
 * into each FMA that uses it, R loads instead of one (ten loads per eight
 * FMAs at 2 x 4, 20% slower). With ahead, the line holding k of weight rows
 * [c0, c1) that many floats further on is asked for (prefetch_for's rows). */
VEC_INLINE void step_avx2(const float *const *x, const float *const *w, int R, int C, int k, int K,
                          size_t ahead, int c0, int c1, __m256 *acc) {
    __m256 xv[4], wv[8];
    _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) xv[i] = load8(x[i], k, K);
    _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
        wv[c] = load8(w[c], k, K);
        PIC_PIN_REGISTER(wv[c]);
    }
    if (ahead) _Pragma("GCC unroll 8") for (int c = c0; c < c1; c++) __builtin_prefetch(w[c] + ahead + k, 0, 3);
    _Pragma("GCC unroll 4") for (int i = 0; i < R; i++)
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)
            acc[i * C + c] = _mm256_fmadd_ps(xv[i], wv[c], acc[i * C + c]);
}

/* Lanes 8h..8h+7 of an R x C tile's sums: acc[i * C + c] for row n0 + i,
 * column j0 + c; half h of the rows from pf prefetched as it goes (each
 * half's steps meet every line of a row, so each half asks for half of the
 * rows: the requests go out at half the rate, over twice the time, and
 * 1-row decode ran 25-30% faster than with all of them in the first half).
 * The whole-vector steps run in a loop of their own, one with the
 * prefetches and one without, so that neither tests anything but k (the
 * tests for the prefetch's rows and for a partial vector were a third of
 * the loop's instructions where the first pair of rows prefetches: a
 * quarter of the tiles at 8 rows, all of them at 1); a partial vector, if
 * any, is the last step. */
VEC_INLINE void half_avx2(const args *a, size_t n0, int j0, int R, int C, int h, __m256 *acc, int pf) {
    int K = a->K, k = 8 * h;
    const float *x[4], *w[8];
    _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) x[i] = a->inp + (n0 + i) * (size_t)K;
    _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) w[c] = a->w + (size_t)(j0 + c) * K;
    _Pragma("GCC unroll 8") for (int t = 0; t < R * C; t++) acc[t] = _mm256_setzero_ps();
    size_t ahead = pf < 0 ? 0 : (size_t)(pf - j0) * K;
    if (ahead)
        for (; k + 8 <= K; k += 16) step_avx2(x, w, R, C, k, K, ahead, h * C / 2, (h + 1) * C / 2, acc);
    else
        for (; k + 8 <= K; k += 16) step_avx2(x, w, R, C, k, K, 0, 0, 0, acc);
    if (k < K) step_avx2(x, w, R, C, k, K, 0, 0, 0, acc);
}

VEC_INLINE void tile_avx2(const args *a, size_t n0, int j0, int R, int C, int pf) {
    __m256 lo[8], hi[8];
    half_avx2(a, n0, j0, R, C, 0, lo, pf);
    half_avx2(a, n0, j0, R, C, 1, hi, pf);
    v8 s[8];
    _Pragma("GCC unroll 8") for (int t = 0; t < R * C; t++) s[t] = (v8)lo[t] + (v8)hi[t]; /* l + (l + 8) */
    const args l = *a;
    if (R * C == 8) {
        v8 r = v8_reduce8x8(s);
        _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) put(&l, n0 + t / C, j0 + t % C, r[t]);
    } else {
        _Pragma("GCC unroll 8") for (int t = 0; t < R * C; t++) put(&l, n0 + t / C, j0 + t % C, v8_reduce(s[t]));
    }
}

static void blocks_avx2(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    for (size_t b = begin; b < end; b++) {
        int j0 = (int)b * a->cols, j1 = j0 + a->cols < a->OC ? j0 + a->cols : a->OC, j;
        /* four weight rows stay in L1 while every pair of rows passes */
        size_t pairs = a->N / 2 * 2, n;
        for (j = j0; j + 4 <= j1; j += 4)
            for (n = 0; n < pairs; n += 2) tile_avx2(a, n, j, 2, 4, prefetch_for(a, n, j, 4));
        for (; j < j1; j++)
            for (n = 0; n < pairs; n += 2) tile_avx2(a, n, j, 2, 1, -1);
        if (pairs < a->N) {
            for (j = j0; j + 8 <= j1; j += 8) tile_avx2(a, pairs, j, 1, 8, prefetch_for(a, pairs, j, 8));
            for (; j < j1; j++) tile_avx2(a, pairs, j, 1, 1, -1);
        }
    }
}
PIC_TARGET_END

PIC_TARGET_BEGIN("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
VEC_INLINE v16 fma_avx512(v16 x, v16 y, v16 z) { return (v16)_mm512_fmadd_ps((__m512)x, (__m512)y, (__m512)z); }
KERNELS(avx512, fma_avx512)
PIC_TARGET_END
#endif

/* The kernels by name: PIC_ISA forces one (the tests run each), else the
 * best this CPU has. All three give the same bits (matmul_bi.h). */
static const struct {
    const char *name;
    pic_task fn;
} kernels[] = {
#if PIC_X86_KERNELS
    {"avx512", blocks_avx512},
    {"avx2", blocks_avx2},
#endif
    {"scalar", blocks_c},
};

static bool supported(const char *name) {
#if defined(PIC_ISA_EMU)
    (void)name;
    return true; /* SIMDe's plain C: every path runs on any CPU */
#elif PIC_X86_KERNELS
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return !strcmp(name, "scalar");
}

static atomic_int chosen = -1; /* index into kernels, resolved once */

static int choose(void) {
    int n = (int)(sizeof kernels / sizeof *kernels);
    const char *want = getenv("PIC_ISA");
    if (!want || !*want) {
        int i = 0;
        while (!supported(kernels[i].name)) i++; /* scalar, last, always is */
        return i;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(want, kernels[i].name)) {
            if (!supported(want)) pic_die("PIC_ISA=%s: this CPU or build lacks %s (FMA included)", want, want);
            return i;
        }
    pic_die("PIC_ISA=%s: expected one of avx512, avx2, scalar (or unset: the best the CPU has)", want);
}

const char *pic_matmul_bi_isa(void) {
    if (atomic_load(&chosen) < 0) atomic_store(&chosen, choose()); /* every thread chooses alike */
    return kernels[atomic_load(&chosen)].name;
}

int pic_kernel_isa(void) {
    const char *isa = pic_matmul_bi_isa();
    return !strcmp(isa, "avx512") ? PIC_ISA_AVX512 : !strcmp(isa, "avx2") ? PIC_ISA_AVX2 : PIC_ISA_SCALAR;
}

/* Of the block widths from cols down to half of it (multiples of 4), the
 * one whose busiest thread has the fewest columns, ceil(blocks / threads)
 * blocks wide; the widest of equals. Past 64 blocks a thread the last
 * block's share is small enough. */
static int balanced_cols(int OC, int cols, int threads) {
    if (threads < 2 || (OC + cols - 1) / cols > 64 * threads) return cols;
    int best = cols;
    long best_load = -1;
    for (int c = cols; c >= 4 && 2 * c >= cols; c -= 4) {
        long blocks = (OC + c - 1) / c, load = (blocks + threads - 1) / threads * (long)c;
        if (best_load < 0 || load < best_load) best = c, best_load = load;
    }
    return best;
}

void matmul_bi_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N, int IC,
                       int OC, bool accumulate) {
    if (!N || OC <= 0) return;
    pic_matmul_bi_isa();
    pic_task fn = kernels[atomic_load(&chosen)].fn;
    int per_l2 = 32768 / (IC > 0 ? IC : 1); /* columns of 128 KB of weights */
    /* A decode step's rows (up to 64): each thread walks its own share of
     * the columns in order, so that the weight prefetch runs ahead through
     * all of it instead of starting cold at each block, and the thread
     * that finishes first takes the other's last items (32 columns, fewer
     * for wide inputs so that AVX-512's four-row passes find an item's
     * weights in L2). Batch 8: AVX2 +5%, AVX-512 +10%; batch 64 +2% and
     * +6% (docs/model.md). */
    if (N <= 64) {
        int item = per_l2 > 32 ? 32 : per_l2 < 4 ? 4 : per_l2 / 4 * 4;
        args a = {out, inp, weight, bias, N, IC, OC, item, accumulate};
        pic_parallel_for_shares(((size_t)OC + item - 1) / item, fn, &a);
        return;
    }
    /* Longer inputs: a block's weights (about 128 KB) stay in L2 while every
     * row passes over them; blocks small enough that each thread gets
     * several, and as many for each thread (11 blocks of 128 columns on two
     * threads left one idle for a twelfth of SwiGLU's product). */
    int threads = pic_threads(), cols = per_l2;
    int per = (OC + 4 * threads - 1) / (4 * threads);
    if (cols > per) cols = per;
    cols = (cols + 3) / 4 * 4;
    if (cols < 4) cols = 4;
    cols = balanced_cols(OC, cols, threads);
    args a = {out, inp, weight, bias, N, IC, OC, cols, accumulate};
    pic_parallel_for(((size_t)OC + cols - 1) / cols, 1, fn, &a);
}
