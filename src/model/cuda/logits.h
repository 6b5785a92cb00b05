/* The CUDA version of the logits head (src/model/logits.c): log p of each
 * row's target and the entropy of softmax(logits / T), from the logits
 * directly, with no row of probabilities written anywhere. Pointers are
 * device pointers; the call is asynchronous on the default stream.
 *
 * The CUDA backend keeps the CPU layer names with a _cuda suffix, so a
 * program or a test can hold both and compare them. */
#ifndef PIC_MODEL_CUDA_LOGITS_H
#define PIC_MODEL_CUDA_LOGITS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* logp (may be NULL, or targets NULL) [N], entropy (may be NULL) [N],
 * logits [N, V], targets [N]. Returns 0, or a CUDA error code. */
int logprob_entropy_forward_cuda(float *logp, float *entropy, const float *logits,
                                 const int32_t *targets, size_t N, int V, float temperature);

#ifdef __cplusplus
}
#endif

#endif
