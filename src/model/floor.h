/* The matrix-product floor of a forward pass: the time OpenBLAS sgemm alone
 * takes for the weight products one forward makes, on the model's own
 * weights. The benchmarks (pic-model-bench, pic-update-bench,
 * pic-rollout-floor) compare the real pass against it. */
#ifndef PIC_MODEL_FLOOR_H
#define PIC_MODEL_FLOOR_H

#include <stddef.h>

#include "model/config.h"
#include "model/params.h"

/* Seconds, the best of reps rounds, for rows tokens through every layer's
 * q/k/v, o, gate/up and down products and head_rows tokens through
 * lm_head; *flops gets the floating-point operations of one round. */
double pic_sgemm_floor(const pic_config *c, const pic_params *p, size_t rows, size_t head_rows, int reps,
                       double *flops);

#endif
