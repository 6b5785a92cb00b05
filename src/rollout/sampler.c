/* The sampler (sampler.h). Probabilities are exp(z - max) in double
 * (sampler_exp.h: one exp on every instruction set), never
 * normalized until the draw, so truncation compares the same numbers a
 * full softmax would. Only the candidates need sorting: without top-k and
 * top-p nothing is sorted, top-k first keeps the k best by a partial
 * selection, and top-p alone sorts only as many of the best as its nucleus
 * needs (nucleus). */
#include "rollout/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "rollout/sampler_exp.h"

void sampler_free(sampler_scratch *s) {
    free(s->idx), free(s->tmp), free(s->w), free(s->key), free(s->key_tmp);
    *s = (sampler_scratch){0};
}

static void reserve(sampler_scratch *s, int V) {
    if (s->cap >= V) return;
    sampler_free(s);
    s->idx = pic_malloc((size_t)V * sizeof *s->idx);
    s->tmp = pic_malloc((size_t)V * sizeof *s->tmp);
    s->w = pic_malloc((size_t)V * sizeof *s->w);
    s->key = pic_malloc((size_t)V * sizeof *s->key);
    s->key_tmp = pic_malloc((size_t)V * sizeof *s->key_tmp);
    s->cap = V;
}

/* A logit's sort key: ascending keys are descending logits. The IEEE bits
 * made monotone as unsigned (negatives flipped, positives above them),
 * -0 taken as +0, complemented; the device's sort_key.cuh is the same. A
 * total order even with NaN logits (a positive NaN before +inf, a negative
 * one after -inf), where comparing floats is none and quickselect ran off
 * the end of its array. */
static inline uint32_t logit_key(float x) {
    float f = x == 0.0f ? 0.0f : x;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = u & 0x80000000u ? ~u : u | 0x80000000u; /* ascending as the floats */
    return ~u;
}

/* Sorting by logit (ties: lower id first) through a file-scope pointer,
 * since qsort has no context argument; the weights are sorted with it. */
static _Thread_local const float *sort_logits;
static int by_logit(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    uint32_t x = logit_key(sort_logits[i]), y = logit_key(sort_logits[j]);
    if (x != y) return x < y ? -1 : 1;
    return (i > j) - (i < j);
}

static int32_t argmax(const float *z, int V) {
    int32_t best = 0;
    for (int32_t i = 1; i < V; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

/* Moves the k best (by_logit order) to the front of idx[0..n), unordered. */
static void select_top(int32_t *idx, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t pivot = idx[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (by_logit(&idx[i], &pivot) < 0) i++;
            while (by_logit(&idx[j], &pivot) > 0) j--;
            if (i <= j) {
                int32_t t = idx[i];
                idx[i++] = idx[j];
                idx[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* After select_top: the tokens tied with the k-th best, scaled by T as HF's
 * and vLLM's top-k compare them (scores < the k-th score are dropped), moved
 * up behind the k best. Returns how many are kept. */
static int keep_ties(const float *z, int32_t *idx, int n, int k, float T) {
    int kth = 0;
    for (int i = 1; i < k; i++)
        if (by_logit(&idx[i], &idx[kth]) > 0) kth = i;
    float edge = z[idx[kth]] / T;
    int kept = k;
    for (int i = k; i < n; i++)
        if (z[idx[i]] / T == edge) {
            int32_t t = idx[kept];
            idx[kept++] = idx[i];
            idx[i] = t;
        }
    return kept;
}

/* s->idx[0..n) = 0..n-1 in by_logit order: a stable LSD radix sort (11,
 * 11, 10 bits) of logit_key's keys, so equal logits keep their ids
 * ascending. Linear in n: qsort with a
 * comparator took 20 ms over 152k logits, this about 1. */
static void sort_all_by_logit(const float *z, int n, sampler_scratch *s) {
    for (int i = 0; i < n; i++) s->key[i] = logit_key(z[i]), s->idx[i] = i;
    static const int shift[3] = {0, 11, 22}, bits[3] = {11, 11, 10};
    int32_t *idx = s->idx, *tmp = s->tmp;
    uint32_t *key = s->key, *key_tmp = s->key_tmp;
    for (int pass = 0; pass < 3; pass++) {
        size_t count[2048] = {0};
        uint32_t mask = (1u << bits[pass]) - 1;
        for (int i = 0; i < n; i++) count[(key[i] >> shift[pass]) & mask]++;
        size_t at = 0;
        for (uint32_t d = 0; d <= mask; d++) {
            size_t c = count[d];
            count[d] = at, at += c;
        }
        for (int i = 0; i < n; i++) {
            size_t to = count[(key[i] >> shift[pass]) & mask]++;
            tmp[to] = idx[i], key_tmp[to] = key[i];
        }
        int32_t *ti = idx;
        idx = tmp, tmp = ti;
        uint32_t *tk = key;
        key = key_tmp, key_tmp = tk;
    }
    if (idx != s->idx) memcpy(s->idx, idx, (size_t)n * sizeof *idx); /* an odd pass count ends in tmp */
}

/* Top-p over the whole vocabulary (no top-k) without qsort over all of it:
 * a draw sorted 152k ids (21-25 ms) to keep a few dozen. The weights in id
 * order, S their sum in that order; then the best 256 by logit, sorted,
 * and if the walk down them does not cross top_p x S (a flat
 * distribution), all of them (sort_all_by_logit).
 * Returns how many are kept: s->idx[0..keep) in by_logit order, s->w[0..
 * keep) their weights. */
static int nucleus(const float *logits, int n, float T, float m, double top_p, sampler_scratch *s) {
    sampler_exp(s->w, logits, (size_t)n, T, m);
    double S = 0;
    for (int i = 0; i < n; i++) S += s->w[i];
    double limit = top_p * S, before;
    int keep;
    for (int k = n < 256 ? n : 256;; k = n) {
        if (k < n) {
            select_top(s->idx, n, k);
            qsort(s->idx, (size_t)k, sizeof *s->idx, by_logit);
        } else {
            sort_all_by_logit(logits, n, s);
        }
        /* HF: drop the tokens whose ascending cumulative mass is <= 1 -
         * top_p; equivalently keep, in descending order, each token whose
         * predecessors' mass is still below top_p (the one crossing it stays) */
        before = 0, keep = 0;
        while (keep < k && (keep == 0 || before < limit)) before += s->w[s->idx[keep++]];
        if (before >= limit || k == n) break;
    }
    sampler_exp_ids(s->w, logits, s->idx, (size_t)keep, T, m); /* now in kept order */
    return keep;
}

void sampler_dist(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, const int32_t **ids,
                  const double **p, int *np) {
    reserve(s, V);
    float T = sp->temperature;
    /* z / T is monotone in z, so the order of logits is the order of z / T */
    float m = logits[argmax(logits, V)] / T;
    int n = V;
    for (int i = 0; i < V; i++) s->idx[i] = i;
    sort_logits = logits;
    if (sp->top_k > 0 && sp->top_k < n) {
        select_top(s->idx, n, sp->top_k);
        n = keep_ties(logits, s->idx, n, sp->top_k, T);
    }
    bool sorted = false;
    if (sp->top_p < 1.0f && n == V) {
        n = nucleus(logits, n, T, m, sp->top_p, s);
        sorted = true;
    } else if (sp->top_p < 1.0f) { /* top-k's few, sorted, S summed in their order */
        qsort(s->idx, (size_t)n, sizeof *s->idx, by_logit);
        sorted = true;
        sampler_exp_ids(s->w, logits, s->idx, (size_t)n, T, m);
        double S = 0;
        for (int i = 0; i < n; i++) S += s->w[i];
        double before = 0, limit = (double)sp->top_p * S; /* nucleus()'s cut */
        int keep = 0;
        while (keep < n && (keep == 0 || before < limit)) before += s->w[keep++];
        n = keep;
    } else {
        sampler_exp_ids(s->w, logits, s->idx, (size_t)n, T, m);
    }
    if (sp->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  exp(z_i - m) >= min_p, whatever the normalization */
        int keep = 0;
        for (int i = 0; i < n; i++)
            if (s->w[i] >= (double)sp->min_p) {
                s->idx[keep] = s->idx[i];
                s->w[keep++] = s->w[i];
            }
        /* only NaN logits keep nothing (the first weight is exp(0) otherwise):
         * the first token stays, as on the GPU (draw.cuh), and its NaN
         * log-prob is reported with the record (record.c) */
        n = keep ? keep : 1;
    }
    if (!sorted) {
        /* the same order as the sorted path: the draw walks it */
        qsort(s->idx, (size_t)n, sizeof *s->idx, by_logit);
        sampler_exp_ids(s->w, logits, s->idx, (size_t)n, T, m);
    }
    double S = 0;
    for (int i = 0; i < n; i++) S += s->w[i];
    for (int i = 0; i < n; i++) s->w[i] /= S;
    *ids = s->idx;
    *p = s->w;
    *np = n;
}

int32_t sampler_next(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, pic_rng *rng) {
    return sampler_pick(logits, V, sp, s, sp->temperature == 0.0f ? 0 : pic_rng_uniform(rng));
}

int32_t sampler_pick(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, double u) {
    if (sp->temperature == 0.0f) return argmax(logits, V);
    bool truncated = sp->top_k > 0 || sp->top_p < 1.0f || sp->min_p > 0.0f;
    if (!truncated) {
        /* no sort: walk the ids in order against u times the total mass */
        reserve(s, V);
        float T = sp->temperature, m = logits[argmax(logits, V)] / T;
        sampler_exp(s->w, logits, (size_t)V, T, m);
        double S = 0;
        for (int i = 0; i < V; i++) S += s->w[i];
        double target = u * S, c = 0;
        for (int i = 0; i < V; i++)
            if ((c += s->w[i]) > target && s->w[i] > 0) return i;
        for (int i = V; i-- > 0;) /* rounding left target beyond the sum */
            if (s->w[i] > 0) return i;
        return argmax(logits, V);
    }
    const int32_t *ids;
    const double *p;
    int n;
    sampler_dist(logits, V, sp, s, &ids, &p, &n);
    double c = 0;
    for (int i = 0; i < n; i++)
        if ((c += p[i]) > u) return ids[i];
    /* rounding left u beyond the kept mass: the last kept token that has
     * any (at a tiny T a kept token's weight can underflow to 0) */
    for (int i = n; i-- > 0;)
        if (p[i] > 0) return ids[i];
    return ids[0];
}
