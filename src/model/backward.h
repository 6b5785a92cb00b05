/* The transformer's backward pass (CPU, float32), the mirror of forward.c,
 * and the training head: log-probabilities and entropies of chosen rows at a
 * temperature, and their gradients, a block of rows at a time so that no
 * [N, V] matrix of logits or probabilities ever exists. */
#ifndef PIC_MODEL_BACKWARD_H
#define PIC_MODEL_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* On a GPU (after pic_train_init_cuda) both run there, dlnf and grad are
 * the device's own (pass NULL), and a device error dies with its message. */

/* After pic_forward(m, NULL, b, ...) with pic_model_retain(m, true), and a
 * head backward that filled dlnf [N, C] (the gradient of the loss with
 * respect to the final norm's output; destroyed): accumulates the gradient
 * of every parameter into grad (views of a buffer of the parameters' layout,
 * pic_params_views). */
void pic_backward(pic_model *m, const pic_batch *b, float *dlnf, pic_params *grad);

/* For n rows of the last forward with targets, upstream dlogp[n] and dent[n]
 * (either may be NULL): recomputes their logits, accumulates dlnf rows [N, C]
 * and the lm_head's gradient. On a GPU the rows must be distinct. */
void pic_head_backward(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                       const float *dlogp, const float *dent, float *dlnf, pic_params *grad);

#endif
