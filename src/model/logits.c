/* Log-probabilities and entropies of softmax(logits / T) straight from the
 * logits: with z = logits / T, m = max z, S = sum exp(z - m),
 *   log p(target) = z[target] - m - log S
 *   H = m + log S - sum exp(z - m) z / S
 * two passes over a row and no row of probabilities anywhere. Sums are in
 * double: H is a difference of two numbers of the size of log V. */
#include <math.h>

#include "model/isa_kernels.h"
#include "model/layers.h"

/* Sixteen doubles: the sums' lanes. */
typedef double d16 __attribute__((vector_size(128)));

/* The same lanes as registers hold them. GCC 12 has no register for a v16
 * without AVX-512, nor for a d16 with it, so a variable of either type lives
 * in memory and every operation on it loads and stores (AVX2 ran slower than
 * the scalar build, 5.8 ns an element against 5.1). So AVX2 works on the
 * v8 halves of sixteen floats and keeps the sums in four d4 (lanes 0-3,
 * 4-7, 8-11, 12-15), AVX-512 on v16 with the sums in two d8 (0-7, 8-15). */
typedef double d4 __attribute__((vector_size(32)));
typedef double d8 __attribute__((vector_size(64)));
typedef float v4 __attribute__((vector_size(16)));
typedef union {
    v8 v;
    v4 h[2];
} v8_halves;

/* Floats to doubles, per instruction set: GCC 12 converts a generic v4 or
 * v8 in two halves put back together (on AVX2 through the stack), where
 * the target has one instruction. A kernel gets the pair of its set. */
typedef struct {
    d4 (*cvt4)(v4 x);
    d8 (*cvt8)(v8 x);
} widen_isa;

VEC_INLINE d4 d4_cvt_c(v4 x) { return __builtin_convertvector(x, d4); }
VEC_INLINE d8 d8_cvt_c(v8 x) { return __builtin_convertvector(x, d8); }
#if PIC_X86_KERNELS
V16_TARGET_AVX2 VEC_INLINE d4 d4_cvt_avx2(v4 x) { return (d4)_mm256_cvtps_pd((__m128)x); }
V16_TARGET_AVX2 VEC_INLINE d8 d8_cvt_avx2(v8 x) { return __builtin_convertvector(x, d8); } /* unused: AVX2 widens v4 */
V16_TARGET_AVX512 VEC_INLINE d4 d4_cvt_avx512(v4 x) { return (d4)_mm256_cvtps_pd((__m128)x); }
V16_TARGET_AVX512 VEC_INLINE d8 d8_cvt_avx512(v8 x) { return (d8)_mm512_cvtps_pd((__m256)x); }
#endif

/* A row's terms a block of BLOCK vectors at a time: the block's exps, then
 * their sums (or gradients). Each vector's exp and then its sums, in turn,
 * ran about 20% slower, forward and backward, on AVX2 and AVX-512 alike: an
 * exp is a chain of some twenty dependent operations, and a block of them
 * side by side keeps more in flight (on AVX2 also apart from the eight
 * sums' registers). Each element gets the same operations, each sum its
 * terms in the same order. */
enum { BLOCK = 8 }; /* vectors (the unroll pragmas' count) */

/* Lanes i0 + l < V of x / T, the others set to fill. */
VEC_INLINE v16 load_z(const float *x, int i0, int V, float T, float fill) {
    if (V - i0 >= 16) return v16_load(x + i0) / T;
    v16 z = v16_loadn(x + i0, V - i0) / T;
    for (int l = V - i0; l < 16; l++) z[l] = fill;
    return z;
}

VEC_INLINE double d16_reduce(d16 a) {
    for (int s = 8; s >= 1; s /= 2)
        for (int l = 0; l < s; l++) a[l] = a[l] + a[l + s];
    return a[0];
}

/* v16_max at eight lanes: a > b ? a : b, b where either is NaN. */
VEC_INLINE v8 v8_max(v8 a, v8 b) {
    i8 gt = b < a;
    return (v8)(((i8)a & gt) | ((i8)b & ~gt));
}

/* The terms of a row's last, partial sixteen (i0 + 16 > V): e and z - m as
 * for whole ones, then z - m = 0 past V, where e = exp(-inf) = 0 (0 * -inf
 * would be NaN). Once a row, so a v16 in memory costs nothing. */
VEC_INLINE void tail_terms(bool halves, const float *x, int i0, int V, float T, float m, v16 *e, v16 *zm) {
    *zm = load_z(x, i0, V, T, -INFINITY) - m;
    *e = v16_exp_neg(halves, *zm);
    for (int l = V - i0; l < 16; l++) (*zm)[l] = 0;
}

/* AVX2: e and z - m of elements 8h..8h+7 of a sixteen into their lanes. */
VEC_INLINE void add_v8(widen_isa w, d4 S[4], d4 Sz[4], int h, v8 e, v8 zm) {
    v8_halves eh = {e}, zh = {zm};
    _Pragma("GCC unroll 2") for (int q = 0; q < 2; q++) {
        d4 ed = w.cvt4(eh.h[q]);
        S[2 * h + q] += ed;
        Sz[2 * h + q] += ed * w.cvt4(zh.h[q]);
    }
}

/* AVX-512: all sixteen. */
VEC_INLINE void add_v16(widen_isa w, d8 S[2], d8 Sz[2], v16 e, v16 zm) {
    v16_halves eh = {e}, zh = {zm};
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        d8 ed = w.cvt8(eh.h[h]);
        S[h] += ed;
        Sz[h] += ed * w.cvt8(zh.h[h]);
    }
}

/* row_sums on AVX2: each whole sixteen as two v8 in registers. */
VEC_INLINE void row_sums8(widen_isa w, const float *x, int V, float T, float *mp, double *Sp, double *Szp) {
    int whole = V / 16 * 16;
    v16_halves mv;
    mv.h[0] = mv.h[1] = (v8){0} - INFINITY;
    for (int i = 0; i < whole; i += 16)
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) mv.h[h] = v8_max(mv.h[h], v8_load(x + i + 8 * h) / T);
    if (whole < V) mv.v = v16_max(true, mv.v, load_z(x, whole, V, T, -INFINITY));
    float m = v16_hmax(true, mv.v);
    d4 S[4] = {0}, Sz[4] = {0};
    int i = 0;
    for (; i + 8 * BLOCK <= whole; i += 8 * BLOCK) {
        v8 e[BLOCK], zm[BLOCK];
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            zm[k] = v8_load(x + i + 8 * k) / T - m;
            e[k] = v8_exp_neg(true, zm[k]);
        }
        /* not unrolled: GCC would convert all sixteen halves first and spill them (5% slower) */
        _Pragma("GCC unroll 1") for (int k = 0; k < BLOCK; k += 2)
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) add_v8(w, S, Sz, h, e[k + h], zm[k + h]);
    }
    for (; i < whole; i += 16)
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            v8 zm = v8_load(x + i + 8 * h) / T - m;
            add_v8(w, S, Sz, h, v8_exp_neg(true, zm), zm);
        }
    if (whole < V) {
        v16_halves e, zm;
        tail_terms(true, x, whole, V, T, m, &e.v, &zm.v);
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) add_v8(w, S, Sz, h, e.h[h], zm.h[h]);
    }
    union {
        d4 q[4];
        d16 v;
    } s = {{S[0], S[1], S[2], S[3]}}, sz = {{Sz[0], Sz[1], Sz[2], Sz[3]}};
    *mp = m, *Sp = d16_reduce(s.v), *Szp = d16_reduce(sz.v);
}

/* row_sums on AVX-512 (and the scalar build): v16 in a register. */
VEC_INLINE void row_sums16(widen_isa w, const float *x, int V, float T, float *mp, double *Sp, double *Szp) {
    int whole = V / 16 * 16;
    v16 mv = (v16){0} - INFINITY;
    for (int i = 0; i < whole; i += 16) mv = v16_max(false, mv, v16_load(x + i) / T);
    if (whole < V) mv = v16_max(false, mv, load_z(x, whole, V, T, -INFINITY));
    float m = v16_hmax(false, mv);
    d8 S[2] = {0}, Sz[2] = {0};
    int i = 0;
    for (; i + 16 * BLOCK <= whole; i += 16 * BLOCK) {
        v16 e[BLOCK], zm[BLOCK];
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            zm[k] = v16_load(x + i + 16 * k) / T - m;
            e[k] = v16_exp_neg(false, zm[k]);
        }
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) add_v16(w, S, Sz, e[k], zm[k]);
    }
    for (; i < whole; i += 16) {
        v16 zm = v16_load(x + i) / T - m;
        add_v16(w, S, Sz, v16_exp_neg(false, zm), zm);
    }
    if (whole < V) {
        v16 e, zm;
        tail_terms(false, x, whole, V, T, m, &e, &zm);
        add_v16(w, S, Sz, e, zm);
    }
    union {
        d8 h[2];
        d16 v;
    } s = {{S[0], S[1]}}, sz = {{Sz[0], Sz[1]}};
    *mp = m, *Sp = d16_reduce(s.v), *Szp = d16_reduce(sz.v);
}

/* m = max z, S = sum exp(z - m), Sz = sum exp(z - m) (z - m) of z = x / T:
 * exp(z - m) by v16_exp_neg (about 1 ulp; v8_exp_neg is the same lane by
 * lane), the sums in sixteen double lanes (element i in lane i mod 16, each
 * in ascending i) and a fixed tree, the max too lane by lane in order and
 * then by v16_hmax's tree (NaNs and zeros' signs fall alike), so the
 * result is the same bits on every instruction set and for every row's
 * place. */
VEC_INLINE void row_sums(bool halves, widen_isa w, const float *x, int V, float T, float *mp, double *Sp,
                         double *Szp) {
    if (halves)
        row_sums8(w, x, V, T, mp, Sp, Szp);
    else
        row_sums16(w, x, V, T, mp, Sp, Szp);
}

typedef struct {
    float *logp, *ent;
    const float *logits;
    const int32_t *targets;
    int V;
    float T;
} args;

VEC_INLINE void rows(bool halves, widen_isa w, void *ctx, size_t begin, size_t end) {
    const args *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float m;
        double S, Sz;
        row_sums(halves, w, x, V, a->T, &m, &S, &Sz);
        double lse = log(S); /* relative to m */
        if (a->logp && a->targets) a->logp[n] = (float)((double)(x[a->targets[n]] / a->T - m) - lse);
        if (a->ent) a->ent[n] = (float)(lse - Sz / S);
    }
}


/* With z = logits / T, p = softmax(z) and E = sum p z:
 *   d logp(y) / dz_j = [j = y] - p_j,   dH / dz_j = -p_j (z_j - E),
 * and d/dlogits = d/dz / T. A row is overwritten by its gradient (dlogits
 * may equal logits): the probabilities exist one at a time. */
typedef struct {
    float *dlogits;
    const float *logits, *dlogp, *dent;
    const int32_t *targets;
    int V;
    float T;
} bargs;

/* One row's gradient from its m, E = Sz / S and 1 / S. */
typedef struct {
    float m, E, invS, invT, gl, ge;
    int y;
} grad_row;

/* g with gl added to lane y: a select, where g[y] += gl would put g in
 * memory. The sum is the same one. */
VEC_INLINE v8 v8_add_at(v8 g, int y, float gl) {
    i8 at = (i8){0, 1, 2, 3, 4, 5, 6, 7} == y;
    return (v8)(((i8)(g + gl) & at) | ((i8)g & ~at));
}

VEC_INLINE v16 v16_add_at(v16 g, int y, float gl) {
    i16 at = (i16){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} == y;
    return (v16)(((i16)(g + gl) & at) | ((i16)g & ~at));
}

/* A whole block's gradient (x may be dx: the block is read before it is
 * written), then the rest a vector at a time. */
VEC_INLINE void grad8(const grad_row *r, const float *x, float *dx, int V, float T) {
    int i = 0;
    for (; i + 8 * BLOCK <= V; i += 8 * BLOCK) {
        v8 zm[BLOCK], p[BLOCK];
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            zm[k] = v8_load(x + i + 8 * k) / T - r->m;
            p[k] = v8_exp_neg(true, zm[k]) * r->invS;
        }
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            v8 g = -r->gl * p[k] - r->ge * p[k] * (zm[k] - r->E);
            if (r->y - i - 8 * k >= 0 && r->y - i - 8 * k < 8) g = v8_add_at(g, r->y - i - 8 * k, r->gl);
            v8_storen(dx + i + 8 * k, g * r->invT, 8);
        }
    }
    for (; i < V; i += 8) {
        v8 zm = v8_load_to(x, i, V) / T - r->m, p = v8_exp_neg(true, zm) * r->invS;
        v8 g = -r->gl * p - r->ge * p * (zm - r->E);
        if (r->y >= i && r->y < i + 8) g = v8_add_at(g, r->y - i, r->gl);
        v8_storen(dx + i, g * r->invT, V - i < 8 ? V - i : 8);
    }
}

VEC_INLINE void grad16(const grad_row *r, const float *x, float *dx, int V, float T) {
    int i = 0;
    for (; i + 16 * BLOCK <= V; i += 16 * BLOCK) {
        v16 zm[BLOCK], p[BLOCK];
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            zm[k] = v16_load(x + i + 16 * k) / T - r->m;
            p[k] = v16_exp_neg(false, zm[k]) * r->invS;
        }
        _Pragma("GCC unroll 8") for (int k = 0; k < BLOCK; k++) {
            v16 g = -r->gl * p[k] - r->ge * p[k] * (zm[k] - r->E);
            if (r->y - i - 16 * k >= 0 && r->y - i - 16 * k < 16) g = v16_add_at(g, r->y - i - 16 * k, r->gl);
            v16_storen(dx + i + 16 * k, g * r->invT, 16);
        }
    }
    for (; i < V; i += 16) {
        v16 zm = load_z(x, i, V, T, -INFINITY) - r->m, p = v16_exp_neg(false, zm) * r->invS;
        v16 g = -r->gl * p - r->ge * p * (zm - r->E);
        if (r->y >= i && r->y < i + 16) g = v16_add_at(g, r->y - i, r->gl);
        v16_storen(dx + i, g * r->invT, V - i < 16 ? V - i : 16);
    }
}

VEC_INLINE void brows(bool halves, widen_isa w, void *ctx, size_t begin, size_t end) {
    const bargs *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float *dx = a->dlogits + n * V;
        grad_row r;
        double S, Sz;
        row_sums(halves, w, x, V, a->T, &r.m, &S, &Sz);
        r.gl = a->dlogp ? a->dlogp[n] : 0, r.ge = a->dent ? a->dent[n] : 0;
        r.E = (float)(Sz / S), r.invS = (float)(1.0 / S), r.invT = 1.0f / a->T;
        r.y = a->targets ? a->targets[n] : -1;
        if (halves)
            grad8(&r, x, dx, V, a->T);
        else
            grad16(&r, x, dx, V, a->T);
    }
}

/* The rows once per instruction set, chosen as matmul_bi's kernels are
 * (PIC_ISA, else the CPU's best); all give the same bits. As
 * ISA_ROW_KERNELS (model/isa_kernels.h), with each set's widening too. */
#define LOGITS_KERNEL_PAIR(SUF, TARGET, HALVES)                                                                \
    TARGET static void rows_##SUF(void *ctx, size_t begin, size_t end, int tid) {                              \
        (void)tid;                                                                                             \
        rows(HALVES, (widen_isa){d4_cvt_##SUF, d8_cvt_##SUF}, ctx, begin, end);                                \
    }                                                                                                          \
    TARGET static void brows_##SUF(void *ctx, size_t begin, size_t end, int tid) {                             \
        (void)tid;                                                                                             \
        brows(HALVES, (widen_isa){d4_cvt_##SUF, d8_cvt_##SUF}, ctx, begin, end);                               \
    }
VEC_EACH_ISA(LOGITS_KERNEL_PAIR)
static const struct {
    pic_task forward, backward;
} kernels[] = {ISA_ROW_TABLE_X86[PIC_ISA_SCALAR] = {rows_c, brows_c}};

void logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                             size_t N, int V, float temperature) {
    args a = {logp, entropy, logits, targets, V, temperature};
    pic_parallel_for(N, 1 + 65536 / (size_t)V, kernels[pic_kernel_isa()].forward, &a);
}

void logprob_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, const float *dlogp,
                              const float *dent, size_t N, int V, float temperature) {
    bargs a = {dlogits, logits, dlogp, dent, targets, V, temperature};
    pic_parallel_for(N, 1 + 65536 / (size_t)V, kernels[pic_kernel_isa()].backward, &a);
}
