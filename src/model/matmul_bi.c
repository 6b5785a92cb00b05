/* The batch-invariant product (matmul_bi.h). Each output element is a dot
 * product kept in sixteen lanes from the first k to the last, so neither the
 * tiling (4 x 4 tiles, then edge tiles), nor the column blocks threads take,
 * nor the number of rows can change its rounding. GCC's vector extension
 * maps the sixteen lanes to one AVX-512 register, two AVX2 ones or four SSE
 * ones; with ISO C's -ffp-contract=off each lane is a multiply then an add
 * on every one of them, so the bits do not depend on the machine either. */
#include "model/matmul_bi.h"

#include <stdatomic.h>
#include <string.h>

#include "model/parallel.h"

/* Vectors only pass between always-inlined helpers, never through a call,
 * so the ABI note about 64-byte vector arguments does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));

static atomic_bool enabled;

void pic_matmul_set_batch_invariant(bool on) { atomic_store(&enabled, on); }
bool pic_matmul_batch_invariant(void) { return atomic_load(&enabled); }

typedef struct {
    float *out;
    const float *inp, *w, *bias;
    size_t N;
    int K, OC, cols; /* cols: output columns per work item */
    bool accumulate;
} args;

static inline __attribute__((always_inline)) v16 load(const float *p, int n) {
    v16 v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

/* The fixed tree: lane l + 8 onto lane l, then + 4, + 2, + 1, done with
 * shuffles so that it costs a few instructions rather than fifteen
 * dependent scalar adds (as much as the dot product itself at K = 256). */
typedef int i16 __attribute__((vector_size(64)));
static inline __attribute__((always_inline)) float reduce(v16 a) {
    a += __builtin_shuffle(a, (i16){8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15});
    a += __builtin_shuffle(a, (i16){4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7});
    a += __builtin_shuffle(a, (i16){2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3});
    a += __builtin_shuffle(a, (i16){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    return a[0];
}

#define STEP(RB, CB, n)                                                                                    \
    {                                                                                                      \
        v16 xv[RB], wv[CB];                                                                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < RB; r++) xv[r] = load(x[r] + k, n);                                            \
        _Pragma("GCC unroll 4") for (int c = 0; c < CB; c++) wv[c] = load(w[c] + k, n);                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < RB; r++)                                                                       \
            _Pragma("GCC unroll 4") for (int c = 0; c < CB; c++) acc[r][c] += xv[r] * wv[c];                                       \
    }

/* An RB x CB tile of outputs: rows n0.., columns j0... The zero-padded tail
 * adds +0 products, which change no lane. */
#define TILE(RB, CB)                                                                                       \
    static inline __attribute__((always_inline)) void tile_##RB##x##CB(const args *a, size_t n0, int j0) { \
        int K = a->K;                                                                                      \
        v16 acc[RB][CB];                                                                                   \
        const float *x[RB], *w[CB];                                                                        \
        _Pragma("GCC unroll 4") for (int r = 0; r < RB; r++) x[r] = a->inp + (n0 + r) * (size_t)K;                                \
        _Pragma("GCC unroll 4") for (int c = 0; c < CB; c++) w[c] = a->w + (size_t)(j0 + c) * K;                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < RB; r++)                                                                       \
            _Pragma("GCC unroll 4") for (int c = 0; c < CB; c++) acc[r][c] = (v16){0};                                             \
        int k = 0;                                                                                         \
        for (; k + 16 <= K; k += 16) STEP(RB, CB, 16)                                                      \
        if (k < K) STEP(RB, CB, K - k)                                                                     \
        _Pragma("GCC unroll 4") for (int r = 0; r < RB; r++)                                                                       \
            _Pragma("GCC unroll 4") for (int c = 0; c < CB; c++) {                                                                 \
                float *o = a->out + (n0 + r) * (size_t)a->OC + j0 + c;                                     \
                float init = a->accumulate ? *o : 0.0f;                                                    \
                if (a->bias) init += a->bias[j0 + c];                                                      \
                *o = init + reduce(acc[r][c]);                                                             \
            }                                                                                              \
    }
TILE(4, 4)
TILE(4, 1)
TILE(1, 4)
TILE(1, 1)

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void blocks(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    for (size_t b = begin; b < end; b++) {
        int j0 = (int)b * a->cols, j1 = j0 + a->cols < a->OC ? j0 + a->cols : a->OC;
        size_t n = 0;
        for (; n + 4 <= a->N; n += 4) {
            int j = j0;
            for (; j + 4 <= j1; j += 4) tile_4x4(a, n, j);
            for (; j < j1; j++) tile_4x1(a, n, j);
        }
        for (; n < a->N; n++) {
            int j = j0;
            for (; j + 4 <= j1; j += 4) tile_1x4(a, n, j);
            for (; j < j1; j++) tile_1x1(a, n, j);
        }
    }
}

void matmul_bi_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N, int IC,
                       int OC, bool accumulate) {
    if (!N || OC <= 0) return;
    /* A block's weights (about 128 KB) stay in L2 while every row passes
     * over them; blocks small enough that each thread gets several. */
    int cols = 32768 / (IC > 0 ? IC : 1);
    int per = (OC + 4 * pic_threads() - 1) / (4 * pic_threads());
    if (cols > per) cols = per;
    cols = (cols + 3) / 4 * 4;
    if (cols < 4) cols = 4;
    args a = {out, inp, weight, bias, N, IC, OC, cols, accumulate};
    pic_parallel_for(((size_t)OC + cols - 1) / cols, 1, blocks, &a);
}
