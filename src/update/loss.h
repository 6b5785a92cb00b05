/* The policy loss of one optimizer step as a pure function of per-token
 * numbers: current and old log-probabilities, advantages, entropies and
 * reference log-probabilities in, the loss value, the statistics and the
 * derivatives dL/dlogp and dL/dH per token out. Everything the network does
 * lies elsewhere; this file is what golden.json's pg_spec defines.
 *
 * Tokens are the response tokens of every sequence of the step, packed
 * sequence after sequence (seq_start[b] .. seq_start[b+1]). The loss is a
 * weighted sum over them, so that any split of the step into micro-batches
 * gives the same total and the same gradient: the weights (the aggregation's
 * normalisers, the count of high-probability tokens, the covariance
 * selections of Clip-Cov and KL-Cov) are fixed once per step by
 * pic_loss_plan_build before any token is evaluated. verl issue 5625 (a
 * token-mean taken per micro-batch) is the bug this shape rules out. */
#ifndef PIC_UPDATE_LOSS_H
#define PIC_UPDATE_LOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PIC_AGG_TOKEN_MEAN,              /* sum / all response tokens of the step */
    PIC_AGG_SEQ_MEAN_TOKEN_MEAN,     /* mean over sequences of each one's token mean */
    PIC_AGG_SEQ_MEAN_TOKEN_SUM,      /* mean over sequences of each one's token sum */
    PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM, /* seq-mean-token-sum / norm_len (Dr. GRPO; verl: by the horizon) */
} pic_agg;

typedef enum {
    PIC_PG_CLIP,     /* PPO clip with clip-higher and dual clip */
    PIC_PG_CLIP_COV, /* Cui et al. 2025: no gradient for a random few high-covariance tokens */
    PIC_PG_KL_COV,   /* Cui et al. 2025: |logp - old| penalty on the top-covariance tokens */
    PIC_PG_SFT,      /* mean negative log-likelihood of the response tokens */
} pic_pg_kind;

typedef enum { PIC_KL_NONE, PIC_KL_K1, PIC_KL_K2, PIC_KL_K3 } pic_kl_kind;

/* Probability above tau or not, times the sign of the advantage. */
typedef enum { PIC_QUAD_NONE, PIC_QUAD_HI_POS, PIC_QUAD_HI_NEG, PIC_QUAD_LO_POS, PIC_QUAD_LO_NEG } pic_quadrant;

typedef struct {
    pic_pg_kind kind;
    pic_agg agg;
    int norm_len;            /* seq-mean-token-sum-norm divisor; 0: longest response of the step */
    double clip_low, clip_high, clip_ratio_c; /* clip_ratio_c <= 1 turns dual clip off */
    double alpha, tau;       /* EntroPIC; alpha 0 leaves the term out */
    bool entropic_all;       /* normalise by all tokens (paper Fig. 8) instead of the high-prob count */
    bool entropic_low;       /* paper sec. 4.3's variant: the tokens at or below tau, sign reversed */
    bool mask_mpt;           /* DMMPT (UloRL) this step: well-mastered positive tokens get no loss */
    double mpt_prob;         /* DMMPT: a positive token is well mastered when p >= this (0.99) */
    pic_quadrant mask_quadrant; /* paper Fig. 2: the tokens of one quadrant get no loss */
    double entropy_coef;     /* entropy bonus: loss -= coef * agg(H) */
    pic_kl_kind kl;
    double kl_coef;          /* loss += coef * agg(kl(logp, ref_logp)) */
    double cov_ratio;        /* Clip-Cov / KL-Cov: fraction of tokens selected */
    double cov_lb, cov_ub;   /* Clip-Cov: covariance window of the candidates */
    double kl_cov_coef;      /* KL-Cov: coefficient of |logp - old_logp| */
    uint64_t seed;           /* Clip-Cov's random pick */
    uint64_t step;           /* optimizer steps taken before this one: Clip-Cov's pick draws anew
                                each step, as verl's randperm advances (the trainer sets it) */
} pic_loss_cfg;

/* The paper's and the baselines' defaults (token-mean, clip 0.2/0.2, c = 3,
 * tau 0.95, hi-normalised, Clip-Cov 2e-4 in (1, 5), KL-Cov 2e-4 with coef 1,
 * DMMPT's mastery threshold 0.99). */
void pic_loss_defaults(pic_loss_cfg *c);

/* Per-token inputs, indexed by the token's position in the step. */
typedef struct {
    const float *logp;     /* current, at the training temperature */
    const float *old_logp; /* from the stream (may be NULL for SFT) */
    const float *adv;      /* per token (a sequence's advantage repeated) */
    const float *entropy;  /* current; needed for the bonus, else may be NULL */
    const float *ref_logp; /* reference model; needed for kl, else may be NULL */
} pic_loss_in;

enum { PIC_MASK_MPT = 1, PIC_MASK_QUADRANT = 2 }; /* pic_loss_plan.masked's bits */

typedef struct {
    size_t n_tok, n_seq;
    const size_t *seq_start; /* [n_seq + 1], borrowed */
    int *seq_of;             /* [n_tok] */
    double *w;               /* [n_tok] aggregation weight of each token */
    double hi_weight;        /* 1/(count(logp > log tau) + 1e-8) of the step */
    size_t n_hi;
    unsigned char *sel;      /* [n_tok] Clip-Cov: excluded; KL-Cov: penalised; else NULL */
    size_t n_sel;
    unsigned char *masked;   /* [n_tok] DMMPT, quadrant: out of the loss and its normalisers (the
                                PIC_MASK_* bits of the masks that took it, 0: kept); else NULL */
    size_t n_masked;
} pic_loss_plan;

/* True when the plan depends on the current log-probabilities of the whole
 * step (the high-probability count, the covariance selections), so that a
 * step split into micro-batches needs them before the first backward. */
bool pic_loss_needs_logp(const pic_loss_cfg *c);

/* logp (current, all tokens) may be NULL when !pic_loss_needs_logp(c). */
void pic_loss_plan_build(pic_loss_plan *p, const pic_loss_cfg *c, size_t n_seq, const size_t *seq_start,
                         const float *logp, const float *old_logp, const float *adv);
void pic_loss_plan_free(pic_loss_plan *p);

/* Sums over the tokens evaluated; counts are exact, the rest divide by tokens. */
typedef struct {
    double loss, pg_loss, entropic, entropy_bonus, kl_loss; /* each term's weighted sum */
    double entropy_sum, approx_kl_sum, ratio_sum;
    size_t tokens, clipped, clipped_low, clipped_high, dual_clipped, hi, selected, masked;
    size_t masked_mpt, masked_quadrant; /* by each mask (a token both took counts in both) */
} pic_loss_stats;

/* Evaluates tokens [begin, end): adds to *st and writes dlogp[t] (and
 * dent[t] when not NULL) for those t. Returns their contribution to the loss. */
double pic_loss_eval(const pic_loss_plan *p, const pic_loss_cfg *c, const pic_loss_in *in, size_t begin,
                     size_t end, float *dlogp, float *dent, pic_loss_stats *st);

void pic_loss_stats_add(pic_loss_stats *into, const pic_loss_stats *from);

#endif
