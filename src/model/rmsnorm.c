/* RMSNorm as transformers computes it in float32: x * rsqrt(mean(x^2) + eps),
 * then times the weight. The mean is accumulated in double so that long rows
 * do not drift from torch's cascaded sums. The row kernels exist once per
 * instruction set (isa_kernels.h) and give the same bits on each: a decode
 * step's norms run on one thread, where the scalar loops were a tenth of a
 * batch-8 step's serial time. */
#include <math.h>

#include "model/isa_kernels.h"
#include "model/layers.h"

typedef struct {
    float *out, *rstd;
    const float *inp, *weight;
    int C;
    float eps;
} args;

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

/* Row n's 1 / rms and its output, w * (x * r) a lane at a time. In place
 * (out == inp, Qwen3's q/k norm) each vector is read before it is written. */
VEC_INLINE void finish_row(const args *a, size_t n, double ss) {
    int C = a->C, i = 0;
    const float *x = a->inp + n * C, *w = a->weight;
    float *y = a->out + n * C, r = 1.0f / sqrtf((float)(ss / C) + a->eps);
    if (a->rstd) a->rstd[n] = r;
    for (; i + 8 <= C; i += 8) v8_storen(y + i, v8_load(w + i) * (v8_load(x + i) * r), 8);
    for (; i < C; i++) y[i] = w[i] * (x[i] * r);
}

VEC_INLINE v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The sums of squares of G groups of four rows from x (G = 1 or 2): lane q
 * of s[g] is row 4g + q's sum, one chain of double additions in the order
 * of i, as a loop per row would add them ((double)x * x is exact, so only
 * the additions round). Rows side by side in the lanes, and two groups'
 * chains interleaved, so eight rows take the time of one chain. */
VEC_INLINE void sumsq(const float *x, int C, int G, v4d *s) {
    const v4i lo = {0, 4, 1, 5}, hi = {2, 6, 3, 7}, a = {0, 1, 4, 5}, b = {2, 3, 6, 7};
    for (int g = 0; g < G; g++) s[g] = (v4d){0};
    int i = 0;
    for (; i + 4 <= C; i += 4)
        for (int g = 0; g < G; g++) { /* transpose a 4 x 4 block: t[k] holds column i + k of the four rows */
            const float *xg = x + (size_t)4 * g * C + i;
            v4f r0 = load4(xg), r1 = load4(xg + C), r2 = load4(xg + 2 * C), r3 = load4(xg + 3 * C);
            v4f p = __builtin_shuffle(r0, r1, lo), q = __builtin_shuffle(r2, r3, lo);
            v4f u = __builtin_shuffle(r0, r1, hi), v = __builtin_shuffle(r2, r3, hi);
            v4f t[4] = {__builtin_shuffle(p, q, a), __builtin_shuffle(p, q, b), __builtin_shuffle(u, v, a),
                        __builtin_shuffle(u, v, b)};
            for (int k = 0; k < 4; k++) {
                v4d d = __builtin_convertvector(t[k], v4d);
                s[g] += d * d;
            }
        }
    for (; i < C; i++)
        for (int g = 0; g < G; g++) {
            const float *xg = x + (size_t)4 * g * C + i;
            v4d d = {xg[0], xg[C], xg[2 * C], xg[3 * C]};
            s[g] += d * d;
        }
}

VEC_INLINE void rows(bool halves, void *ctx, size_t begin, size_t end) {
    (void)halves;
    const args *a = ctx;
    int C = a->C;
    size_t n = begin;
    v4d s[2];
    for (; n + 8 <= end; n += 8) {
        sumsq(a->inp + n * C, C, 2, s);
        for (int q = 0; q < 8; q++) finish_row(a, n + q, s[q / 4][q % 4]);
    }
    for (; n + 4 <= end; n += 4) {
        sumsq(a->inp + n * C, C, 1, s);
        for (int q = 0; q < 4; q++) finish_row(a, n + q, s[0][q]);
    }
    for (; n < end; n++) {
        const float *x = a->inp + n * C;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        finish_row(a, n, ss);
    }
}

/* With y = w * x * r, r = 1/sqrt(mean(x^2) + eps):
 *   dx = r * (w * dy) - x * r^3 / C * sum(w * dy * x),   dw += sum_n dy * x * r.
 * dinp rows are independent (threads); dweight is summed row after row in
 * one thread so the result does not depend on the thread count. */
typedef struct {
    float *dinp;
    const float *dout, *inp, *weight, *rstd;
    int C;
} bargs;

VEC_INLINE void brows(bool halves, void *ctx, size_t begin, size_t end) {
    (void)halves;
    const bargs *a = ctx;
    int C = a->C;
    const float *w = a->weight;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->inp + n * C, *dy = a->dout + n * C;
        float *dx = a->dinp + n * C, r = a->rstd[n];
        double dot = 0;
        for (int i = 0; i < C; i++) dot += (double)w[i] * dy[i] * x[i];
        float k = (float)(dot * r * r * r / C);
        int i = 0;
        for (; i + 8 <= C; i += 8) {
            v8 d = v8_load(dx + i) + (r * (v8_load(w + i) * v8_load(dy + i)) - v8_load(x + i) * k);
            v8_storen(dx + i, d, 8);
        }
        for (; i < C; i++) dx[i] += r * (w[i] * dy[i]) - x[i] * k;
    }
}

ISA_ROW_KERNELS

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N, int C,
                     float eps) {
    args a = {out, rstd, inp, weight, C, eps};
    /* whole groups of eight rows a job */
    pic_parallel_for(N, (1 + 2048 / (size_t)C + 7) / 8 * 8, kernels[pic_kernel_isa()].forward, &a);
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, size_t N, int C) {
    bargs a = {dinp, dout, inp, weight, rstd, C};
    pic_parallel_for(N, 1 + 16384 / (size_t)C, kernels[pic_kernel_isa()].backward, &a);
    if (dweight)
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            for (int i = 0; i < C; i++) dweight[i] += dy[i] * (x[i] * rstd[n]);
        }
}
