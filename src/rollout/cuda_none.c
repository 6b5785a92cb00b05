/* The sampler's CUDA twin in a build without CUDA (make CUDA=0, or no
 * nvcc): no model is ever on a GPU there, so generate.c never calls it;
 * the symbols exist so that pic-rollout links, and say why if reached. */
#include <stdlib.h>

#include "rollout/cuda/sampler.h"

sampler_cuda *sampler_cuda_new(void) { return NULL; }

void sampler_cuda_free(sampler_cuda *s) { (void)s; }

int sampler_next_cuda(sampler_cuda *s, const float *z, size_t k, int V, const sampler_params *sp, size_t n_draws,
                      const int *row, const double *u, float stats_T, int32_t *tok, float *logp, float *ent,
                      void *stream, pic_err *err) {
    (void)s, (void)z, (void)k, (void)V, (void)sp, (void)n_draws, (void)row, (void)u, (void)stats_T, (void)tok;
    (void)logp, (void)ent, (void)stream;
    return pic_err_set(err, "this pic was built without CUDA (nvcc not found, or make CUDA=0): use --device cpu");
}
