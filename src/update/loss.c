/* The per-token policy loss (loss.h). Definitions follow golden.json's
 * pg_spec and verl's core_algos (compute_policy_loss, clip_cov, kl_cov,
 * kl_penalty, agg_loss); the derivatives are those of torch's autograd on
 * the same expressions, ties included (max and min split a tie's gradient,
 * which inside the clip range adds back up to the unclipped one). */
#include "update/loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/rng.h"

void pic_loss_defaults(pic_loss_cfg *c) {
    *c = (pic_loss_cfg){
        .kind = PIC_PG_CLIP,
        .agg = PIC_AGG_TOKEN_MEAN,
        .clip_low = 0.2,
        .clip_high = 0.2,
        .clip_ratio_c = 3.0,
        .tau = 0.95,
        .kl = PIC_KL_NONE,
        .kl_coef = 0.001,
        .cov_ratio = 2e-4,
        .cov_lb = 1.0,
        .cov_ub = 5.0,
        .kl_cov_coef = 1.0,
        .mpt_prob = 0.99,
        .seed = 1,
    };
}

static bool has_entropic(const pic_loss_cfg *c) { return c->kind != PIC_PG_SFT && c->alpha != 0; }

bool pic_loss_needs_logp(const pic_loss_cfg *c) {
    return (has_entropic(c) && !c->entropic_all) || c->kind == PIC_PG_CLIP_COV || c->kind == PIC_PG_KL_COV ||
           c->mask_mpt || c->mask_quadrant != PIC_QUAD_NONE;
}

static float log_tau(const pic_loss_cfg *c) { return (float)log(c->tau); }

/* The tokens the EntroPIC term acts on: above tau (the paper's method), or
 * at or below it (section 4.3's low-probability variant). */
static inline bool entropic_token(const pic_loss_cfg *c, float logp, float lt) {
    return c->entropic_low ? !(logp > lt) : logp > lt;
}

/* The PPO surrogate before the dual clip: max(-A r, -A clip(r)). */
static inline void surrogate(const pic_loss_cfg *c, double A, double r, double *pg1, double *pg2) {
    double rc = r < 1 - c->clip_low ? 1 - c->clip_low : r > 1 + c->clip_high ? 1 + c->clip_high : r;
    *pg1 = -A * r;
    *pg2 = -A * rc;
}

/* A token the DMMPT mask takes out is out of the loss mask, as a padding
 * token would be: weight 0, and not counted by any normaliser. */
static size_t kept_in(const pic_loss_plan *p, size_t s, size_t e) {
    size_t k = e - s;
    if (p->masked)
        for (size_t t = s; t < e; t++) k -= p->masked[t] != 0;
    return k;
}

static void set_weights(pic_loss_plan *p, const pic_loss_cfg *c) {
    size_t n_nonempty = 0, longest = 0, n_kept = 0;
    for (size_t b = 0; b < p->n_seq; b++) {
        size_t len = kept_in(p, p->seq_start[b], p->seq_start[b + 1]);
        if (len) n_nonempty++;
        if (len > longest) longest = len;
        n_kept += len;
    }
    double norm = c->norm_len > 0 ? c->norm_len : (double)longest;
    for (size_t b = 0; b < p->n_seq; b++) {
        size_t s = p->seq_start[b], e = p->seq_start[b + 1], len = kept_in(p, s, e);
        for (size_t t = s; t < e; t++) {
            double w;
            switch (c->agg) {
            case PIC_AGG_SEQ_MEAN_TOKEN_MEAN: w = 1.0 / ((double)n_nonempty * (double)len); break;
            case PIC_AGG_SEQ_MEAN_TOKEN_SUM: w = 1.0 / (double)n_nonempty; break;
            /* a mean over the sequences too, as Dr. GRPO's (1/G) sum_i sum_t / L (understand-r1-zero's
             * oat: masked_sum / generate_max_length, then .mean()): without it the loss and gradient grew
             * with the number of samples (verl issue 3741, since fixed there) */
            case PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM: w = 1.0 / ((double)n_nonempty * norm); break;
            default: w = 1.0 / (double)n_kept; break;
            }
            p->w[t] = p->masked && p->masked[t] ? 0 : w;
            p->seq_of[t] = (int)b;
        }
    }
}

/* The tokens out of the loss. DMMPT (Du et al. 2025, UloRL, arXiv
 * 2507.19766 sec. 3.3): while the step's entropy is below its target (the
 * caller decides), the tokens of positive samples whose current probability
 * is at least mpt_prob. The paper's Figure 2: the tokens of one quadrant of
 * (p above tau or not) x (advantage positive or negative). */
static void select_masked(pic_loss_plan *p, const pic_loss_cfg *c, const float *logp, const float *adv) {
    float lp = (float)log(c->mpt_prob), lt = log_tau(c);
    p->masked = pic_calloc(p->n_tok + 1, 1);
    for (size_t t = 0; t < p->n_tok; t++) {
        bool hi = logp[t] > lt, mpt = c->mask_mpt && adv[t] > 0 && logp[t] >= lp, q = false;
        switch (c->mask_quadrant) {
        case PIC_QUAD_HI_POS: q = hi && adv[t] > 0; break;
        case PIC_QUAD_HI_NEG: q = hi && adv[t] < 0; break;
        case PIC_QUAD_LO_POS: q = !hi && adv[t] > 0; break;
        case PIC_QUAD_LO_NEG: q = !hi && adv[t] < 0; break;
        default: break;
        }
        /* which mask took it, so that each one's stat counts its own */
        p->masked[t] = (unsigned char)(mpt * PIC_MASK_MPT | q * PIC_MASK_QUADRANT);
        p->n_masked += p->masked[t] != 0;
    }
}

/* A token of the step that a mask (DMMPT, a quadrant) left in the loss. */
static inline bool kept(const pic_loss_plan *p, size_t t) { return !p->masked || !p->masked[t]; }

/* Covariance of each token's advantage and current log-probability with
 * the step's means, as both Cov methods define it; the means over the
 * tokens a mask left in, as verl's masked_mean over the response mask. */
static double *token_cov(const pic_loss_plan *p, const float *logp, const float *adv) {
    size_t n = p->n_tok, k = 0;
    double ma = 0, ml = 0;
    for (size_t t = 0; t < n; t++)
        if (kept(p, t)) ma += adv[t], ml += logp[t], k++;
    if (k) ma /= (double)k, ml /= (double)k;
    double *cov = pic_malloc((n + 1) * sizeof *cov);
    for (size_t t = 0; t < n; t++) cov[t] = ((double)adv[t] - ma) * ((double)logp[t] - ml);
    return cov;
}

/* Clip-Cov: among tokens not already clipped whose covariance lies in
 * (lb, ub), pick max(1, ratio * n) at random; they get no gradient. */
static void select_clip_cov(pic_loss_plan *p, const pic_loss_cfg *c, const float *logp, const float *old,
                            const float *adv) {
    size_t n = p->n_tok, nc = 0;
    double *cov = token_cov(p, logp, adv);
    size_t *cand = pic_malloc((n + 1) * sizeof *cand);
    for (size_t t = 0; t < n; t++) {
        double pg1, pg2;
        surrogate(c, adv[t], exp((double)logp[t] - old[t]), &pg1, &pg2);
        if (kept(p, t) && !(pg2 > pg1) && cov[t] > c->cov_lb && cov[t] < c->cov_ub) cand[nc++] = t;
    }
    size_t k = (size_t)(c->cov_ratio * (double)(n - p->n_masked));
    if (k < 1) k = 1;
    if (k > nc) k = nc;
    /* a function of --seed, the optimizer step (optimizer.safetensors' count,
     * so a resumed run draws as an uninterrupted one) and the step's token
     * count: the whole step's, so neither micro-batches nor ranks change it.
     * Without the step, identical steps dropped the same positions. */
    pic_rng key, rng;
    pic_rng_seed(&key, c->seed, 0x636c6970636f76ull /* "clipcov" */, c->step);
    pic_rng_seed(&rng, pic_rng_u64(&key), n, 0);
    for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)pic_rng_below(&rng, nc - i), tmp = cand[i];
        cand[i] = cand[j], cand[j] = tmp;
        p->sel[cand[i]] = 1;
    }
    p->n_sel = k;
    free(cand);
    free(cov);
}

static const double *cmp_cov;
static int by_cov_desc(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (cmp_cov[i] != cmp_cov[j]) return cmp_cov[i] > cmp_cov[j] ? -1 : 1;
    return i < j ? -1 : i > j; /* ties: earlier token first, so the pick is reproducible */
}

/* KL-Cov: the max(1, ratio * n) tokens of largest covariance get the
 * |logp - old_logp| penalty. */
static void select_kl_cov(pic_loss_plan *p, const pic_loss_cfg *c, const float *logp, const float *adv) {
    size_t n = 0;
    double *cov = token_cov(p, logp, adv);
    size_t *idx = pic_malloc((p->n_tok + 1) * sizeof *idx);
    for (size_t t = 0; t < p->n_tok; t++)
        if (kept(p, t)) idx[n++] = t; /* a masked token is padding: never picked */
    cmp_cov = cov;
    qsort(idx, n, sizeof *idx, by_cov_desc);
    size_t k = (size_t)((double)n * c->cov_ratio);
    if (k < 1) k = 1;
    if (k > n) k = n;
    for (size_t i = 0; i < k; i++) p->sel[idx[i]] = 1;
    p->n_sel = k;
    free(idx);
    free(cov);
}

void pic_loss_plan_build(pic_loss_plan *p, const pic_loss_cfg *c, size_t n_seq, const size_t *seq_start,
                         const float *logp, const float *old_logp, const float *adv) {
    memset(p, 0, sizeof *p);
    p->n_seq = n_seq;
    p->seq_start = seq_start;
    p->n_tok = seq_start[n_seq];
    p->w = pic_malloc((p->n_tok + 1) * sizeof *p->w);
    p->seq_of = pic_malloc((p->n_tok + 1) * sizeof *p->seq_of);
    if ((c->mask_mpt || c->mask_quadrant != PIC_QUAD_NONE) && c->kind != PIC_PG_SFT) select_masked(p, c, logp, adv);
    set_weights(p, c);
    if (has_entropic(c) && !c->entropic_all) {
        float lt = log_tau(c);
        for (size_t t = 0; t < p->n_tok; t++) p->n_hi += kept(p, t) && entropic_token(c, logp[t], lt);
    }
    /* float32 as in the official code: the 1e-8 only matters for a count of 0 */
    p->hi_weight = 1.0 / (double)((float)p->n_hi + 1e-8f);
    if (p->n_tok && (c->kind == PIC_PG_CLIP_COV || c->kind == PIC_PG_KL_COV)) {
        p->sel = pic_calloc(p->n_tok, 1);
        if (c->kind == PIC_PG_CLIP_COV)
            select_clip_cov(p, c, logp, old_logp, adv);
        else
            select_kl_cov(p, c, logp, adv);
    }
}

void pic_loss_plan_free(pic_loss_plan *p) {
    free(p->w);
    free(p->seq_of);
    free(p->sel);
    free(p->masked);
    memset(p, 0, sizeof *p);
}

/* The policy-gradient term of one token: its loss and d/dlogp. */
static double pg_token(const pic_loss_plan *p, const pic_loss_cfg *c, size_t t, double lp, double old,
                       double A, double *g, pic_loss_stats *st) {
    if (c->kind == PIC_PG_SFT) {
        *g = -1;
        return -lp;
    }
    double r = exp(lp - old), pg1, pg2;
    surrogate(c, A, r, &pg1, &pg2);
    if (c->kind == PIC_PG_KL_COV) {
        double l = pg1, d = lp - old;
        *g = -A * r;
        if (p->sel[t]) {
            l += c->kl_cov_coef * fabs(d);
            *g += c->kl_cov_coef * (d > 0 ? 1 : d < 0 ? -1 : 0);
            st->selected++;
        }
        return l;
    }
    bool clipped = pg2 > pg1;
    if (clipped) {
        st->clipped++;
        if (A > 0) st->clipped_high++; else st->clipped_low++;
    }
    double l = clipped ? pg2 : pg1;
    *g = clipped ? 0 : -A * r;
    if (c->kind == PIC_PG_CLIP_COV) {
        if (p->sel[t]) {
            st->selected++;
            *g = 0;
            return 0;
        }
        return l;
    }
    if (A < 0 && c->clip_ratio_c > 1) {
        double pg3 = -A * c->clip_ratio_c;
        if (l > pg3) {
            st->dual_clipped++;
            *g = 0;
            return pg3;
        }
    }
    return l;
}

/* verl's kl_penalty: k1 = logp - ref, k2 = (logp - ref)^2 / 2, k3 ("low_var_kl")
 * = exp(ref - logp) - (ref - logp) - 1 clamped to [-10, 10]. */
static double kl_token(pic_kl_kind k, double lp, double ref, double *g) {
    double d = lp - ref;
    switch (k) {
    case PIC_KL_K1: *g = 1; return d;
    case PIC_KL_K2: *g = d; return 0.5 * d * d;
    case PIC_KL_K3: {
        double e = exp(-d), v = e + d - 1;
        if (v > 10) { *g = 0; return 10; }
        *g = 1 - e;
        return v;
    }
    default: *g = 0; return 0;
    }
}

double pic_loss_eval(const pic_loss_plan *p, const pic_loss_cfg *c, const pic_loss_in *in, size_t begin,
                     size_t end, float *dlogp, float *dent, pic_loss_stats *st) {
    float lt = log_tau(c);
    double total = 0;
    for (size_t t = begin; t < end; t++) {
        double w = p->w[t], lp = in->logp[t], A = in->adv ? in->adv[t] : 0;
        double old = in->old_logp ? in->old_logp[t] : lp, g = 0, l = 0;
        if (p->masked && p->masked[t]) {
            st->masked++;
            st->masked_mpt += (p->masked[t] & PIC_MASK_MPT) != 0;
            st->masked_quadrant += (p->masked[t] & PIC_MASK_QUADRANT) != 0;
        } else {
            l = pg_token(p, c, t, lp, old, A, &g, st);
        }
        double dl = w * g, sum = w * l;
        st->pg_loss += w * l;
        st->hi += in->logp[t] > lt;
        /* a masked token is out of this term too, as out of its count */
        if (has_entropic(c) && kept(p, t) && entropic_token(c, in->logp[t], lt)) {
            /* raising a low-probability token raises the entropy: the
             * variant's sign is reversed so that alpha > 0 still lowers it */
            double r = exp(lp - old), k = c->alpha * (c->entropic_all ? w : p->hi_weight);
            double adj = (c->entropic_low ? r : -r) * fabs(A);
            st->entropic += k * adj;
            sum += k * adj;
            dl += k * adj; /* d(-+r|A|)/dlogp = -+r|A| */
        }
        if (c->kl != PIC_KL_NONE) {
            double gk, kl = kl_token(c->kl, lp, in->ref_logp[t], &gk);
            st->kl_loss += c->kl_coef * w * kl;
            sum += c->kl_coef * w * kl;
            dl += c->kl_coef * w * gk;
        }
        double H = in->entropy ? in->entropy[t] : 0;
        if (c->entropy_coef != 0) {
            st->entropy_bonus -= c->entropy_coef * w * H;
            sum -= c->entropy_coef * w * H;
        }
        if (dent) dent[t] = (float)(-c->entropy_coef * w);
        dlogp[t] = (float)dl;
        st->entropy_sum += H;
        st->approx_kl_sum += old - lp;
        st->ratio_sum += exp(lp - old);
        st->tokens++;
        total += sum;
    }
    st->loss += total;
    return total;
}

void pic_loss_stats_add(pic_loss_stats *a, const pic_loss_stats *b) {
    a->loss += b->loss, a->pg_loss += b->pg_loss, a->entropic += b->entropic;
    a->entropy_bonus += b->entropy_bonus, a->kl_loss += b->kl_loss;
    a->entropy_sum += b->entropy_sum, a->approx_kl_sum += b->approx_kl_sum, a->ratio_sum += b->ratio_sum;
    a->tokens += b->tokens, a->clipped += b->clipped, a->clipped_low += b->clipped_low;
    a->clipped_high += b->clipped_high, a->dual_clipped += b->dual_clipped, a->hi += b->hi;
    a->selected += b->selected, a->masked += b->masked;
    a->masked_mpt += b->masked_mpt, a->masked_quadrant += b->masked_quadrant;
}
