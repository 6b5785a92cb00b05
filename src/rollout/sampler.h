/* Choosing the next token from a row of logits: greedy at temperature 0,
 * else a draw from softmax(logits / T) truncated as HuggingFace's warpers
 * do, in their order: top-k, then top-p (nucleus) on what top-k kept, then
 * min-p (docs/rollout.md). Each draw takes exactly one uniform from the
 * sample's own stream, so a sample's tokens depend on nothing else. */
#ifndef PIC_ROLLOUT_SAMPLER_H
#define PIC_ROLLOUT_SAMPLER_H

#include <stdint.h>

#include "common/rng.h"

typedef struct {
    float temperature; /* 0: greedy (argmax, the lowest id on ties) */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off; keeps the most likely tokens until their mass reaches top_p */
    float min_p;       /* 0: off; keeps tokens with p >= min_p * max p */
} sampler_params;

/* Work space for one thread: grown as needed, freed with sampler_free. */
typedef struct {
    int32_t *idx, *tmp;
    double *w;
    uint32_t *key, *key_tmp;
    int cap;
} sampler_scratch;

void sampler_free(sampler_scratch *s);

/* The kept tokens and their probabilities (normalized over the kept set),
 * in descending probability, ids ascending on ties: *n gets their count.
 * ids and p point into the scratch (valid until its next use). T > 0. */
void sampler_dist(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, const int32_t **ids,
                  const double **p, int *n);

/* The next token (greedy when temperature is 0, drawing nothing). */
int32_t sampler_next(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, pic_rng *rng);
/* The token sampler_next chooses when its draw is u (unused when greedy):
 * what a device sampler is given instead of the stream (cuda/sampler.h). */
int32_t sampler_pick(const float *logits, int V, const sampler_params *sp, sampler_scratch *s, double u);

#endif
