/* The device sampler's host stand-in (make CUDA=host, beside
 * src/model/cuda_host.c): the "device" logits are host memory, and each
 * draw is the CPU sampler's choice for the uniform the host drew
 * (sampler_pick), with the log-prob and entropy of the CPU's head, so that
 * pic-rollout's GPU path (draws made before the pass, rows handed over a
 * block at a time) gives the CPU's samples bit for bit. */
#include <stdlib.h>

#include "common/cli.h"
#include "model/layers.h"
#include "rollout/cuda/sampler.h"

struct sampler_cuda {
    sampler_scratch scratch;
};

sampler_cuda *sampler_cuda_new(void) { return pic_calloc(1, sizeof(sampler_cuda)); }

void sampler_cuda_free(sampler_cuda *s) {
    if (!s) return;
    sampler_free(&s->scratch);
    free(s);
}

int sampler_next_cuda(sampler_cuda *s, const float *z, size_t k, int V, const sampler_params *sp, size_t n_draws,
                      const int *row, const double *u, float stats_T, int32_t *tok, float *logp, float *ent,
                      void *stream, pic_err *err) {
    (void)stream;
    for (size_t d = 0; d < n_draws; d++) {
        if (row[d] < 0 || (size_t)row[d] >= k || (d && row[d] < row[d - 1]))
            return pic_err_set(err, "sampler_next_cuda: draw %zu reads row %d of a block of %zu (rows ascend)", d,
                               row[d], k);
        const float *r = z + (size_t)row[d] * (size_t)V;
        tok[d] = sampler_pick(r, V, sp, &s->scratch, u[d]);
        logprob_entropy_forward(logp + d, ent + d, r, tok + d, 1, V, stats_T);
    }
    return 0;
}
