/* Causal grouped-query attention over packed sequences, in blocks shaped
 * like small GEMMs. A block is up to BQ consecutive tokens of one sequence
 * times the query heads of one kv head (R rows); its scores against the keys
 * are register tiles of dot products, its softmax a vector pass, its output
 * a tiled product of the probabilities and the values.
 *
 * Every number a row gets depends on that row alone: a score is
 * v16_reduce of sixteen lanes (lane l a chain of fused multiply-adds of
 * q[d] k[d] over d = l mod 16, ascending) times the scale, the row's
 * maximum, its exp(s - max) (v16_exp_neg), their sum in sixteen lanes by
 * absolute key index then the fixed tree, and each output element a chain of
 * fused multiply-adds over keys in ascending order (later keys add exact
 * zeros), times 1 / sum. So a token gets the same bits alone in a decode
 * step, in a prefill block, or scored in one pass with its whole sequence
 * (docs/rollout.md). The kernels exist once per instruction set (AVX-512,
 * AVX2 + FMA, scalar fmaf()), chosen as matmul_bi's are (PIC_ISA, else the
 * best the CPU has); each FMA rounds once on all three, so all three give
 * the same bits (tests/isa.bats runs each). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/parallel.h"
#include "model/vec.h"

void qkv_split_forward(float *q, float *k, float *v, const float *qkv, size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * (size_t)kvd;
    for (size_t n = 0; n < N; n++) {
        const float *r = qkv + n * w;
        memcpy(q + n * qd, r, qd * sizeof(float));
        memcpy(k + n * kvd, r + qd, kvd * sizeof(float));
        memcpy(v + n * kvd, r + qd + kvd, kvd * sizeof(float));
    }
}

/* The inverse copy: dq, dk, dv back into the fused layout. */
void qkv_split_backward(float *dqkv, const float *dq, const float *dk, const float *dv, size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * (size_t)kvd;
    for (size_t n = 0; n < N; n++) {
        float *r = dqkv + n * w;
        memcpy(r, dq + n * qd, qd * sizeof(float));
        memcpy(r + qd, dk + n * kvd, kvd * sizeof(float));
        memcpy(r + qd + kvd, dv + n * kvd, kvd * sizeof(float));
    }
}

enum { BQ_ROWS = 64, BK = 64 };
_Static_assert(PIC_KV_PAGE % BK == 0 && PIC_KV_PAGE % 16 == 0, "a key block and a score tile lie in one page");

/* ---- kernels ---------------------------------------------------------- */

/* Sixteen floats of a row from d0, zero-padded past its hd. */
VEC_INLINE v16 ld(const float *p, int d0, int hd) { return hd - d0 >= 16 ? v16_load(p + d0) : v16_loadn(p + d0, hd - d0); }

/* e with lanes j0 + l >= n cleared to +0, or set to x. */
VEC_INLINE v16 mask(bool halves, v16 e, int j0, int n) { return (v16)((i16)e & v16_below(halves, j0, n)); }
VEC_INLINE v16 mask_to(bool halves, v16 e, int j0, int n, float x) {
    i16 k = v16_below(halves, j0, n);
    return (v16)(((i16)e & k) | ((i16)((v16){0} + x) & ~k));
}

/* Key j of a sequence whose keys lie a page at a time at Bp[0], Bp[1], ...
 * (PIC_KV_PAGE rows of ldb floats each: a KV cache's pages, or a packed
 * sequence's runs of PIC_KV_PAGE positions). */
VEC_INLINE const float *key_row(const float *const *Bp, int j, size_t ldb) {
    return Bp[j / PIC_KV_PAGE] + (size_t)(j % PIC_KV_PAGE) * ldb;
}

/* One tile of scores: S[r + i][j + c] for i < rows, c < cols (rows x cols
 * = 16), lane l of each sum a chain of FMAs over d = l mod 16. */
VEC_INLINE void score_tile(vec_isa o, int rows, int cols, float *S, int ldS, const float *const *A, int r,
                           const float *const *Bp, size_t ldb, int j, int W, int hd, float scale) {
    const float *b[16];
    _Pragma("GCC unroll 16") for (int c = 0; c < cols; c++) b[c] = key_row(Bp, j + c < W ? j + c : W - 1, ldb);
    v16 acc[16] = {0};
    for (int d = 0; d < hd; d += 16) {
        v16 x[4];
        _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) x[i] = ld(A[r + i], d, hd);
        _Pragma("GCC unroll 16") for (int c = 0; c < cols; c++) {
            v16 y = ld(b[c], d, hd);
            _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) acc[i * cols + c] = o.fma(x[i], y, acc[i * cols + c]);
        }
    }
    v16 s = v16_reduce16(acc) * scale;
    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++)
        memcpy(S + (size_t)(r + i) * ldS + j, (float *)&s + i * cols, cols * sizeof(float));
}

/* The same at eight lanes (rows x cols = 8): lanes 0-7 of every sum in one
 * pass over d, lanes 8-15 in a second, their sum the tree's first step. */
VEC_INLINE void score_tile8(vec_isa o, int rows, int cols, float *S, int ldS, const float *const *A, int r,
                            const float *const *Bp, size_t ldb, int j, int W, int hd, float scale) {
    const float *b[8];
    _Pragma("GCC unroll 8") for (int c = 0; c < cols; c++) b[c] = key_row(Bp, j + c < W ? j + c : W - 1, ldb);
    v8 half[2][8];
    bool whole = hd % 16 == 0; /* no partial load anywhere: 32, 64, 128 */
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        v8 acc[8] = {0};
        for (int d = 8 * h; d < hd; d += 16) {
            v8 x[2];
            _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++) x[i] = whole ? v8_load(A[r + i] + d) : v8_load_to(A[r + i], d, hd);
            _Pragma("GCC unroll 8") for (int c = 0; c < cols; c++) {
                v8 y = whole ? v8_load(b[c] + d) : v8_load_to(b[c], d, hd);
                _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++) acc[i * cols + c] = o.fma8(x[i], y, acc[i * cols + c]);
            }
        }
        memcpy(half[h], acc, sizeof acc);
    }
    v8 sum[8];
    _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) sum[t] = half[0][t] + half[1][t];
    v8 s = v8_reduce8x8(sum) * scale;
    _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++)
        memcpy(S + (size_t)(r + i) * ldS + j, (float *)&s + i * cols, cols * sizeof(float));
}

/* A decode step's rows read each key and value once, from L3 or memory,
 * with little arithmetic to hide the wait, and a head's keys (hd floats
 * every kv_stride) are not a stream the hardware prefetchers follow well
 * (decode attention alone at batch 64: ~6 GB/s on one thread). So while
 * scores walks the keys it asks for those PREFETCH_KEYS further on and for
 * the values pv will read next (docs/model.md); the arithmetic is unchanged. */
enum { PREFETCH_KEYS = 16 };

VEC_INLINE void prefetch_row(const float *p, int hd) {
    for (int d = 0; d < hd; d += 16) __builtin_prefetch(p + d, 0, 3);
}

/* Before the tile of keys [j, j + cols): Vp NULL asks for nothing. */
VEC_INLINE void prefetch_kv(const float *const *Bp, const float *const *Vp, size_t ldb, int j, int cols, int W,
                            int hd) {
    if (!Vp) return;
    for (int c = 0; c < cols; c++) {
        if (j + PREFETCH_KEYS + c < W) prefetch_row(key_row(Bp, j + PREFETCH_KEYS + c, ldb), hd);
        if (j + c < W) prefetch_row(key_row(Vp, j + c, ldb), hd);
    }
}

/* S[r * ldS + j] = scale * (A[r] . B[j]) for r < R, j < W rounded up to 16
 * (keys from W on reuse key W - 1; those columns are masked later), key j
 * at key_row(Bp, j, ldb). Tiles of 4 x 4, then 2 x 8 and 1 x 16 for the
 * last rows (a decode step's two query heads per kv head take 2 x 8); at
 * eight lanes (AVX2) 2 x 4 and 1 x 8. Every tile ends in the same tree, so
 * a score never depends on its tile. With Vp (a decode step's values), the
 * first row tiles prefetch keys ahead and the values (prefetch_kv). */
VEC_INLINE void scores(vec_isa o, float *S, int ldS, const float *const *A, int R, const float *const *Bp, size_t ldb,
                       int W, int hd, float scale, const float *const *Vp) {
    int Wp = (W + 15) & ~15, r = 0;
    if (Vp)
        for (int j = 0; j < PREFETCH_KEYS && j < W; j++) prefetch_row(key_row(Bp, j, ldb), hd);
#define TILES(ROWS, COLS, TILE)                                                                                    \
    for (; r + ROWS <= R; r += ROWS, Vp = NULL)                                                                    \
        for (int j = 0; j < Wp; j += COLS) {                                                                       \
            prefetch_kv(Bp, Vp, ldb, j, COLS, W, hd);                                                              \
            TILE(o, ROWS, COLS, S, ldS, A, r, Bp, ldb, j, W, hd, scale);                                           \
        }
    if (o.halves) {
        TILES(2, 4, score_tile8)
        TILES(1, 8, score_tile8)
        return;
    }
    TILES(4, 4, score_tile)
    TILES(2, 8, score_tile)
    TILES(1, 16, score_tile)
#undef TILES
}

/* pv's tile: rows (4, 2 or 1, a constant once inlined) rows x 32 columns,
 * for the rows from C[0], P, n[0] and rs[0]. */
VEC_INLINE void pv_tile(vec_isa o, int rows, float *const *C, const float *P, int ldP, const int *n,
                        const float *const *Bp, size_t ldb, int hd, const float *rs, bool accumulate) {
    int jn = 0;
    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) jn = n[i] > jn ? n[i] : jn;
    for (int d = 0; d < hd; d += 32) {
        int w0 = hd - d < 16 ? hd - d : 16, w1 = hd - d - 16 < 0 ? 0 : hd - d - 16 < 16 ? hd - d - 16 : 16;
        v16 acc[4][2] = {{{0}}};
        if (w0 == 16 && w1 == 16) {
            for (int j0 = 0; j0 < jn; j0 += PIC_KV_PAGE) { /* a page of keys at a time, j ascending throughout */
                const float *B = Bp[j0 / PIC_KV_PAGE];
                for (int j = j0, je = jn - j0 < PIC_KV_PAGE ? jn : j0 + PIC_KV_PAGE; j < je; j++) {
                    const float *b = B + (size_t)(j - j0) * ldb + d;
                    v16 y0 = v16_load(b), y1 = v16_load(b + 16);
                    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
                        v16 p = o.splat(P[(size_t)i * ldP + j]);
                        acc[i][0] = o.fma(p, y0, acc[i][0]), acc[i][1] = o.fma(p, y1, acc[i][1]);
                    }
                }
            }
        } else {
            for (int j0 = 0; j0 < jn; j0 += PIC_KV_PAGE) { /* a page of keys at a time, j ascending throughout */
                const float *B = Bp[j0 / PIC_KV_PAGE];
                for (int j = j0, je = jn - j0 < PIC_KV_PAGE ? jn : j0 + PIC_KV_PAGE; j < je; j++) {
                    const float *b = B + (size_t)(j - j0) * ldb + d;
                    v16 y0 = v16_loadn(b, w0), y1 = v16_loadn(b + w0, w1);
                    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
                        v16 p = o.splat(P[(size_t)i * ldP + j]);
                        acc[i][0] = o.fma(p, y0, acc[i][0]), acc[i][1] = o.fma(p, y1, acc[i][1]);
                    }
                }
            }
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
            float *c = C[i] + d;
            if (rs) acc[i][0] *= rs[i], acc[i][1] *= rs[i];
            if (accumulate) acc[i][0] += v16_loadn(c, w0), acc[i][1] += v16_loadn(c + w0, w1);
            v16_storen(c, acc[i][0], w0);
            v16_storen(c + w0, acc[i][1], w1);
        }
    }
}

/* The same at eight lanes: rows (2 or 1) x 32 columns in four v8 each. */
VEC_INLINE void pv_tile8(vec_isa o, int rows, float *const *C, const float *P, int ldP, const int *n,
                         const float *const *Bp, size_t ldb, int hd, const float *rs, bool accumulate) {
    int jn = 0;
    _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++) jn = n[i] > jn ? n[i] : jn;
    for (int d = 0; d < hd; d += 32) {
        v8 acc[2][4] = {{{0}}};
        bool whole = hd - d >= 32;
        for (int j0 = 0; j0 < jn; j0 += PIC_KV_PAGE) { /* a page of keys at a time, j ascending throughout */
            const float *B = Bp[j0 / PIC_KV_PAGE];
            for (int j = j0, je = jn - j0 < PIC_KV_PAGE ? jn : j0 + PIC_KV_PAGE; j < je; j++) {
                const float *b = B + (size_t)(j - j0) * ldb;
                v8 y[4];
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) y[q] = whole ? v8_load(b + d + 8 * q) : v8_load_to(b, d + 8 * q, hd);
                _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++) {
                    v8 p = o.splat8(P[(size_t)i * ldP + j]);
                    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[i][q] = o.fma8(p, y[q], acc[i][q]);
                }
            }
        }
        _Pragma("GCC unroll 2") for (int i = 0; i < rows; i++)
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                float *c = C[i] + d + 8 * q;
                int w = hd - d - 8 * q < 8 ? hd - d - 8 * q : 8;
                if (w <= 0) continue;
                if (rs) acc[i][q] *= rs[i];
                if (accumulate) acc[i][q] += v8_load_to(c, 0, w);
                v8_storen(c, acc[i][q], w);
            }
    }
}

/* C[r] (+)= (sum over j < n[r] of P[r * ldP + j] B[j]) * (rs ? rs[r] : 1),
 * key j at Bp[j / PIC_KV_PAGE] + (j % PIC_KV_PAGE) * ldb,
 * a chain of FMAs in ascending j for every element; P must be 0 from n[r]
 * to the tile's largest n. Tiles of 4 rows, then 2 and 1 (a decode step's
 * two query heads per kv head take one 2-row tile, no FMA thrown away); at
 * eight lanes 2 and 1. */
VEC_INLINE void pv(vec_isa o, float *const *C, const float *P, int ldP, int R, const int *n, const float *const *Bp,
                   size_t ldb, int hd, const float *rs, bool accumulate) {
    int r = 0;
#define PV_ROWS C + r, P + (size_t)r * ldP, ldP, n + r, Bp, ldb, hd, rs ? rs + r : NULL, accumulate
    if (o.halves) {
        for (; r + 2 <= R; r += 2) pv_tile8(o, 2, PV_ROWS);
        if (r < R) pv_tile8(o, 1, PV_ROWS);
        return;
    }
    for (; r + 4 <= R; r += 4) pv_tile(o, 4, PV_ROWS);
    if (r + 2 <= R) pv_tile(o, 2, PV_ROWS), r += 2;
    if (r < R) pv_tile(o, 1, PV_ROWS);
#undef PV_ROWS
}
/* C[j * ldc] += sum over r < R of A[r * ldA + j] B[r], j < W: the
 * transposed product of the backward (dV += P^T dO, dK += dS^T Q), each
 * element a chain of FMAs in ascending r. Four columns x 32 at a time, or
 * two at eight lanes. */
VEC_INLINE void tn(vec_isa o, float *C, size_t ldc, const float *A, int ldA, int W, const float *const *B, int R, int hd) {
    if (o.halves) {
        for (int j = 0; j < W; j += 2) {
            int cols = W - j < 2 ? W - j : 2;
            for (int d = 0; d < hd; d += 32) {
                v8 acc[2][4] = {{{0}}};
                bool whole = hd - d >= 32;
                for (int r = 0; r < R; r++) {
                    const float *a = A + (size_t)r * ldA + j;
                    v8 y[4];
                    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++)
                        y[q] = whole ? v8_load(B[r] + d + 8 * q) : v8_load_to(B[r], d + 8 * q, hd);
                    _Pragma("GCC unroll 2") for (int c = 0; c < cols; c++) {
                        v8 p = o.splat8(a[c]);
                        _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[c][q] = o.fma8(p, y[q], acc[c][q]);
                    }
                }
                _Pragma("GCC unroll 2") for (int c = 0; c < cols; c++)
                    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                        float *out = C + (size_t)(j + c) * ldc + d + 8 * q;
                        int w = hd - d - 8 * q < 8 ? hd - d - 8 * q : 8;
                        if (w > 0) v8_storen(out, acc[c][q] + v8_load_to(out, 0, w), w);
                    }
            }
        }
        return;
    }
    for (int j = 0; j < W; j += 4) {
        int cols = W - j < 4 ? W - j : 4;
        for (int d = 0; d < hd; d += 32) {
            int w0 = hd - d < 16 ? hd - d : 16, w1 = hd - d - 16 < 0 ? 0 : hd - d - 16 < 16 ? hd - d - 16 : 16;
            v16 acc[4][2] = {{{0}}};
            for (int r = 0; r < R; r++) {
                const float *b = B[r] + d, *a = A + (size_t)r * ldA + j;
                v16 y0 = w0 == 16 ? v16_load(b) : v16_loadn(b, w0), y1 = w1 == 16 ? v16_load(b + 16) : v16_loadn(b + w0, w1);
                _Pragma("GCC unroll 16") for (int c = 0; c < cols; c++) {
                    v16 p = o.splat(a[c]);
                    acc[c][0] = o.fma(p, y0, acc[c][0]), acc[c][1] = o.fma(p, y1, acc[c][1]);
                }
            }
            _Pragma("GCC unroll 16") for (int c = 0; c < cols; c++) {
                float *out = C + (size_t)(j + c) * ldc + d;
                v16_storen(out, acc[c][0] + v16_loadn(out, w0), w0);
                v16_storen(out + w0, acc[c][1] + v16_loadn(out + w0, w1), w1);
            }
        }
    }
}


/* ---- blocks ----------------------------------------------------------- */

/* Tokens [t0, t0 + nt) of one sequence; keys [0, T) cover all of them. */
typedef struct {
    size_t t0;
    int nt, T;
} block;

static int by_cost(const void *x, const void *y) {
    const block *a = x, *b = y;
    size_t ca = (size_t)a->nt * a->T, cb = (size_t)b->nt * b->T;
    return ca < cb ? 1 : ca > cb ? -1 : a->t0 < b->t0 ? -1 : a->t0 > b->t0;
}

/* Splits runs of one sequence into blocks of at most bq tokens, dearest
 * first (dynamic scheduling then ends evenly), into b (room for N). */
static void make_blocks(block *b, const pic_attn_input *in, int bq, size_t *nb, int *max_nt) {
    size_t k = 0;
    *max_nt = 0;
    for (size_t n = 0; n < in->N;) {
        size_t e = n + 1;
        while (e < in->N && e - n < (size_t)bq && in->tok_seq[e] == in->tok_seq[n]) e++;
        int T = 0;
        for (size_t i = n; i < e; i++) T = in->tok_pos[i] + 1 > T ? in->tok_pos[i] + 1 : T;
        b[k++] = (block){n, (int)(e - n), T};
        if ((int)(e - n) > *max_nt) *max_nt = (int)(e - n);
        n = e;
    }
    qsort(b, k, sizeof *b, by_cost);
    *nb = k;
}

/* Row r of a block is token t0 + r / group, head g * group + r % group. */
static void row_ptrs(const float **p, const float *base, const block *b, int g, int group, int nh, int hd) {
    for (int r = 0; r < b->nt * group; r++)
        p[r] = base + ((b->t0 + (size_t)(r / group)) * nh + (size_t)g * group + r % group) * hd;
}

typedef struct {
    float *out, *lse;
    const float *q;
    const pic_attn_input *in;
    const block *blocks;
    int nh, nkv, group, hd;
    float scale;
    float *scratch; /* per thread */
    size_t scratch_len;
    int ldS; /* largest T rounded up to 16 */
} args;

/* Eight lanes j0 + l < n of x kept, the others set to fill. */
VEC_INLINE v8 v8_keep_below(v8 x, int j0, int n, float fill) {
    i8 k = (i8){0, 1, 2, 3, 4, 5, 6, 7} + j0 < n;
    return (v8)(((i8)x & k) | ((i8)((v8){0} + fill) & ~k));
}

/* A row of scores s (T keys; zeros after them up to Tb, which pv reads for
 * its tile) into exp(s - max): 1 / their sum to *inv, T to *n; returns the
 * log-sum-exp. The sum is sixteen lanes by key index, then v16_reduce's
 * tree; at eight lanes (AVX2, where a v16 lives in memory) the same lanes
 * as two v8 halves, and the same max, so the same bits. */
VEC_INLINE float softmax_row(vec_isa o, float *s, int T, int Tb, float *inv, int *n) {
    float m, tot;
    if (o.halves) {
        v8 mv[2] = {(v8){0} - INFINITY, (v8){0} - INFINITY};
        for (int j = 0; j < T; j += 16)
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                v8 x = v8_keep_below(v8_load(s + j + 8 * h), j + 8 * h, T, -INFINITY);
                i8 keep = x < mv[h]; /* v16_max: x where either is NaN */
                mv[h] = (v8)(((i8)mv[h] & keep) | ((i8)x & ~keep));
            }
        v16_halves mh = {.h = {mv[0], mv[1]}};
        m = v16_hmax(true, mh.v);
        v8 sum[2] = {{0}, {0}};
        for (int j = 0; j < Tb; j += 16)
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                v8 e = v8_keep_below(v8_exp_neg(true, v8_load(s + j + 8 * h) - m), j + 8 * h, T, 0.0f);
                memcpy(s + j + 8 * h, &e, sizeof e);
                sum[h] += e;
            }
        tot = v8_reduce(sum[0] + sum[1]);
    } else {
        v16 mv = (v16){0} - INFINITY;
        for (int j = 0; j < T; j += 16) {
            v16 x = v16_load(s + j);
            if (T - j < 16) x = mask_to(false, x, j, T, -INFINITY);
            mv = v16_max(false, mv, x);
        }
        m = v16_hmax(false, mv);
        v16 sum = {0};
        for (int j = 0; j < Tb; j += 16) {
            v16 e = v16_exp_neg(false, v16_load(s + j) - m);
            if (T - j < 16) e = mask(false, e, j, T);
            memcpy(s + j, &e, sizeof e);
            sum += e;
        }
        tot = v16_reduce(sum);
    }
    *inv = 1.0f / tot;
    *n = T;
    return m + logf(tot);
}

/* Pages of keys a row of ldS scores reaches. */
static int pages(int ldS) { return (ldS + PIC_KV_PAGE - 1) / PIC_KV_PAGE; }

VEC_INLINE void items(vec_isa o, void *ctx, size_t begin, size_t end, int tid) {
    const args *a = ctx;
    const pic_attn_input *in = a->in;
    int hd = a->hd, group = a->group, ldS = a->ldS;
    float *S = a->scratch + (size_t)tid * a->scratch_len;
    for (size_t it = begin; it < end; it++) {
        const block *b = &a->blocks[it / a->nkv];
        int g = (int)(it % a->nkv), R = b->nt * group, seq = in->tok_seq[b->t0];
        float *inv = S + (size_t)R * ldS;
        int *n = (int *)(inv + R);
        const float **qr = (const float **)(n + R), **orow = qr + R, **kp = orow + R, **vp = kp + pages(ldS);
        row_ptrs(qr, a->q, b, g, group, a->nh, hd);
        row_ptrs(orow, a->out, b, g, group, a->nh, hd);
        /* where each page of keys and values starts (a packed sequence's
         * pages are its runs of PIC_KV_PAGE positions): the kernels read
         * keys through these, and the pages change no bit */
        for (int j0 = 0; j0 < b->T; j0 += PIC_KV_PAGE) {
            size_t at = pic_attn_key(in, seq, j0) + (size_t)g * hd;
            kp[j0 / PIC_KV_PAGE] = in->k + at, vp[j0 / PIC_KV_PAGE] = in->v + at;
        }
        scores(o, S, ldS, qr, R, kp, in->kv_stride, b->T, hd, a->scale, b->nt == 1 ? vp : NULL);
        for (int r = 0; r < R; r++) {
            size_t t = b->t0 + (size_t)(r / group);
            float lse = softmax_row(o, S + (size_t)r * ldS, in->tok_pos[t] + 1, b->T, &inv[r], &n[r]);
            if (a->lse) a->lse[t * a->nh + (size_t)g * group + r % group] = lse;
        }
        pv(o, (float *const *)orow, S, ldS, R, n, vp, in->kv_stride, hd, inv, false);
    }
}

/* Per thread: S [R, ldS] padded by a vector, inv [R], n [R], two row-pointer
 * arrays, two page-pointer arrays. */
static size_t scratch_floats(int R, int ldS) {
    size_t pointers = 4 * (size_t)R + 2 * (size_t)pages(ldS);
    return (size_t)R * ldS + 16 + 2 * (size_t)R + pointers * sizeof(float *) / sizeof(float) + 16;
}

static int rows_per_block(int group) { return BQ_ROWS / group > 0 ? BQ_ROWS / group : 1; }

static size_t blocks_bytes(size_t N) { return ((N + 1) * sizeof(block) + 63) / 64 * 64; }

size_t attention_workspace_size(size_t N, int max_ctx, int n_heads, int n_kv_heads) {
    int group = n_heads / n_kv_heads, R = rows_per_block(group) * group, ldS = (max_ctx + 15) & ~15;
    return blocks_bytes(N) + (size_t)pic_threads() * scratch_floats(R, ldS) * sizeof(float);
}

/* ---- backward --------------------------------------------------------- */

/* The backward of causal GQA over packed sequences without a cache (the
 * training case). Probabilities are recomputed from the saved log-sum-exp,
 * never stored: P = exp(S - lse) with S the forward's scores. With
 * D = dout . out per row, dS = P (dout . v - D) scale, and
 *   dV += P^T dout,  dK += dS^T q  (per key block: pass A),
 *   dq += dS K                     (per query block: pass B).
 * Each item owns what it writes (a key block's dk and dv, or a query
 * block's dq), so there are no races and every sum runs in a fixed order;
 * the price is computing S and dS twice. */
typedef struct {
    float *dq, *dk, *dv; /* dk, dv: bases in the layout of in->k, in->v */
    const float *dout, *out, *lse, *q;
    const pic_attn_input *in;
    const block *blocks; /* query blocks */
    size_t n_blocks;
    const size_t *first; /* per sequence */
    const block *kblocks; /* key blocks: t0 = first key's token, nt keys */
    size_t n_kblocks;
    int nh, nkv, group, hd;
    float scale;
    float *scratch;
    size_t scratch_len;
} bargs;

typedef struct {
    float *S, *dS, *D;
    const float **qr, **dor, **outr;
    float **dqr;
    int *n;
} bscratch;

static bscratch bscratch_at(const bargs *a, int tid) {
    int R = BQ_ROWS / a->group > 0 ? BQ_ROWS / a->group * a->group : a->group;
    bscratch s;
    s.S = a->scratch + (size_t)tid * a->scratch_len;
    s.dS = s.S + (size_t)R * BK;
    s.D = s.dS + (size_t)R * BK;
    s.n = (int *)(s.D + R);
    s.qr = (const float **)(s.n + R);
    s.dor = s.qr + R, s.outr = s.dor + R;
    s.dqr = (float **)(s.outr + R);
    return s;
}

/* P and dS of a query block's R rows against keys [j0, j0 + W) of its
 * sequence (token k0 of the batch is key 0); rows' pointers and D ready. */
VEC_INLINE void p_ds(vec_isa o, const bargs *a, const bscratch *s, const block *b, int g, int j0, int W) {
    const pic_attn_input *in = a->in;
    int R = b->nt * a->group, hd = a->hd, seq = in->tok_seq[b->t0];
    const float *K = in->k + pic_attn_key(in, seq, j0) + (size_t)g * hd;
    const float *V = in->v + pic_attn_key(in, seq, j0) + (size_t)g * hd;
    scores(o, s->S, BK, s->qr, R, &K, in->kv_stride, W, hd, a->scale, NULL); /* BK keys: one page */
    scores(o, s->dS, BK, s->dor, R, &V, in->kv_stride, W, hd, 1.0f, NULL);
    for (int r = 0; r < R; r++) {
        size_t qh = (b->t0 + (size_t)(r / a->group)) * a->nh + (size_t)g * a->group + r % a->group;
        int n = in->tok_pos[b->t0 + (size_t)(r / a->group)] - j0 + 1;
        n = n < 0 ? 0 : n > W ? W : n;
        s->n[r] = n;
        float *p = s->S + (size_t)r * BK, *ds = s->dS + (size_t)r * BK, lse = a->lse[qh], D = s->D[r];
        if (o.halves) /* the same lanes in v8 registers (softmax_row) */
            for (int j = 0; j < (W + 15) / 16 * 16; j += 8) {
                v8 e = v8_keep_below(v8_exp_neg(true, v8_load(p + j) - lse), j, n, 0.0f);
                v8 d = e * (v8_load(ds + j) - D) * a->scale;
                memcpy(p + j, &e, sizeof e);
                memcpy(ds + j, &d, sizeof d);
            }
        else
            for (int j = 0; j < W; j += 16) {
                v16 e = v16_exp_neg(false, v16_load(p + j) - lse);
                if (n - j < 16) e = mask(false, e, j, n);
                v16 d = e * (v16_load(ds + j) - D) * a->scale;
                memcpy(p + j, &e, sizeof e);
                memcpy(ds + j, &d, sizeof d);
            }
    }
}

static void brows_setup(const bargs *a, const bscratch *s, const block *b, int g) {
    int R = b->nt * a->group, hd = a->hd;
    row_ptrs(s->qr, a->q, b, g, a->group, a->nh, hd);
    row_ptrs(s->dor, a->dout, b, g, a->group, a->nh, hd);
    row_ptrs(s->outr, a->out, b, g, a->group, a->nh, hd);
    row_ptrs((const float **)s->dqr, a->dq, b, g, a->group, a->nh, hd);
    for (int r = 0; r < R; r++) {
        v16 acc = {0};
        for (int d = 0; d < hd; d += 16) acc += ld(s->dor[r], d, hd) * ld(s->outr[r], d, hd);
        s->D[r] = v16_reduce(acc);
    }
}

/* Pass A: one key block of one kv head against every query block after it. */
VEC_INLINE void kv_items(vec_isa o, void *ctx, size_t begin, size_t end, int tid) {
    const bargs *a = ctx;
    const pic_attn_input *in = a->in;
    bscratch s = bscratch_at(a, tid);
    int group = a->group, hd = a->hd, bq = BQ_ROWS / group > 0 ? BQ_ROWS / group : 1;
    for (size_t it = begin; it < end; it++) {
        const block *kb = &a->kblocks[it / a->nkv];
        int g = (int)(it % a->nkv), seq = in->tok_seq[kb->t0];
        size_t first = a->first[seq];
        int j0 = (int)(kb->t0 - first), W = kb->nt, len = kb->T; /* T: the sequence's length */
        float *dK = a->dk + pic_attn_key(in, seq, j0) + (size_t)g * hd;
        float *dV = a->dv + pic_attn_key(in, seq, j0) + (size_t)g * hd;
        for (int t = j0; t < len; t += bq) {
            block b = {first + (size_t)t, len - t < bq ? len - t : bq, 0};
            brows_setup(a, &s, &b, g);
            p_ds(o, a, &s, &b, g, j0, W);
            tn(o, dV, in->kv_stride, s.S, BK, W, s.dor, b.nt * group, hd);
            tn(o, dK, in->kv_stride, s.dS, BK, W, s.qr, b.nt * group, hd);
        }
    }
}

/* Pass B: one query block of one kv head against every key block before it. */
VEC_INLINE void q_items(vec_isa o, void *ctx, size_t begin, size_t end, int tid) {
    const bargs *a = ctx;
    const pic_attn_input *in = a->in;
    bscratch s = bscratch_at(a, tid);
    int hd = a->hd;
    for (size_t it = begin; it < end; it++) {
        const block *b = &a->blocks[it / a->nkv];
        int g = (int)(it % a->nkv), seq = in->tok_seq[b->t0], R = b->nt * a->group;
        brows_setup(a, &s, b, g);
        for (int j0 = 0; j0 < b->T; j0 += BK) {
            int W = b->T - j0 < BK ? b->T - j0 : BK;
            p_ds(o, a, &s, b, g, j0, W);
            const float *K = in->k + pic_attn_key(in, seq, j0) + (size_t)g * hd; /* BK keys: one page */
            pv(o, s.dqr, s.dS, BK, R, s.n, &K, in->kv_stride, hd, NULL, true);
        }
    }
}

/* ---- one set of kernels per instruction set --------------------------- */

#define KERNELS(SUF, TARGET, HALVES)                                                                       \
    TARGET static void items_##SUF(void *ctx, size_t begin, size_t end, int tid) {                           \
        items(VEC_ISA(SUF, HALVES), ctx, begin, end, tid);                                                  \
    }                                                                                                          \
    TARGET static void kv_items_##SUF(void *ctx, size_t begin, size_t end, int tid) {                        \
        kv_items(VEC_ISA(SUF, HALVES), ctx, begin, end, tid);                                               \
    }                                                                                                          \
    TARGET static void q_items_##SUF(void *ctx, size_t begin, size_t end, int tid) {                         \
        q_items(VEC_ISA(SUF, HALVES), ctx, begin, end, tid);                                                \
    }
VEC_EACH_ISA(KERNELS)

/* The set of the instruction set matmul_bi runs (PIC_ISA, else the CPU's best). */
static const struct {
    pic_task forward, backward_kv, backward_q;
} kernels[] = {
#if PIC_X86_KERNELS
    [PIC_ISA_AVX512] = {items_avx512, kv_items_avx512, q_items_avx512},
    [PIC_ISA_AVX2] = {items_avx2, kv_items_avx2, q_items_avx2},
#endif
    [PIC_ISA_SCALAR] = {items_c, kv_items_c, q_items_c},
};

void attention_forward(float *out, float *lse, const float *q, const pic_attn_input *in, int n_heads,
                       int n_kv_heads, int head_dim, void *work, size_t work_bytes) {
    if (!in->N) return;
    int group = n_heads / n_kv_heads, bq = rows_per_block(group), max_nt, max_T = 0;
    size_t nb;
    block *blocks = work;
    make_blocks(blocks, in, bq, &nb, &max_nt);
    for (size_t i = 0; i < nb; i++) max_T = blocks[i].T > max_T ? blocks[i].T : max_T;
    if (attention_workspace_size(in->N, max_T, n_heads, n_kv_heads) > work_bytes)
        pic_die("attention_forward: a workspace of %zu bytes is too small for %zu tokens of up to %d positions",
                work_bytes, in->N, max_T);
    int ldS = (max_T + 15) & ~15, R = max_nt * group;
    args a = {out, lse, q, in, blocks, n_heads, n_kv_heads, group, head_dim, (float)(1.0 / sqrt(head_dim)),
              NULL, 0, ldS};
    a.scratch_len = scratch_floats(R, ldS);
    a.scratch = (float *)((char *)work + blocks_bytes(in->N));
    /* A decode step's items (one token each) go to threads a sequence at a
     * time: its kv heads share each position's cache lines and pages, which
     * two threads taking alternate heads would both fetch (batch 64, two
     * threads: attention -16%). With few sequences, one item at a time. */
    size_t chunk = max_nt == 1 && nb >= 4 * (size_t)pic_threads() ? (size_t)n_kv_heads : 1;
    pic_parallel_for(nb * n_kv_heads, chunk, kernels[pic_kernel_isa()].forward, &a);
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const pic_attn_input *in, int n_seq, int n_heads,
                        int n_kv_heads, int head_dim) {
    if (!in->N) return;
    int group = n_heads / n_kv_heads, bq = rows_per_block(group), max_nt;
    size_t nb;
    block *blocks = pic_malloc((in->N + 1) * sizeof *blocks);
    make_blocks(blocks, in, bq, &nb, &max_nt);
    size_t *first = pic_calloc((size_t)n_seq + 1, sizeof *first);
    int *len = pic_calloc((size_t)n_seq + 1, sizeof *len);
    for (size_t n = in->N; n-- > 0;) first[in->tok_seq[n]] = n, len[in->tok_seq[n]]++;
    /* key blocks of BK keys; T carries the sequence's length */
    size_t nk = 0;
    for (int s = 0; s < n_seq; s++) nk += ((size_t)len[s] + BK - 1) / BK;
    block *kblocks = pic_malloc((nk + 1) * sizeof *kblocks);
    nk = 0;
    for (int s = 0; s < n_seq; s++)
        for (int j = 0; j < len[s]; j += BK)
            kblocks[nk++] = (block){first[s] + (size_t)j, len[s] - j < BK ? len[s] - j : BK, len[s]};
    qsort(kblocks, nk, sizeof *kblocks, by_cost);
    bargs a = {dq, dk, dv, dout, out, lse, q, in, blocks, nb, first, kblocks, nk, n_heads, n_kv_heads, group,
               head_dim, (float)(1.0 / sqrt(head_dim)), NULL, 0};
    int R = bq * group;
    a.scratch_len = 2 * (size_t)R * BK + 2 * (size_t)R + 4 * (size_t)R * sizeof(float *) / sizeof(float) + 16;
    a.scratch = pic_malloc((size_t)pic_threads() * a.scratch_len * sizeof(float));
    pic_parallel_for(nk * n_kv_heads, 1, kernels[pic_kernel_isa()].backward_kv, &a);
    pic_parallel_for(nb * n_kv_heads, 1, kernels[pic_kernel_isa()].backward_q, &a);
    free(a.scratch);
    free(kblocks);
    free(blocks);
    free(first);
    free(len);
}
