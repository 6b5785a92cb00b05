/* Sizing of the CPU's arena (internal to the model library). */
#ifndef PIC_MODEL_ACTS_H
#define PIC_MODEL_ACTS_H

#include "model/model.h"

/* Grows a's arena to hold N tokens in n_seq sequences of up to ctx
 * positions (keeps nothing from before; a no-op when it already does). */
void pic_acts_reserve(pic_acts *a, const pic_config *c, size_t N, int n_seq, int ctx);
void pic_acts_free(pic_acts *a);
/* backward.c: the floats of a backward's scratch for N tokens (a->bwd). */
size_t pic_backward_scratch_floats(const pic_config *c, size_t N);
/* forward.c: layer l of the last forward (no KV cache) again, from its
 * input into the activations it keeps (the backward under recompute). */
void pic_layer_recompute(pic_model *m, const pic_batch *b, int l);

#endif
