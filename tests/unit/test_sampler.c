/* The sampler against its definition: draws from fixed logits must follow
 * softmax(logits / T) restricted to what top-k, then top-p, then min-p keep
 * (HF's order), by a chi-square test, and never produce a truncated token.
 * The expected distribution is computed here from scratch, with a full sort
 * and plain loops, not with the sampler's code. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/cli.h"
#include "rollout/sampler.h"
#include "rollout/sampler_exp.h"

enum { V = 12 };
static const float logits[V] = {2.0f, 1.5f, 1.5f, 0.3f, -0.7f, 3.1f, 0.0f, -2.5f, 1.0f, 2.2f, -1.0f, 0.9f};

/* keep[i] and p[i] (normalized over kept) by the definition. */
static void expected(const sampler_params *sp, double *p, bool *keep) {
    int order[V];
    double w[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++) /* selection sort: descending logit, ascending id on ties */
        for (int j = i + 1; j < V; j++)
            if (logits[order[j]] > logits[order[i]] ||
                (logits[order[j]] == logits[order[i]] && order[j] < order[i])) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    int n = V;
    if (sp->top_k > 0 && sp->top_k < n) { /* and the tokens tied with the k-th (HF: scores below it go) */
        n = sp->top_k;
        while (n < V && logits[order[n]] / sp->temperature == logits[order[n - 1]] / sp->temperature) n++;
    }
    double S = 0;
    for (int i = 0; i < n; i++) S += w[i] = exp((double)logits[order[i]] / sp->temperature);
    if (sp->top_p < 1) { /* HF: remove where the ascending cumulative mass <= 1 - top_p */
        double cum = 0;
        int removed = 0;
        for (int i = n - 1; i > 0; i--) {
            cum += w[i] / S;
            if (cum <= 1 - sp->top_p) removed++;
            else break;
        }
        n -= removed;
    }
    double mx = w[0];
    memset(keep, 0, V * sizeof *keep);
    for (int i = 0; i < V; i++) p[i] = 0;
    S = 0;
    for (int i = 0; i < n; i++)
        if (w[i] >= sp->min_p * mx) {
            keep[order[i]] = true;
            p[order[i]] = w[i];
            S += w[i];
        }
    for (int i = 0; i < V; i++) p[i] /= S;
}

/* Chi-square critical values at p = 0.001 for 1..11 degrees of freedom. */
static const double crit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26};

static void chi_square(const char *name, sampler_params sp) {
    double p[V];
    bool keep[V];
    expected(&sp, p, keep);
    long count[V] = {0};
    const long draws = 200000;
    sampler_scratch s = {0};
    pic_rng rng;
    pic_rng_seed(&rng, 42, 7, 0);
    for (long d = 0; d < draws; d++) count[sampler_next(logits, V, &sp, &s, &rng)]++;
    double chi = 0;
    int df = -1, leaked = 0;
    for (int i = 0; i < V; i++) {
        if (!keep[i]) {
            leaked += count[i] != 0;
            continue;
        }
        double e = p[i] * draws;
        chi += (count[i] - e) * (count[i] - e) / e;
        df++;
    }
    CHECK(leaked == 0, "%s: truncated tokens never drawn", name);
    if (df >= 1) CHECK(chi < crit[df], "%s: chi-square %.2f < %.2f (%d dof)", name, chi, crit[df], df);
    /* the sampler's own view of the kept set agrees with the definition (it
     * divides by T in float32, as the log-probs do: ~1e-7 relative) */
    const int32_t *ids;
    const double *q;
    int n;
    sampler_dist(logits, V, &sp, &s, &ids, &q, &n);
    int kept = 0, bad = 0;
    for (int i = 0; i < V; i++) kept += keep[i];
    for (int i = 0; i < n; i++)
        if (!keep[ids[i]] || fabs(q[i] - p[ids[i]]) > 1e-6 * p[ids[i]]) bad++;
    CHECK(n == kept && !bad, "%s: sampler_dist keeps %d tokens with the defined probabilities (want %d)", name, n,
          kept);
    sampler_free(&s);
}

/* Top-p alone over a large vocabulary (the sampler sorts only the best k,
 * k growing until the nucleus is inside): the kept ids and probabilities
 * against a full sort here, S summed in id order as the sampler defines
 * it. */
static const float *ref_z;
static int ref_by_logit(const void *x, const void *y) {
    int i = *(const int *)x, j = *(const int *)y;
    if (ref_z[i] != ref_z[j]) return ref_z[i] > ref_z[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static void nucleus_case(const char *what, const float *z, int n, float T, float top_p) {
    int *order = pic_malloc((size_t)n * sizeof *order);
    double *w = pic_malloc((size_t)n * sizeof *w);
    float m = z[0];
    for (int i = 1; i < n; i++) m = z[i] > m ? z[i] : m;
    m /= T;
    double S = 0;
    /* the weights by the sampler's own exp (sampler_exp.h, tested there against glibc's) */
    for (int i = 0; i < n; i++) S += w[i] = sampler_exp1(z[i], T, m), order[i] = i;
    ref_z = z;
    qsort(order, (size_t)n, sizeof *order, ref_by_logit);
    double before = 0, limit = (double)top_p * S, kept = 0;
    int keep = 0;
    while (keep < n && (keep == 0 || before < limit)) before += w[order[keep++]];
    for (int i = 0; i < keep; i++) kept += w[order[i]];
    sampler_scratch s = {0};
    sampler_params sp = {T, 0, top_p, 0.0f};
    const int32_t *ids;
    const double *p;
    int got;
    sampler_dist(z, n, &sp, &s, &ids, &p, &got);
    bool same = got == keep;
    for (int i = 0; same && i < keep; i++) same = ids[i] == order[i] && p[i] == w[order[i]] / kept;
    CHECK(same, "%s: keeps %d of %d tokens as a full sort does (sampler: %d)", what, keep, n, got);
    sampler_free(&s);
    free(order), free(w);
}

static void nucleus_cases(void) {
    enum { N = 20000 };
    float *z = pic_malloc(N * sizeof *z);
    for (int i = 0; i < N; i++) z[i] = -0.01f * (float)((i * 7919) % N); /* ~300 in the nucleus: past 256 */
    nucleus_case("top-p 0.95, a slow decay", z, N, 1.0f, 0.95f);
    nucleus_case("top-p 0.95 at T 0.6", z, N, 0.6f, 0.95f);
    for (int i = 0; i < N; i++) z[i] = (float)((i * 7919) % 1000) / 1000.0f; /* nearly flat: most of it */
    nucleus_case("top-p 0.9, nearly flat", z, N, 1.0f, 0.9f);
    for (int i = 0; i < N; i++) z[i] = i % 7 == 0 ? 1.0f : 0.0f; /* ties at the cut: ids ascending */
    nucleus_case("top-p 0.3 across a run of ties", z, N, 1.0f, 0.3f);
    for (int i = 0; i < N; i++) z[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? 0.0f : (float)(i % 11) - 5.5f;
    nucleus_case("top-p 0.5, -0 and +0 one logit, signs mixed", z, N, 1.0f, 0.5f);
    /* the positives hold ~0.86 of the mass: top-p 0.9 cuts among the
     * zeros, which a -0 ordered below +0 would reorder */
    nucleus_case("top-p 0.9 cutting among -0 and +0: ids ascending", z, N, 1.0f, 0.9f);
    for (int i = 0; i < N; i++) z[i] = i % 1000 == 0 ? 5.0f : 0.0f; /* 20 ties on top, ~13% of the mass */
    nucleus_case("top-p 0.1 within a few ties (the partial sort's order): ids ascending", z, N, 1.0f, 0.1f);
    z[12345] = 40.0f;
    nucleus_case("top-p 0.95, one token holds it all", z, N, 1.0f, 0.95f);
    free(z);
}

int main(void) {
    pic_init("test_sampler");
    chi_square("T=1", (sampler_params){1.0f, 0, 1.0f, 0.0f});
    chi_square("T=0.6", (sampler_params){0.6f, 0, 1.0f, 0.0f});
    chi_square("T=1.7", (sampler_params){1.7f, 0, 1.0f, 0.0f});
    chi_square("top-k 4 (the token tied with the 4th kept too)", (sampler_params){1.0f, 4, 1.0f, 0.0f});
    chi_square("top-k 3", (sampler_params){0.8f, 3, 1.0f, 0.0f});
    chi_square("top-p 0.7", (sampler_params){1.0f, 0, 0.7f, 0.0f});
    chi_square("top-p 0.95 T=0.6", (sampler_params){0.6f, 0, 0.95f, 0.0f});
    chi_square("min-p 0.2", (sampler_params){1.0f, 0, 1.0f, 0.2f});
    chi_square("top-k 6 + top-p 0.8 + min-p 0.3", (sampler_params){1.2f, 6, 0.8f, 0.3f});
    chi_square("top-p tiny keeps the best", (sampler_params){1.0f, 0, 1e-6f, 0.0f});

    /* greedy: the argmax, the lowest id on ties, and no draw from the stream */
    sampler_scratch s = {0};
    pic_rng a, b;
    pic_rng_seed(&a, 1, 2, 3);
    b = a;
    sampler_params g = {0.0f, 0, 1.0f, 0.0f};
    CHECK(sampler_next(logits, V, &g, &s, &a) == 5, "greedy takes the argmax");
    float tie[4] = {1.0f, 3.0f, 3.0f, 0.0f};
    CHECK(sampler_next(tie, 4, &g, &s, &a) == 1, "greedy breaks ties by the lower id");
    CHECK(!memcmp(&a, &b, sizeof a), "greedy draws nothing from the stream");

    /* HF's top-p keeps the token that crosses the mass: p = (.5, .3, .2), top-p .6 keeps two */
    float three[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    sampler_params tp = {1.0f, 0, 0.6f, 0.0f};
    const int32_t *ids;
    const double *q;
    int n;
    sampler_dist(three, 3, &tp, &s, &ids, &q, &n);
    CHECK(n == 2 && ids[0] == 0 && ids[1] == 1, "top-p 0.6 over (.5, .3, .2) keeps the first two");
    /* each cut at its exact boundary, the weights exp(0) = 1 exactly: HF's
     * top-p drops a token whose ascending mass is <= 1 - top_p, so of four
     * equal tokens top-p 0.5 keeps two, alone or after top-k; HF's min-p
     * drops probs < min_p * the best, so min-p 1 keeps the best's ties */
    float flat[5] = {0.0f, 0.0f, 0.0f, 0.0f, -100.0f};
    sampler_params half = {1.0f, 0, 0.5f, 0.0f}, k4half = {1.0f, 4, 0.5f, 0.0f}, mp1 = {1.0f, 0, 1.0f, 1.0f};
    sampler_dist(flat, 4, &half, &s, &ids, &q, &n);
    CHECK(n == 2 && ids[0] == 0 && ids[1] == 1, "top-p 0.5 over four equal tokens keeps two (%d)", n);
    sampler_dist(flat, 5, &k4half, &s, &ids, &q, &n);
    CHECK(n == 2 && ids[0] == 0 && ids[1] == 1, "top-k 4, top-p 0.5 over four equal tokens keeps two (%d)", n);
    sampler_dist(flat, 5, &mp1, &s, &ids, &q, &n);
    CHECK(n == 4, "min-p 1 keeps the four tokens tied with the best (%d)", n);
    /* the draw is token i for u in [C(i-1), C(i)) of the cumulative mass,
     * as the device's draw.cuh: of two equal tokens u = 0.5 is the second */
    sampler_params full = {1.0f, 0, 1.0f, 0.0f}, k2 = {1.0f, 2, 1.0f, 0.0f};
    CHECK(sampler_pick(flat, 2, &full, &s, 0.5) == 1 && sampler_pick(flat, 2, &full, &s, 0.0) == 0,
          "untruncated: u = 0.5 over two equal tokens draws the second");
    float two_and_low[3] = {0.0f, 0.0f, -100.0f};
    CHECK(sampler_pick(two_and_low, 3, &k2, &s, 0.5) == 1 && sampler_pick(two_and_low, 3, &k2, &s, 0.0) == 0,
          "top-k 2: u = 0.5 over two equal tokens draws the second");
    /* top-k keeps a token whose weight underflows to 0; when rounding
     * leaves u at or past the kept mass (ten 0.1s sum below 1), the pick
     * is the last kept token that has weight, never the weightless one */
    float ten[11];
    for (int i = 0; i < 10; i++) ten[i] = 0.0f;
    ten[10] = -1e4f;
    sampler_params k11 = {1.0f, 11, 1.0f, 0.0f};
    sampler_dist(ten, 11, &k11, &s, &ids, &q, &n);
    double mass = 0;
    for (int i = 0; i < n; i++) mass += q[i];
    int last = sampler_pick(ten, 11, &k11, &s, nextafter(1.0, 0.0));
    CHECK(n == 11 && q[10] == 0 && mass < 1.0, "top-k 11 keeps the weightless token, the mass below 1 (%d, %.17g)",
          n, mass);
    CHECK(last != 10 && last >= 0, "u past the kept mass picks a token with weight (%d)", last);
    /* a large vocabulary takes the unsorted path and still sums right */
    int BV = 50000;
    float *big = pic_malloc((size_t)BV * sizeof *big);
    for (int i = 0; i < BV; i++) big[i] = (float)((i * 7919) % 1000) / 100.0f;
    sampler_params un = {1.0f, 0, 1.0f, 0.0f};
    pic_rng_seed(&a, 9, 9, 9);
    int out = 0;
    for (int d = 0; d < 1000; d++) {
        int t = sampler_next(big, BV, &un, &s, &a);
        out += t < 0 || t >= BV;
    }
    CHECK(out == 0, "draws over 50000 tokens stay in range");
    nucleus_cases();
    /* NaN logits (a broken model): every setting still draws a token in
     * range, whose NaN log-prob the record's writer reports; min-p once
     * kept nothing and read before its buffer (ASan caught it) */
    float bad[V];
    memcpy(bad, logits, sizeof bad);
    bad[0] = NAN, bad[5] = NAN;
    float all_nan[V];
    for (int i = 0; i < V; i++) all_nan[i] = NAN;
    sampler_params settings[] = {{1.0f, 0, 1.0f, 0.0f}, {1.0f, 0, 1.0f, 0.2f}, {1.0f, 4, 0.9f, 0.1f},
                                 {0.7f, 0, 0.5f, 0.0f}, {0.0f, 0, 1.0f, 0.0f}};
    int stray = 0;
    for (size_t k = 0; k < sizeof settings / sizeof *settings; k++)
        for (int d = 0; d < 50; d++) {
            int t = sampler_next(bad, V, &settings[k], &s, &a), u = sampler_next(all_nan, V, &settings[k], &s, &a);
            stray += t < 0 || t >= V || u < 0 || u >= V;
        }
    CHECK(stray == 0, "NaN logits, whatever the settings, draw a token in range");
    /* the kept set is never empty: with NaN weights top-p and min-p keep the first token */
    sampler_params nan_p = {1.0f, 0, 0.5f, 0.0f}, nan_kp = {1.0f, 4, 0.5f, 0.0f}, nan_m = {1.0f, 0, 1.0f, 0.2f};
    int n_p, n_kp, n_m;
    sampler_dist(all_nan, V, &nan_p, &s, &ids, &q, &n_p);
    sampler_dist(all_nan, V, &nan_kp, &s, &ids, &q, &n_kp);
    sampler_dist(all_nan, V, &nan_m, &s, &ids, &q, &n_m);
    CHECK(n_p == 1 && n_kp == 1 && n_m == 1, "NaN logits keep one token: top-p %d, top-k + top-p %d, min-p %d", n_p,
          n_kp, n_m);
    free(big);
    sampler_free(&s);
    return check_done();
}
