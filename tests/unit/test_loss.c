/* Unit tests of the policy loss (src/update/loss.c) against the fixture
 * models' golden losses and stats (tests/fixtures/update/MODEL-loss.json, taken
 * from golden.json and golden.safetensors), its derivatives against finite
 * differences, and the invariance of the total under any micro-batch split;
 * and of the advantages (src/update/advantage.c). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "common/cli.h"
#include "update/advantage.h"
#include "update/loss.h"

typedef struct {
    size_t n_seq, n_tok;
    size_t seq_start[8];
    float logp[256], logp_t1[256], old[256], adv[256], ent[256];
    json_t *root;
} golden;

static void load(golden *g, const char *model) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/update/%s-loss.json", model);
    json_error_t err;
    g->root = json_load_file(path, 0, &err);
    if (!g->root) {
        printf("Bail out! %s: %s\n", path, err.text);
        exit(1);
    }
    json_t *seqs = json_object_get(g->root, "seqs");
    g->n_seq = json_array_size(seqs);
    size_t t = 0;
    for (size_t b = 0; b < g->n_seq; b++) {
        json_t *s = json_array_get(seqs, b);
        g->seq_start[b] = t;
        json_t *lp = json_object_get(s, "logp"), *l1 = json_object_get(s, "logp_t1"),
               *ol = json_object_get(s, "old_logp"), *en = json_object_get(s, "entropy");
        double a = json_real_value(json_object_get(s, "advantage"));
        for (size_t i = 0; i < json_array_size(ol); i++, t++) {
            g->logp[t] = (float)json_real_value(json_array_get(lp, i));
            g->logp_t1[t] = (float)json_real_value(json_array_get(l1, i));
            g->old[t] = (float)json_real_value(json_array_get(ol, i));
            g->ent[t] = (float)json_real_value(json_array_get(en, i));
            g->adv[t] = (float)a;
        }
    }
    g->seq_start[g->n_seq] = g->n_tok = t;
}

static double spec(const golden *g, const char *k) {
    return json_number_value(json_object_get(json_object_get(g->root, "pg_spec"), k));
}

static pic_loss_cfg spec_cfg(const golden *g) {
    pic_loss_cfg c;
    pic_loss_defaults(&c);
    c.clip_low = spec(g, "clip_low");
    c.clip_high = spec(g, "clip_high");
    c.clip_ratio_c = spec(g, "clip_ratio_c");
    c.tau = spec(g, "tau");
    return c;
}

static double run(const golden *g, const pic_loss_cfg *c, const float *logp, float *dlogp, pic_loss_stats *st) {
    pic_loss_plan p;
    pic_loss_plan_build(&p, c, g->n_seq, g->seq_start, logp, g->old, g->adv);
    pic_loss_in in = {logp, g->old, g->adv, g->ent, NULL};
    memset(st, 0, sizeof *st);
    double l = pic_loss_eval(&p, c, &in, 0, g->n_tok, dlogp, NULL, st);
    pic_loss_plan_free(&p);
    return l;
}

static void check_golden(const char *model) {
    golden g;
    load(&g, model);
    const char *names[] = {"pg", "entropic", "entropic_all", "sft"};
    for (int k = 0; k < 4; k++) {
        pic_loss_cfg c = spec_cfg(&g);
        const float *logp = g.logp;
        if (k == 1 || k == 2) c.alpha = spec(&g, "alpha"), c.entropic_all = k == 2;
        if (k == 3) c.kind = PIC_PG_SFT, logp = g.logp_t1;
        float d[256];
        pic_loss_stats st;
        double l = run(&g, &c, logp, d, &st);
        char key[64];
        snprintf(key, sizeof key, "loss.%s", names[k]);
        double want = json_number_value(json_object_get(g.root, key));
        CHECK(fabs(l - want) <= 1e-5, "%s %s loss %.9g (golden %.9g)", model, names[k], l, want);
        if (k == 3) continue;
        snprintf(key, sizeof key, "stats.%s", names[k]);
        json_t *s = json_object_get(g.root, key);
        CHECK((long long)st.clipped == json_integer_value(json_object_get(s, "clipped")) &&
                  (long long)st.dual_clipped == json_integer_value(json_object_get(s, "dual_clipped")) &&
                  (long long)st.hi == json_integer_value(json_object_get(s, "masked")) &&
                  (long long)st.tokens == json_integer_value(json_object_get(s, "tokens")),
              "%s %s stats: clipped %zu dual %zu masked %zu tokens %zu", model, names[k], st.clipped,
              st.dual_clipped, st.hi, st.tokens);
    }
    json_decref(g.root);
}

/* dL/dlogp against central differences, for every loss shape; the mask and
 * the clip branches are piecewise, so tokens within h of a kink are skipped. */
static void check_fd(const char *model) {
    golden g;
    load(&g, model);
    for (int k = 0; k < 11; k++) {
        pic_loss_cfg c = spec_cfg(&g);
        c.alpha = 0.3;
        c.norm_len = 64;
        const char *what[] = {"clip+entropic", "entropic all", "seq-mean-token-mean", "seq-mean-token-sum",
                              "sum-norm", "kl k1", "kl k2", "kl k3", "sft", "entropic low", "dmmpt"};
        if (k == 1) c.entropic_all = true;
        if (k == 2) c.agg = PIC_AGG_SEQ_MEAN_TOKEN_MEAN;
        if (k == 3) c.agg = PIC_AGG_SEQ_MEAN_TOKEN_SUM;
        if (k == 4) c.agg = PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM;
        if (k >= 5 && k <= 7) c.kl = (pic_kl_kind)(PIC_KL_K1 + (k - 5)), c.kl_coef = 0.5;
        if (k == 8) c.kind = PIC_PG_SFT;
        if (k == 9) c.entropic_low = true;
        if (k == 10) c.mask_mpt = true, c.mpt_prob = c.tau; /* masks about half the positive tokens */
        float ref[256];
        for (size_t t = 0; t < g.n_tok; t++) ref[t] = g.old[t] - 0.3f;
        float d[256], dd[256], lp[256];
        pic_loss_stats st;
        memcpy(lp, g.logp, sizeof lp);
        pic_loss_plan p;
        pic_loss_plan_build(&p, &c, g.n_seq, g.seq_start, lp, g.old, g.adv);
        pic_loss_in in = {lp, g.old, g.adv, g.ent, ref};
        memset(&st, 0, sizeof st);
        pic_loss_eval(&p, &c, &in, 0, g.n_tok, d, NULL, &st);
        double worst = 0;
        for (size_t t = 0; t < g.n_tok; t++) {
            const float h = 1e-3f;
            float x = lp[t];
            lp[t] = x + h;
            double up = pic_loss_eval(&p, &c, &in, t, t + 1, dd, NULL, &st);
            lp[t] = x - h;
            double dn = pic_loss_eval(&p, &c, &in, t, t + 1, dd, NULL, &st);
            lp[t] = x;
            double r = exp((double)x - g.old[t]), logtau = log(c.tau);
            bool kink = fabs(r - (1 - c.clip_low)) < 0.01 || fabs(r - (1 + c.clip_high)) < 0.01 ||
                        fabs(x - logtau) < 0.01 || fabs(-g.adv[t] * r + g.adv[t] * c.clip_ratio_c) < 0.01;
            if (kink) continue;
            double fd = (up - dn) / ((double)(x + h) - (double)(x - h)), e = fabs(fd - d[t]);
            double s = fabs(fd) > 1e-3 ? e / fabs(fd) : e;
            if (s > worst) worst = s;
        }
        CHECK(worst < 2e-3, "%s %s: dL/dlogp matches finite differences (worst %.3g)", model, what[k], worst);
        pic_loss_plan_free(&p);
    }
    json_decref(g.root);
}

/* Any split into micro-batches gives the same loss and the same per-token
 * derivatives as the whole step: the normalisers live in the plan. */
static void check_split(const char *model) {
    golden g;
    load(&g, model);
    for (int agg = 0; agg < 4; agg++) {
        pic_loss_cfg c = spec_cfg(&g);
        c.alpha = 0.3, c.agg = (pic_agg)agg, c.entropy_coef = 0.01;
        pic_loss_plan p;
        pic_loss_plan_build(&p, &c, g.n_seq, g.seq_start, g.logp, g.old, g.adv);
        pic_loss_in in = {g.logp, g.old, g.adv, g.ent, NULL};
        float whole[256], parts[256], de[256];
        pic_loss_stats a = {0}, b = {0}, b1 = {0};
        double lw = pic_loss_eval(&p, &c, &in, 0, g.n_tok, whole, de, &a), lp = 0;
        for (size_t s = 0; s < g.n_tok; s += 7) {
            size_t e = s + 7 < g.n_tok ? s + 7 : g.n_tok;
            memset(&b1, 0, sizeof b1);
            lp += pic_loss_eval(&p, &c, &in, s, e, parts, de, &b1);
            pic_loss_stats_add(&b, &b1);
        }
        CHECK(fabs(lw - lp) <= 1e-12 && memcmp(whole, parts, g.n_tok * sizeof(float)) == 0 &&
                  a.tokens == b.tokens && a.hi == b.hi && a.clipped == b.clipped,
              "%s agg %d: micro-batches of 7 tokens give the whole step's loss and derivatives", model, agg);
        pic_loss_plan_free(&p);
    }
    json_decref(g.root);
}

static void check_cov(void) {
    /* 10000 tokens: ratio 2e-4 selects exactly 2. */
    enum { N = 10000 };
    static float lp[N], old[N], adv[N], d[N];
    size_t start[3] = {0, N / 2, N};
    for (size_t t = 0; t < N; t++) {
        adv[t] = t < N / 2 ? 1.0f : -1.0f;
        lp[t] = t < N / 2 ? 2.5f - (float)(t % 97) * 0.01f : -0.5f - (float)(t % 97) * 0.001f;
        old[t] = lp[t];
    }
    pic_loss_cfg c;
    pic_loss_defaults(&c);
    c.kind = PIC_PG_KL_COV;
    pic_loss_plan p;
    pic_loss_plan_build(&p, &c, 2, start, lp, old, adv);
    CHECK(p.n_sel == 2 && p.sel[0] && p.sel[97], "KL-Cov picks the 2 tokens of largest covariance");
    pic_loss_in in = {lp, old, adv, NULL, NULL};
    pic_loss_stats st = {0};
    lp[0] += 0.1f;
    pic_loss_eval(&p, &c, &in, 0, N, d, NULL, &st);
    CHECK(fabs(d[0] - (-exp(0.1) + 1.0) / N) < 1e-7 && st.selected == 2,
          "KL-Cov adds coef*sign(logp-old) to a selected token's derivative");
    lp[0] -= 0.1f;
    pic_loss_plan_free(&p);

    c.kind = PIC_PG_CLIP_COV;
    c.cov_lb = 1.0, c.cov_ub = 5.0;
    pic_loss_plan_build(&p, &c, 2, start, lp, old, adv);
    size_t n = 0, inwin = 1;
    double ml = 0;
    for (size_t t = 0; t < N; t++) ml += lp[t];
    ml /= N;
    for (size_t t = 0; t < N; t++)
        if (p.sel[t]) {
            n++;
            double cv = (adv[t] - 0) * (lp[t] - ml);
            inwin &= cv > 1 && cv < 5;
        }
    CHECK(n == 2 && inwin, "Clip-Cov picks 2 tokens with covariance in (1, 5)");
    memset(&st, 0, sizeof st);
    pic_loss_eval(&p, &c, &in, 0, N, d, NULL, &st);
    int zero = 1;
    for (size_t t = 0; t < N; t++)
        if (p.sel[t]) zero &= d[t] == 0;
    CHECK(zero && st.selected == 2, "Clip-Cov's picks get no gradient");
    pic_loss_plan_free(&p);

    /* the draw is a function of (seed, optimizer step, tokens): the same
     * step draws the same, the next one anew (verl's randperm advances) */
    c.cov_ratio = 0.01;
    unsigned char *first = malloc(N);
    pic_loss_plan_build(&p, &c, 2, start, lp, old, adv);
    memcpy(first, p.sel, N);
    pic_loss_plan_free(&p);
    pic_loss_plan_build(&p, &c, 2, start, lp, old, adv);
    int same = memcmp(first, p.sel, N) == 0;
    pic_loss_plan_free(&p);
    c.step = 1;
    pic_loss_plan_build(&p, &c, 2, start, lp, old, adv);
    CHECK(same && p.n_sel == 100 && memcmp(first, p.sel, N) != 0,
          "Clip-Cov draws the same picks for the same optimizer step and new ones for the next");
    pic_loss_plan_free(&p);
    free(first);
}

/* The variants the paper compares, on a hand-made step: sequence 0 is
 * positive (A = +1) with p = 0.995, 0.5, 0.999; sequence 1 negative (A = -1)
 * with p = 0.995, 0.3; on-policy (r = 1). */
static void check_variants(void) {
    float lp[5] = {logf(0.995f), logf(0.5f), logf(0.999f), logf(0.995f), logf(0.3f)}, adv[5] = {1, 1, 1, -1, -1};
    size_t start[3] = {0, 3, 5};
    float d[5];
    pic_loss_cfg c;
    pic_loss_defaults(&c);
    pic_loss_plan p;
    pic_loss_in in = {lp, lp, adv, NULL, NULL};
    pic_loss_stats st = {0};

    /* UloRL (Du et al. 2025, arXiv 2507.19766, sec. 3.3 "Dynamic Masking of
     * well-Mastered Positive Tokens"): a token of a positive sample with
     * p >= tau_mpt = 0.99 is taken out of the loss while the entropy is below
     * its target; the token-mean is then over the 3 tokens left:
     * (-1 + 1 + 1) / 3 */
    c.mask_mpt = true;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    double l = pic_loss_eval(&p, &c, &in, 0, 5, d, NULL, &st);
    CHECK(p.n_masked == 2 && p.masked[0] && p.masked[2] && !p.masked[3] && st.masked == 2,
          "DMMPT masks the positive tokens with p >= 0.99, not the negative ones");
    CHECK(fabs(l - 1.0 / 3.0) < 1e-12 && d[0] == 0 && d[2] == 0 && fabs(d[1] + 1.0 / 3.0) < 1e-7 &&
              fabs(d[4] - 1.0 / 3.0) < 1e-7,
          "DMMPT: the token-mean runs over the unmasked tokens (loss %.9g)", l);
    pic_loss_plan_free(&p);
    c.agg = PIC_AGG_SEQ_MEAN_TOKEN_MEAN;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    CHECK(p.w[1] == 0.5 && p.w[0] == 0 && p.w[3] == 0.25,
          "DMMPT with seq-mean-token-mean: a sequence's mean is over its unmasked tokens");
    pic_loss_plan_free(&p);
    c.agg = PIC_AGG_TOKEN_MEAN, c.mask_mpt = false;

    /* The paper's Figure 2: one quadrant of (p > tau = 0.95) x (sign of A)
     * out of the loss; here hi-pos = {0, 2}, hi-neg = {3}, lo-pos = {1},
     * lo-neg = {4}, and the token-mean is over the other tokens */
    const int quad_tok[4][2] = {{0, 2}, {3, 3}, {1, 1}, {4, 4}};
    const double quad_loss[4] = {(-1 + 1 + 1) / 3.0, (-3 + 1) / 4.0, (-2 + 2) / 4.0, (-3 + 1) / 4.0};
    for (int q = 0; q < 4; q++) {
        c.mask_quadrant = (pic_quadrant)(PIC_QUAD_HI_POS + q);
        pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
        memset(&st, 0, sizeof st);
        l = pic_loss_eval(&p, &c, &in, 0, 5, d, NULL, &st);
        size_t want_n = quad_tok[q][0] == quad_tok[q][1] ? 1 : 2;
        CHECK(p.n_masked == want_n && p.masked[quad_tok[q][0]] && p.masked[quad_tok[q][1]] &&
                  fabs(l - quad_loss[q]) < 1e-7,
              "Figure 2 quadrant %d: its tokens out, token-mean over the rest (loss %.9g)", q, l);
        pic_loss_plan_free(&p);
    }
    c.mask_quadrant = PIC_QUAD_NONE;

    /* EntroPIC, high (the paper's method, official code): tokens with p >
     * tau = 0.95 get -alpha r|A| / count: -0.5 * 3 / 3; the low variant of
     * section 4.3 takes the other two, sign reversed: +0.5 * 2 / 2. The pg
     * term is (-1 -1 -1 +1 +1) / 5 either way. */
    c.alpha = 0.5;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    memset(&st, 0, sizeof st);
    l = pic_loss_eval(&p, &c, &in, 0, 5, d, NULL, &st);
    CHECK(p.n_hi == 3 && fabs(l - (-0.2 - 0.5)) < 1e-7, "EntroPIC on the 3 tokens above tau (loss %.9g)", l);
    pic_loss_plan_free(&p);
    c.entropic_low = true;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    memset(&st, 0, sizeof st);
    l = pic_loss_eval(&p, &c, &in, 0, 5, d, NULL, &st);
    CHECK(p.n_hi == 2 && fabs(l - (-0.2 + 0.5)) < 1e-7 && fabs(d[1] - (-0.2 + 0.25)) < 1e-7 &&
              fabs(d[0] - (-0.2)) < 1e-7,
          "the low-probability variant: the 2 tokens at or below tau, sign reversed (loss %.9g)", l);
    pic_loss_plan_free(&p);
    c.entropic_low = false;

    /* A mask takes its tokens out of the EntroPIC term and its count too,
     * as padding (train.sh --method dmmpt --with-entropic): with hi-pos
     * masked, token 3 is the only one above tau left, so it gets
     * -alpha r|A| / 1 and tokens 0 and 2 no gradient at all. The masked
     * tokens were in the term and its count (d[0] = -0.5 / 3). */
    c.mask_quadrant = PIC_QUAD_HI_POS;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    memset(&st, 0, sizeof st);
    l = pic_loss_eval(&p, &c, &in, 0, 5, d, NULL, &st);
    CHECK(p.n_hi == 1 && d[0] == 0 && d[2] == 0 && fabs(d[3] - (1.0 / 3.0 - 0.5)) < 1e-7 &&
              fabs(l - (1.0 / 3.0 - 0.5)) < 1e-7 && fabs(st.entropic + 0.5) < 1e-7,
          "EntroPIC leaves the masked tokens out (n_hi %zu, d[0] %.9g, d[3] %.9g)", p.n_hi, d[0], d[3]);
    pic_loss_plan_free(&p);
    /* and KL-Cov picks among the tokens left: all 3 of them at ratio 1 */
    c.alpha = 0, c.kind = PIC_PG_KL_COV, c.cov_ratio = 1;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    CHECK(p.n_sel == 3 && !p.sel[0] && !p.sel[2] && p.sel[1] && p.sel[3] && p.sel[4],
          "KL-Cov never picks a masked token (n_sel %zu)", p.n_sel);
    pic_loss_plan_free(&p);
    c.kind = PIC_PG_CLIP, c.mask_quadrant = PIC_QUAD_NONE;

    /* Dr. GRPO (Liu et al. 2025, understand-r1-zero; verl core_algos.agg_loss
     * "seq-mean-token-sum-norm"): (1/G) sum_i sum_t / a constant, the
     * generation budget: every token's weight 1 / (G * budget), whatever the
     * responses' lengths (it was 1 / budget, a loss that grew with G) */
    c = (pic_loss_cfg){0};
    pic_loss_defaults(&c);
    c.agg = PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM, c.norm_len = 1024;
    pic_loss_plan_build(&p, &c, 2, start, lp, lp, adv);
    CHECK(p.w[0] == 1.0 / 2048 && p.w[4] == 1.0 / 2048,
          "Dr. GRPO: weight 1 / (sequences x the generation budget) (%.9g)", p.w[0]);
    pic_loss_plan_free(&p);
}

/* Edges the mutation pass found untested: the ties of the strict and the
 * non-strict comparisons, the K3 clamp, |d|'s derivative at d = 0 and the
 * candidates and count of the Cov methods. */
static void check_edges(void) {
    pic_loss_cfg c;
    pic_loss_plan p;
    pic_loss_stats st = {0};
    float d[4];
    size_t start1[2] = {0, 2}, start4[2] = {0, 4};

    /* EntroPIC's 1[pi > tau] (docs/DESIGN.md, the official code's
     * log_prob > log(tau)): a token at p = tau exactly is not above it, and
     * is one of the low variant's "at or below" */
    float lt = (float)log(0.95), tie[2] = {lt, logf(0.5f)}, pos[2] = {1, 1};
    pic_loss_defaults(&c);
    c.alpha = 0.5;
    pic_loss_plan_build(&p, &c, 1, start1, tie, tie, pos);
    CHECK(p.n_hi == 0, "EntroPIC: a token at p = tau exactly is not above tau (n_hi %zu)", p.n_hi);
    pic_loss_plan_free(&p);
    c.entropic_low = true;
    pic_loss_plan_build(&p, &c, 1, start1, tie, tie, pos);
    CHECK(p.n_hi == 2, "the low variant takes a token at p = tau exactly (n_hi %zu)", p.n_hi);
    pic_loss_plan_free(&p);

    /* DMMPT's p >= mpt_prob (UloRL sec. 3.3): a positive token at
     * mpt_prob exactly is masked */
    pic_loss_defaults(&c);
    c.mask_mpt = true;
    float mpt[2] = {(float)log(c.mpt_prob), logf(0.5f)};
    pic_loss_plan_build(&p, &c, 1, start1, mpt, mpt, pos);
    CHECK(p.n_masked == 1 && p.masked[0], "DMMPT masks a positive token at p = mpt_prob exactly");
    pic_loss_plan_free(&p);

    /* verl's low_var_kl clamps k3 to [-10, 10]: past 10 the term is 10 and
     * has no gradient. Token 0: d = -3, exp(3) + -3 - 1 = 16.1; token 1:
     * d = 0. With A = 0 the pg term is 0, so the loss is (10 + 0) / 2. */
    pic_loss_defaults(&c);
    c.kl = PIC_KL_K3, c.kl_coef = 1;
    float klp[2] = {-4, -1}, kref[2] = {-1, -1}, zero[2] = {0, 0};
    pic_loss_plan_build(&p, &c, 1, start1, klp, klp, zero);
    pic_loss_in in = {klp, klp, zero, NULL, kref};
    double l = pic_loss_eval(&p, &c, &in, 0, 2, d, NULL, &st);
    CHECK(l == 5 && st.kl_loss == 5 && d[0] == 0 && d[1] == 0,
          "k3 clamped at 10, with no gradient there (loss %.9g, d[0] %.9g)", l, d[0]);
    pic_loss_plan_free(&p);

    /* KL-Cov on policy (logp = old, as every first mini-batch): |d|'s
     * derivative at d = 0 is torch's sign(0) = 0, so a selected token's
     * derivative is the pg term's -A r w alone. And max(1, ratio * n): at the
     * default ratio a 2-token step still selects one. */
    pic_loss_defaults(&c);
    c.kind = PIC_PG_KL_COV;
    float onp[2] = {-0.1f, -2.0f};
    pic_loss_plan_build(&p, &c, 1, start1, onp, onp, pos);
    CHECK(p.n_sel == 1, "KL-Cov selects at least one token (n_sel %zu)", p.n_sel);
    in = (pic_loss_in){onp, onp, pos, NULL, NULL};
    memset(&st, 0, sizeof st);
    pic_loss_eval(&p, &c, &in, 0, 2, d, NULL, &st);
    CHECK(st.selected == 1 && d[0] == -0.5f && d[1] == -0.5f,
          "KL-Cov on policy: |logp - old| adds no derivative at 0 (d %.9g %.9g)", d[0], d[1]);
    pic_loss_plan_free(&p);

    /* Clip-Cov picks among the tokens the PPO clip left alone (verl's
     * clip_by_origin): all four covariances are 2, inside (1, 5), but
     * token 0 (A > 0, r = e^0.5 > 1.2) is clipped already */
    pic_loss_defaults(&c);
    c.kind = PIC_PG_CLIP_COV, c.cov_ratio = 1;
    float clp[4] = {1, 1, -1, -1}, cold[4] = {0.5f, 1, -1, -1}, cadv[4] = {2, 2, -2, -2};
    pic_loss_plan_build(&p, &c, 1, start4, clp, cold, cadv);
    CHECK(p.n_sel == 3 && !p.sel[0] && p.sel[1] && p.sel[2] && p.sel[3],
          "Clip-Cov never picks a token the clip took (n_sel %zu)", p.n_sel);
    pic_loss_plan_free(&p);

    /* --clip-ratio-c <= 1 turns the dual clip off (docs/update.md; verl
     * asserts it above 1): A = -1, r = 1.1 keeps its -A r = 1.1, where a
     * dual clip at 1 would cap it at 1 with no gradient */
    pic_loss_defaults(&c);
    c.clip_ratio_c = 1;
    float dlp[1] = {0}, dold[1] = {-(float)log(1.1)}, dadv[1] = {-1};
    size_t start0[2] = {0, 1};
    pic_loss_plan_build(&p, &c, 1, start0, dlp, dold, dadv);
    in = (pic_loss_in){dlp, dold, dadv, NULL, NULL};
    memset(&st, 0, sizeof st);
    l = pic_loss_eval(&p, &c, &in, 0, 1, d, NULL, &st);
    CHECK(st.dual_clipped == 0 && fabs(l - 1.1) < 1e-6 && fabs(d[0] - 1.1) < 1e-6,
          "--clip-ratio-c 1: no dual clip (loss %.9g, d %.9g)", l, d[0]);
    pic_loss_plan_free(&p);
}

/* More edges a mutation pass found untested: A = 0 in the quadrant masks,
 * the Cov and seq-mean counts over the tokens a mask left in, the entropy
 * bonus's signs, and the stats' tie and sides. */
static void check_masked_counts(void) {
    pic_loss_cfg c;
    pic_loss_plan p;
    pic_loss_stats st;
    float d[4], dent[4];

    /* the quadrants are A > 0 and A < 0 (docs/update.md, the paper's
     * Figure 2): a token with A = 0 is in none, so stays in the token-mean's
     * count. Tokens A = 1, 0, -1; each quadrant takes one, leaving 2. */
    float qadv[3] = {1, 0, -1}, qhi[3] = {-0.01f, -0.01f, -0.01f}, qlo[3] = {-2, -2, -2};
    size_t start3[2] = {0, 3};
    const pic_quadrant quads[4] = {PIC_QUAD_HI_POS, PIC_QUAD_HI_NEG, PIC_QUAD_LO_POS, PIC_QUAD_LO_NEG};
    for (int q = 0; q < 4; q++) {
        pic_loss_defaults(&c);
        c.mask_quadrant = quads[q];
        const float *lp = q < 2 ? qhi : qlo;
        pic_loss_plan_build(&p, &c, 1, start3, lp, lp, qadv);
        CHECK(p.n_masked == 1 && !p.masked[1] && p.w[1] == 0.5,
              "quadrant %d leaves a token with A = 0 in (masked %zu, its weight %.9g)", q, p.n_masked, p.w[1]);
        pic_loss_plan_free(&p);
    }

    /* Clip-Cov's max(1, ratio * n) counts the tokens the masks left in, as
     * verl's clip_cov counts the response mask: 4 tokens, the two lo-neg
     * ones masked, ratio 0.5 picks 1 of the 2 left, not 2 */
    float clp[4] = {-0.01f, -0.01f, -2, -2}, cadv[4] = {1, 1, -1, -1};
    size_t start4[2] = {0, 4};
    pic_loss_defaults(&c);
    c.kind = PIC_PG_CLIP_COV, c.cov_ratio = 0.5, c.cov_lb = -100, c.cov_ub = 100;
    c.mask_quadrant = PIC_QUAD_LO_NEG;
    pic_loss_plan_build(&p, &c, 1, start4, clp, clp, cadv);
    CHECK(p.n_masked == 2 && p.n_sel == 1 && !p.sel[2] && !p.sel[3],
          "Clip-Cov picks ratio * (tokens left in) (n_sel %zu)", p.n_sel);
    pic_loss_plan_free(&p);

    /* the seq-mean aggregations average over the sequences that have a
     * token in the loss (verl's agg_loss: seq_mask = sum(loss_mask) > 0,
     * "exclude fully masked sequences"): sequence 1's two tokens are all
     * masked, so sequence 0 is the mean alone */
    size_t start22[3] = {0, 2, 4};
    const pic_agg aggs[3] = {PIC_AGG_SEQ_MEAN_TOKEN_MEAN, PIC_AGG_SEQ_MEAN_TOKEN_SUM,
                                  PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM};
    const double want[3] = {0.5, 1, 0.25};
    for (int a = 0; a < 3; a++) {
        pic_loss_defaults(&c);
        c.agg = aggs[a], c.norm_len = 4, c.mask_quadrant = PIC_QUAD_LO_NEG;
        pic_loss_plan_build(&p, &c, 2, start22, clp, clp, cadv);
        CHECK(p.w[0] == want[a] && p.w[1] == want[a] && p.w[2] == 0,
              "agg %d: a fully masked sequence is not one of the mean's (w %.9g, want %.9g)", a, p.w[0], want[a]);
        pic_loss_plan_free(&p);
    }

    /* --entropy-coef C: loss -= C agg(H) (loss.h, verl's
     * pg_loss - entropy_coeff * entropy_loss), so d/dH = -C w. A = 0: no pg
     * term; H = 2, 1 token-mean: the bonus is -0.1 * 1.5 */
    float elp[2] = {-1, -1}, ezero[2] = {0, 0}, ent[2] = {2, 1};
    size_t start2[2] = {0, 2};
    pic_loss_defaults(&c);
    c.entropy_coef = 0.1;
    pic_loss_plan_build(&p, &c, 1, start2, elp, elp, ezero);
    pic_loss_in in = {elp, elp, ezero, ent, NULL};
    memset(&st, 0, sizeof st);
    double l = pic_loss_eval(&p, &c, &in, 0, 2, d, dent, &st);
    CHECK(fabs(l + 0.15) < 1e-12 && fabs(st.entropy_bonus + 0.15) < 1e-12 && dent[0] == -0.05f &&
              dent[1] == -0.05f,
          "the entropy bonus lowers the loss (loss %.9g, bonus %.9g, d/dH %.9g)", l, st.entropy_bonus, dent[0]);
    pic_loss_plan_free(&p);

    /* hi_frac's logp > log tau (docs/update.md): a token at tau exactly is
     * not above it */
    float tie[2] = {(float)log(0.95), logf(0.5f)};
    pic_loss_defaults(&c);
    pic_loss_plan_build(&p, &c, 1, start2, tie, tie, ezero);
    in = (pic_loss_in){tie, tie, ezero, NULL, NULL};
    memset(&st, 0, sizeof st);
    pic_loss_eval(&p, &c, &in, 0, 2, d, NULL, &st);
    CHECK(st.hi == 0, "hi_frac: a token at p = tau exactly is not above tau (hi %zu)", st.hi);
    pic_loss_plan_free(&p);

    /* clipfrac_high counts the clip at 1 + clip_high (A > 0, r above it),
     * clipfrac_low the one at 1 - clip_low (A < 0, r below it): two of the
     * first, r = e^0.5, and one of the second, r = e^-0.5 */
    float slp[3] = {0.5f, 0.5f, -0.5f}, sold[3] = {0, 0, 0}, sadv[3] = {1, 1, -1};
    pic_loss_defaults(&c);
    pic_loss_plan_build(&p, &c, 1, start3, slp, sold, sadv);
    in = (pic_loss_in){slp, sold, sadv, NULL, NULL};
    memset(&st, 0, sizeof st);
    pic_loss_eval(&p, &c, &in, 0, 3, d, NULL, &st);
    CHECK(st.clipped == 3 && st.clipped_high == 2 && st.clipped_low == 1,
          "the clip's sides: high %zu (want 2), low %zu (want 1)", st.clipped_high, st.clipped_low);
    pic_loss_plan_free(&p);
}

static void check_advantages(void) {
    pic_adv_cfg c = {PIC_ADV_GRPO, true, 0.1};
    pic_adv_in in[5] = {{"a", 1, true, true, false, 0}, {"b", 0, true, false, false, 0},
                        {"a", 0, true, false, false, 0}, {"a", 0, true, false, false, 0},
                        {"b", 1, true, true, true, 7}};
    double adv[5];
    size_t bad;
    const char *why;
    /* group a: rewards 1, 0, 0: mean 1/3, unbiased std sqrt(1/3) */
    double sd = sqrt(1.0 / 3.0);
    CHECK(pic_advantages(&c, in, 5, adv, &bad, &why) == 0, "GRPO over interleaved groups");
    CHECK(fabs(adv[0] - (2.0 / 3.0) / (sd + 1e-6)) < 1e-12 && fabs(adv[2] - (-1.0 / 3.0) / (sd + 1e-6)) < 1e-12,
          "GRPO: (r - mean) / (unbiased std + 1e-6)");
    CHECK(adv[4] == 7 && fabs(adv[1] - (-0.5) / (sqrt(0.5) + 1e-6)) < 1e-12,
          "a record's own advantage wins, and its reward still counts in its group");
    c.std_norm = false;
    pic_advantages(&c, in, 5, adv, &bad, &why);
    CHECK(fabs(adv[0] - 2.0 / 3.0) < 1e-12, "--adv-norm none: r - mean (Dr. GRPO)");
    in[1].group = "c";
    CHECK(pic_advantages(&c, in, 5, adv, &bad, &why) == -1 && bad == 1 && strstr(why, "group of one"),
          "a group of one sample is an error naming it");
    c.mode = PIC_ADV_W_REINFORCE;
    pic_advantages(&c, in, 4, adv, &bad, &why);
    CHECK(fabs(adv[0] - 0.1) < 1e-12 && adv[1] == -1, "W-REINFORCE: +lambda / -1");
    c.mode = PIC_ADV_NSR;
    pic_advantages(&c, in, 4, adv, &bad, &why);
    CHECK(adv[0] == 0 && adv[1] == -1, "NSR: 0 / -1");
    c.mode = PIC_ADV_PSR;
    pic_advantages(&c, in, 4, adv, &bad, &why);
    CHECK(adv[0] == 1 && adv[1] == 0, "PSR: 1 / 0");

    /* the group's std is over the rewards its mean is over: a member with
     * its own advantage and no reward is in neither (a 0 in its reward
     * field made the std sqrt(0.75) here, not sqrt(0.5)) */
    pic_adv_cfg g = {PIC_ADV_GRPO, true, 0.1};
    pic_adv_in own[3] = {{"a", 1, true, true, false, 0}, {"a", 0, true, false, false, 0},
                         {"a", 0, false, false, true, 5}};
    CHECK(pic_advantages(&g, own, 3, adv, &bad, &why) == 0 && adv[2] == 5 &&
              fabs(adv[0] - 0.5 / (sqrt(0.5) + 1e-6)) < 1e-12,
          "GRPO's std leaves out a member without a reward (A %.9g)", adv[0]);
}

int main(void) {
    const char *models[] = {"qwen2-tiny", "qwen3-tiny", "llama-tiny"};
    for (int m = 0; m < 3; m++) {
        check_golden(models[m]);
        check_fd(models[m]);
        check_split(models[m]);
    }
    check_cov();
    check_variants();
    check_edges();
    check_masked_counts();
    check_advantages();
    return check_done();
}
