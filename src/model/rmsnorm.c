/* RMSNorm as transformers computes it in float32: x * rsqrt(mean(x^2) + eps),
 * then times the weight. The mean is accumulated in double so that long rows
 * do not drift from torch's cascaded sums. */
#include <math.h>

#include "model/layers.h"
#include "model/parallel.h"

typedef struct {
    float *out, *rstd;
    const float *inp, *weight;
    int C;
    float eps;
} args;

/* Row n's 1 / rms and its output. */
static void finish_row(const args *a, size_t n, double ss) {
    int C = a->C;
    const float *x = a->inp + n * C;
    float *y = a->out + n * C, r = 1.0f / sqrtf((float)(ss / C) + a->eps);
    if (a->rstd) a->rstd[n] = r;
    for (int i = 0; i < C; i++) y[i] = a->weight[i] * (x[i] * r);
}

/* A row's sum of squares is one chain of double additions, in order (its
 * bits); four rows' chains side by side keep the adder busy where one row
 * waits out each addition's latency. */
static void rows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    int C = a->C;
    size_t n = begin;
    for (; n + 4 <= end; n += 4) {
        const float *x0 = a->inp + n * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int i = 0; i < C; i++) {
            s0 += (double)x0[i] * x0[i];
            s1 += (double)x1[i] * x1[i];
            s2 += (double)x2[i] * x2[i];
            s3 += (double)x3[i] * x3[i];
        }
        finish_row(a, n, s0), finish_row(a, n + 1, s1), finish_row(a, n + 2, s2), finish_row(a, n + 3, s3);
    }
    for (; n < end; n++) {
        const float *x = a->inp + n * C;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        finish_row(a, n, ss);
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N, int C,
                     float eps) {
    args a = {out, rstd, inp, weight, C, eps};
    pic_parallel_for(N, (1 + 2048 / (size_t)C + 3) / 4 * 4, rows, &a); /* whole groups of four */
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

static void brows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const bargs *a = ctx;
    int C = a->C;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->inp + n * C, *dy = a->dout + n * C;
        float *dx = a->dinp + n * C, r = a->rstd[n];
        double dot = 0;
        for (int i = 0; i < C; i++) dot += (double)a->weight[i] * dy[i] * x[i];
        float k = (float)(dot * r * r * r / C);
        for (int i = 0; i < C; i++) dx[i] += r * (a->weight[i] * dy[i]) - x[i] * k;
    }
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, size_t N, int C) {
    bargs a = {dinp, dout, inp, weight, rstd, C};
    pic_parallel_for(N, 1 + 16384 / (size_t)C, brows, &a);
    if (dweight)
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            for (int i = 0; i < C; i++) dweight[i] += dy[i] * (x[i] * rstd[n]);
        }
}
