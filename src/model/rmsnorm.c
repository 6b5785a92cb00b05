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

static void rows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    int C = a->C;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->inp + n * C;
        float *y = a->out + n * C;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        float r = 1.0f / sqrtf((float)(ss / C) + a->eps);
        if (a->rstd) a->rstd[n] = r;
        for (int i = 0; i < C; i++) y[i] = a->weight[i] * (x[i] * r);
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N, int C,
                     float eps) {
    args a = {out, rstd, inp, weight, C, eps};
    pic_parallel_for(N, 1 + 16384 / (size_t)C, rows, &a);
}
