/* Advantages of one step's samples: GRPO's group-normalised reward (verl's
 * compute_grpo_outcome_advantage: unbiased std, epsilon 1e-6), Dr. GRPO's
 * mean-centred reward, and the fixed-sign estimators of Zhu et al. 2025
 * (NSR, PSR, W-REINFORCE). A sample's own `advantage` wins over all. */
#ifndef PIC_UPDATE_ADVANTAGE_H
#define PIC_UPDATE_ADVANTAGE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    PIC_ADV_GRPO,        /* (r - mean) / (std + eps) per group, or r - mean with norm off */
    PIC_ADV_NSR,         /* -1 for negative samples, 0 for positive ones */
    PIC_ADV_PSR,         /* +1 for positive samples, 0 for negative ones */
    PIC_ADV_W_REINFORCE, /* +lambda for positive samples, -1 for negative ones */
} pic_adv_mode;

typedef struct {
    pic_adv_mode mode;
    bool std_norm;  /* GRPO: divide by the group's std (off: Dr. GRPO) */
    double lambda;  /* W-REINFORCE's weight of positive samples (0.1) */
} pic_adv_cfg;

typedef struct {
    const char *group;  /* the id key */
    double reward;      /* used when !has_adv: `reward`, else `correct` as 1 or 0 */
    bool has_reward;
    bool positive;      /* `correct`, or reward > 0 when absent */
    bool has_adv;
    double adv;         /* the record's own advantage */
} pic_adv_in;

/* The indices 0..n-1 ordered by group, in stream order within a group
 * (malloc'd): the groups as pic_advantages finds them. */
size_t *pic_adv_group_order(const pic_adv_in *in, size_t n);

/* Fills adv[n]. Returns 0, or -1 with *bad the index of the sample at fault
 * and *why a static message (a GRPO group of one sample; no reward). */
int pic_advantages(const pic_adv_cfg *c, const pic_adv_in *in, size_t n, double *adv, size_t *bad,
                   const char **why);

#endif
