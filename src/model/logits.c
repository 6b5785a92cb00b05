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

/* m = max z, S = sum exp(z - m), Sz = sum exp(z - m) (z - m) of z = x / T:
 * exp(z - m) by v16_exp_neg (about 1 ulp), the sums in sixteen double lanes
 * (element i in lane i mod 16) and a fixed tree, so the result is the same
 * bits on every instruction set and for every row's place. */
VEC_INLINE void row_sums(bool halves, const float *x, int V, float T, float *mp, double *Sp, double *Szp) {
    v16 mv = (v16){0} - INFINITY;
    for (int i = 0; i < V; i += 16) mv = v16_max(halves, mv, load_z(x, i, V, T, -INFINITY));
    float m = v16_hmax(halves, mv);
    d16 S = {0}, Sz = {0};
    for (int i = 0; i < V; i += 16) {
        v16 zm = load_z(x, i, V, T, -INFINITY) - m, e = v16_exp_neg(halves, zm); /* padding: exp(-inf) = 0 */
        if (V - i < 16)
            for (int l = V - i; l < 16; l++) zm[l] = 0;
        d16 ed = __builtin_convertvector(e, d16);
        S += ed;
        Sz += ed * __builtin_convertvector(zm, d16);
    }
    *mp = m, *Sp = d16_reduce(S), *Szp = d16_reduce(Sz);
}

typedef struct {
    float *logp, *ent;
    const float *logits;
    const int32_t *targets;
    int V;
    float T;
} args;

VEC_INLINE void rows(bool halves, void *ctx, size_t begin, size_t end) {
    const args *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float m;
        double S, Sz;
        row_sums(halves, x, V, a->T, &m, &S, &Sz);
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

VEC_INLINE void brows(bool halves, void *ctx, size_t begin, size_t end) {
    const bargs *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float *dx = a->dlogits + n * V;
        float m;
        double S, Sz;
        row_sums(halves, x, V, a->T, &m, &S, &Sz);
        float gl = a->dlogp ? a->dlogp[n] : 0, ge = a->dent ? a->dent[n] : 0;
        float E = (float)(Sz / S), invS = (float)(1.0 / S), invT = 1.0f / a->T;
        int y = a->targets ? a->targets[n] : -1;
        for (int i = 0; i < V; i += 16) {
            v16 zm = load_z(x, i, V, a->T, -INFINITY) - m, p = v16_exp_neg(halves, zm) * invS;
            v16 g = -gl * p - ge * p * (zm - E);
            if (y >= i && y < i + 16) g[y - i] += gl;
            v16_storen(dx + i, g * invT, V - i < 16 ? V - i : 16);
        }
    }
}

/* The rows once per instruction set, chosen as matmul_bi's kernels are
 * (PIC_ISA, else the CPU's best); all give the same bits. */
ISA_ROW_KERNELS

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
