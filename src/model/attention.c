/* Causal grouped-query attention over packed sequences. Each (token, head)
 * is one work item: scores against every earlier position of its sequence
 * (from the KV cache or from this batch's own keys), a float32 softmax, and
 * the weighted sum of values. Work is handed out dynamically because late
 * tokens cost more than early ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/layers.h"
#include "model/parallel.h"

void qkv_split_forward(float *q, float *k, float *v, const float *qkv, size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * (size_t)kvd;
    for (size_t n = 0; n < N; n++) {
        const float *r = qkv + n * w;
        memcpy(q + n * qd, r, qd * sizeof(float));
        memcpy(k + n * kvd, r + qd, kvd * sizeof(float));
        memcpy(v + n * kvd, r + qd + kvd, kvd * sizeof(float));
    }
}

/* Sixteen independent accumulators: the compiler turns them into one
 * AVX-512 or two AVX2 vectors (without -ffast-math it may not reorder a
 * single running sum). */
#define LANES 16
static inline float dot(const float *a, const float *b, int n) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

typedef struct {
    float *out, *lse;
    const float *q;
    const pic_attn_input *in;
    int nh, group, hd;
    float scale;
    float *scratch; /* per thread: max_pos + 1 scores */
    size_t scratch_len;
} args;

/* The hot loop of attention, compiled for the vector units the CPU has
 * (dispatched once at load time). */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void items(void *ctx, size_t begin, size_t end, int tid) {
    const args *a = ctx;
    const pic_attn_input *in = a->in;
    int hd = a->hd;
    float *sc = a->scratch + (size_t)tid * a->scratch_len;
    for (size_t it = begin; it < end; it++) {
        size_t n = it / a->nh;
        int h = (int)(it % a->nh), g = h / a->group, seq = in->tok_seq[n], T = in->tok_pos[n] + 1;
        const float *q = a->q + it * hd;
        const float *K = in->k[seq] + (size_t)g * hd, *V = in->v[seq] + (size_t)g * hd;
        float m = -INFINITY;
        for (int s = 0; s < T; s++) {
            sc[s] = dot(q, K + (size_t)s * in->kv_stride, hd) * a->scale;
            if (sc[s] > m) m = sc[s];
        }
        float sum = 0;
        for (int s = 0; s < T; s++) sum += sc[s] = expf(sc[s] - m);
        /* a local accumulator cannot alias the values, so the fixed-width
         * inner loop vectorizes */
        float acc[PIC_MAX_HEAD_DIM];
        memset(acc, 0, hd * sizeof(float));
        float inv = 1.0f / sum;
        for (int s = 0; s < T; s++) {
            const float *vs = V + (size_t)s * in->kv_stride;
            float p = sc[s] * inv;
            int i = 0;
            for (; i + LANES <= hd; i += LANES)
                for (int j = 0; j < LANES; j++) acc[i + j] += p * vs[i + j];
            for (; i < hd; i++) acc[i] += p * vs[i];
        }
        memcpy(a->out + it * hd, acc, hd * sizeof(float));
        if (a->lse) a->lse[it] = m + logf(sum);
    }
}

void attention_forward(float *out, float *lse, const float *q, const pic_attn_input *in, int n_heads,
                       int n_kv_heads, int head_dim) {
    int max_pos = 0;
    for (size_t n = 0; n < in->N; n++)
        if (in->tok_pos[n] > max_pos) max_pos = in->tok_pos[n];
    args a = {out, lse, q, in, n_heads, n_heads / n_kv_heads, head_dim, (float)(1.0 / sqrt(head_dim)), NULL,
              (size_t)max_pos + 1};
    a.scratch = pic_malloc((size_t)pic_threads() * a.scratch_len * sizeof(float));
    size_t work = (size_t)(max_pos + 1) * head_dim;
    pic_parallel_for(in->N * n_heads, 1 + 16384 / work, items, &a);
    free(a.scratch);
}
