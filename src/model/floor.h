/* The floors of a forward pass: the time OpenBLAS sgemm alone takes for the
 * weight products one forward makes, on the model's own weights, and the
 * time to read a buffer once. The benchmarks (pic-model-bench,
 * pic-update-bench, pic-rollout-floor) compare the real pass against them. */
#ifndef PIC_MODEL_FLOOR_H
#define PIC_MODEL_FLOOR_H

#include <stddef.h>

#include "model/config.h"
#include "model/params.h"

/* The floating-point operations of those products (a multiply-add is two):
 * rows tokens through every layer's weight matrices, head_rows through
 * lm_head. */
double pic_matmul_flops(const pic_config *c, size_t rows, size_t head_rows);

/* Seconds, the best of reps rounds, for rows tokens through every layer's
 * q/k/v, o, gate/up and down products and head_rows tokens through
 * lm_head; *flops gets the floating-point operations of one round. */
double pic_sgemm_floor(const pic_config *c, const pic_params *p, size_t rows, size_t head_rows, int reps,
                       double *flops);

/* Bytes per second, the best of reps rounds, at which pic_threads()
 * threads of the project's pool read a buffer of about bytes once (summing
 * it), as a forward pass's threads read the weights and the KV cache: the
 * memory floor's rate. The buffer is as large as what is to be read, so that
 * the rate is a cache's only when the data would fit in one. */
double pic_read_rate(size_t bytes, int reps);

#endif
