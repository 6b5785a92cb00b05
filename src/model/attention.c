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

/* The backward of causal GQA over packed sequences without a cache (the
 * training case). Probabilities are recomputed from the saved log-sum-exp,
 * never stored: p_j = exp(q.k_j * scale - lse). With D = dout . out,
 *   dv_j += p_j dout,  ds_j = p_j (dout . v_j - D),
 *   dq += scale sum_j ds_j k_j,  dk_j += scale ds_j q.
 * One work item is a (sequence, kv head): it alone writes that head's keys'
 * and values' gradients and its query heads', so there are no races and the
 * sums run in a fixed order. */
typedef struct {
    float *dq;
    float *const *dk, *const *dv;
    const float *dout, *out, *lse, *q;
    const pic_attn_input *in;
    const size_t *first, *count;
    int nh, nkv, group, hd;
    float scale;
    float *scratch;
    size_t scratch_len;
} bargs;

static void bitems(void *ctx, size_t begin, size_t end, int tid) {
    const bargs *a = ctx;
    const pic_attn_input *in = a->in;
    int hd = a->hd;
    float *p = a->scratch + (size_t)tid * a->scratch_len;
    for (size_t it = begin; it < end; it++) {
        int s = (int)(it / a->nkv), g = (int)(it % a->nkv);
        const float *K = in->k[s] + (size_t)g * hd, *Vv = in->v[s] + (size_t)g * hd;
        float *dK = a->dk[s] + (size_t)g * hd, *dV = a->dv[s] + (size_t)g * hd;
        for (size_t n = a->first[s]; n < a->first[s] + a->count[s]; n++) {
            int T = in->tok_pos[n] + 1;
            for (int h = g * a->group; h < (g + 1) * a->group; h++) {
                size_t qh = n * a->nh + h;
                const float *q = a->q + qh * hd, *dout = a->dout + qh * hd, *out = a->out + qh * hd;
                float *dq = a->dq + qh * hd, lse = a->lse[qh];
                float D = dot(dout, out, hd);
                for (int j = 0; j < T; j++) p[j] = expf(dot(q, K + (size_t)j * in->kv_stride, hd) * a->scale - lse);
                for (int j = 0; j < T; j++) {
                    const float *kj = K + (size_t)j * in->kv_stride, *vj = Vv + (size_t)j * in->kv_stride;
                    float *dkj = dK + (size_t)j * in->kv_stride, *dvj = dV + (size_t)j * in->kv_stride;
                    float ds = p[j] * (dot(dout, vj, hd) - D) * a->scale;
                    for (int i = 0; i < hd; i++) {
                        dvj[i] += p[j] * dout[i];
                        dq[i] += ds * kj[i];
                        dkj[i] += ds * q[i];
                    }
                }
            }
        }
    }
}

void attention_backward(float *dq, float *const *dk, float *const *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const pic_attn_input *in, int n_seq, int n_heads,
                        int n_kv_heads, int head_dim) {
    size_t *first = pic_calloc((size_t)n_seq + 1, sizeof *first), *count = pic_calloc((size_t)n_seq + 1, sizeof *count);
    int max_pos = 0;
    for (size_t n = in->N; n-- > 0;) {
        first[in->tok_seq[n]] = n;
        count[in->tok_seq[n]]++;
        if (in->tok_pos[n] > max_pos) max_pos = in->tok_pos[n];
    }
    bargs a = {dq, dk, dv, dout, out, lse, q, in, first, count, n_heads, n_kv_heads, n_heads / n_kv_heads,
               head_dim, (float)(1.0 / sqrt(head_dim)), NULL, (size_t)max_pos + 1};
    a.scratch = pic_malloc((size_t)pic_threads() * a.scratch_len * sizeof(float));
    pic_parallel_for((size_t)n_seq * n_kv_heads, 1, bitems, &a);
    free(a.scratch);
    free(first);
    free(count);
}
