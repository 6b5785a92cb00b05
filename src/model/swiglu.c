#include <math.h>

#include "model/layers.h"
#include "model/parallel.h"

typedef struct {
    float *out;
    const float *gu;
    int F;
} args;

static void rows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    int F = a->F;
    for (size_t n = begin; n < end; n++) {
        const float *g = a->gu + n * 2 * F, *u = g + F;
        float *o = a->out + n * F;
        for (int i = 0; i < F; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void swiglu_forward(float *out, const float *gu, size_t N, int F) {
    args a = {out, gu, F};
    pic_parallel_for(N, 1 + 8192 / (size_t)F, rows, &a);
}

/* h = silu(g) * u: du = dh * silu(g), dg = dh * u * sig(g) * (1 + g * (1 - sig(g))). */
typedef struct {
    float *dgu;
    const float *dh, *gu;
    int F;
} bargs;

static void brows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const bargs *a = ctx;
    int F = a->F;
    for (size_t n = begin; n < end; n++) {
        const float *g = a->gu + n * 2 * F, *u = g + F, *dh = a->dh + n * F;
        float *dg = a->dgu + n * 2 * F, *du = dg + F;
        for (int i = 0; i < F; i++) {
            float sg = 1.0f / (1.0f + expf(-g[i]));
            du[i] = dh[i] * (g[i] * sg);
            dg[i] = dh[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, size_t N, int F) {
    bargs a = {dgu, dh, gu, F};
    pic_parallel_for(N, 1 + 8192 / (size_t)F, brows, &a);
}
