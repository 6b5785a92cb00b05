/* Log-probabilities and entropies of softmax(logits / T) straight from the
 * logits: with z = logits / T, m = max z, S = sum exp(z - m),
 *   log p(target) = z[target] - m - log S
 *   H = m + log S - sum exp(z - m) z / S
 * two passes over a row and no row of probabilities anywhere. Sums are in
 * double: H is a difference of two numbers of the size of log V. */
#include <math.h>

#include "model/layers.h"
#include "model/parallel.h"

/* m = max z, S = sum exp(z - m), Sz = sum exp(z - m) (z - m) of z = x / T. */
static void row_sums(const float *x, int V, float T, float *mp, double *Sp, double *Szp) {
    float m = -INFINITY;
    for (int i = 0; i < V; i++) {
        float z = x[i] / T;
        if (z > m) m = z;
    }
    double S = 0, Sz = 0;
    for (int i = 0; i < V; i++) {
        float z = x[i] / T;
        double e = expf(z - m);
        S += e;
        Sz += e * (z - m);
    }
    *mp = m, *Sp = S, *Szp = Sz;
}

typedef struct {
    float *logp, *ent;
    const float *logits;
    const int32_t *targets;
    int V;
    float T;
} args;

static void rows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const args *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float m;
        double S, Sz;
        row_sums(x, V, a->T, &m, &S, &Sz);
        double lse = log(S); /* relative to m */
        if (a->logp && a->targets) a->logp[n] = (float)((double)(x[a->targets[n]] / a->T - m) - lse);
        if (a->ent) a->ent[n] = (float)(lse - Sz / S);
    }
}

void logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                             size_t N, int V, float temperature) {
    args a = {logp, entropy, logits, targets, V, temperature};
    pic_parallel_for(N, 1 + 65536 / (size_t)V, rows, &a);
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

static void brows(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const bargs *a = ctx;
    int V = a->V;
    for (size_t n = begin; n < end; n++) {
        const float *x = a->logits + n * V;
        float *dx = a->dlogits + n * V;
        float m;
        double S, Sz;
        row_sums(x, V, a->T, &m, &S, &Sz);
        float gl = a->dlogp ? a->dlogp[n] : 0, ge = a->dent ? a->dent[n] : 0;
        float E = (float)(Sz / S), invS = (float)(1.0 / S), invT = 1.0f / a->T;
        int y = a->targets ? a->targets[n] : -1;
        for (int i = 0; i < V; i++) {
            float zm = x[i] / a->T - m, p = expf(zm) * invS;
            float g = -gl * p - ge * p * (zm - E);
            if (i == y) g += gl;
            dx[i] = g * invT;
        }
    }
}

void logprob_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, const float *dlogp,
                              const float *dent, size_t N, int V, float temperature) {
    bargs a = {dlogits, logits, dlogp, dent, targets, V, temperature};
    pic_parallel_for(N, 1 + 65536 / (size_t)V, brows, &a);
}
