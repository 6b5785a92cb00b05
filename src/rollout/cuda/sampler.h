/* The CUDA twin of the sampler (rollout/sampler.h): the same choice of the
 * next token, made on the GPU from logits that never leave it, so that a
 * decode step brings back a few numbers per sequence instead of a row of
 * the whole vocabulary. The host still draws each sample's uniform from its
 * own stream (seed, record, sample), exactly as sampler_next does, and a
 * row's sums are in an order fixed by V alone (over parts of the row side
 * by side when nothing truncates, one block over the sorted row when
 * something does), so a sample's token depends on its row and its u only,
 * never on the batch. The token
 * equals sampler_next's for the same u except where u falls within
 * rounding of a cumulative-mass boundary (the sums are associated
 * differently; docs/gpu.md, tests/unit/test_cuda_sampler.cu). */
#ifndef PIC_ROLLOUT_CUDA_SAMPLER_H
#define PIC_ROLLOUT_CUDA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "model/error.h"
#include "rollout/sampler.h"

/* Device work space (sort buffers, the draws' arrays), grown on first use. */
typedef struct sampler_cuda sampler_cuda;

sampler_cuda *sampler_cuda_new(void);
void sampler_cuda_free(sampler_cuda *s);

/* n_draws tokens from k rows of logits z [k, V] in device memory: draw d
 * from row row[d] (ascending in d) against the uniform u[d] (unused at
 * temperature 0, greedy). Into the host arrays tok, logp and ent [n_draws]:
 * the token, its log-prob and the row's entropy under softmax(z / stats_T),
 * from the model's own head kernel (logits.cu), the numbers --score and
 * pic-update compute. stream is the cudaStream_t the logits were written on
 * (NULL: the default stream). Returns 0, or -1 with a message. */
int sampler_next_cuda(sampler_cuda *s, const float *z, size_t k, int V, const sampler_params *sp, size_t n_draws,
                      const int *row, const double *u, float stats_T, int32_t *tok, float *logp, float *ent,
                      void *stream, pic_err *err);

#ifdef __cplusplus
}
#endif

#endif
