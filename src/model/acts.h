/* Sizing of the activation buffers (internal to the model library). */
#ifndef PIC_MODEL_ACTS_H
#define PIC_MODEL_ACTS_H

#include "model/model.h"

/* Grows a's buffers to hold N tokens (keeps nothing from before). */
void pic_acts_reserve(pic_acts *a, const pic_config *c, size_t N);
void pic_acts_free(pic_acts *a);

#endif
