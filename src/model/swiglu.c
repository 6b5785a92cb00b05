/* SwiGLU: h = silu(g) * u with silu(g) = g * sigmoid(g), sixteen lanes at
 * a time through vec.h's sigmoid (expf was a tenth of a decode step at
 * batch 64). Lane by lane the same operations on every instruction set, so
 * the same bits; the kernels exist once per set, chosen as matmul_bi's. */
#include "model/isa_kernels.h"
#include "model/layers.h"

typedef struct {
    float *out;
    const float *gu;
    int F;
} args;

VEC_INLINE void rows(bool halves, void *ctx, size_t begin, size_t end) {
    const args *a = ctx;
    int F = a->F;
    for (size_t n = begin; n < end; n++) {
        const float *g = a->gu + n * 2 * F, *u = g + F;
        float *o = a->out + n * F;
        if (halves) { /* AVX2: eight lanes a step, in registers */
            for (int i = 0; i < F; i += 8) {
                v8 gv = v8_load_to(g, i, F);
                v8_storen(o + i, gv * v8_sigmoid(true, gv) * v8_load_to(u, i, F), F - i < 8 ? F - i : 8);
            }
            continue;
        }
        for (int i = 0; i < F; i += 16) {
            int w = F - i < 16 ? F - i : 16;
            v16 gv = v16_loadn(g + i, w);
            v16_storen(o + i, gv * v16_sigmoid(halves, gv) * v16_loadn(u + i, w), w);
        }
    }
}

/* h = silu(g) * u: du = dh * silu(g), dg = dh * u * sig(g) * (1 + g * (1 - sig(g))). */
typedef struct {
    float *dgu;
    const float *dh, *gu;
    int F;
} bargs;

VEC_INLINE void brows(bool halves, void *ctx, size_t begin, size_t end) {
    const bargs *a = ctx;
    int F = a->F;
    for (size_t n = begin; n < end; n++) {
        const float *g = a->gu + n * 2 * F, *u = g + F, *dh = a->dh + n * F;
        float *dg = a->dgu + n * 2 * F, *du = dg + F;
        if (halves) { /* AVX2: eight lanes a step, in registers */
            for (int i = 0; i < F; i += 8) {
                int w = F - i < 8 ? F - i : 8;
                v8 gv = v8_load_to(g, i, F), dhv = v8_load_to(a->dh + n * F, i, F), sg = v8_sigmoid(true, gv);
                v8_storen(du + i, dhv * (gv * sg), w);
                v8_storen(dg + i, dhv * v8_load_to(u, i, F) * sg * (1.0f + gv * (1.0f - sg)), w);
            }
            continue;
        }
        for (int i = 0; i < F; i += 16) {
            int w = F - i < 16 ? F - i : 16;
            v16 gv = v16_loadn(g + i, w), dhv = v16_loadn(dh + i, w), sg = v16_sigmoid(halves, gv);
            v16_storen(du + i, dhv * (gv * sg), w);
            v16_storen(dg + i, dhv * v16_loadn(u + i, w) * sg * (1.0f + gv * (1.0f - sg)), w);
        }
    }
}

ISA_ROW_KERNELS

void swiglu_forward(float *out, const float *gu, size_t N, int F) {
    args a = {out, gu, F};
    pic_parallel_for(N, 1 + 2048 / (size_t)F, kernels[pic_kernel_isa()].forward, &a);
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, size_t N, int F) {
    bargs a = {dgu, dh, gu, F};
    pic_parallel_for(N, 1 + 8192 / (size_t)F, kernels[pic_kernel_isa()].backward, &a);
}
