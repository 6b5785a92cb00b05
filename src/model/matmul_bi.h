/* A batch-invariant matrix product for generation.
 *
 * OpenBLAS picks its kernel by the shape of the call: on Skylake-X and later
 * (0.3.17+, SMALL_MATRIX_OPT) an sgemm whose C has at most 1200 elements
 * and at most 1e6 multiply-adds goes to a "small matrix" kernel that sums in
 * another order than the blocked one (newer versions also hand M = 1 to
 * sgemv). So the same row rounds differently alone and packed with others,
 * and with continuous batching a different packing could flip a sampled
 * token. This kernel computes every output element with one fixed sequence
 * of float operations, whatever N, the row's place in the batch, the tile
 * it falls in or the thread that runs it (docs/rollout.md). A model's
 * forward passes use it instead of matmul_forward while the model's
 * batch_invariant is set (model.h): a per-model switch, not a global one. */
#ifndef PIC_MODEL_MATMUL_BI_H
#define PIC_MODEL_MATMUL_BI_H

#include <stdbool.h>
#include <stddef.h>

/* The contract of matmul_forward: out[N, OC] (+)= inp[N, IC] . weight[OC, IC]^T
 * + bias[OC] (bias may be NULL). Element (n, j) is
 *   init + reduce16(lanes), lanes[l] = sum over k = l (mod 16), ascending k,
 * of inp[n, k] * weight[j, k], each step one fused multiply-add (one
 * rounding: hardware FMA and C's fmaf() are both correctly rounded, so every
 * instruction set gives the same bits), reduce16 a fixed pairwise tree (lane
 * l + lane l + 8, then + 4, + 2, + 1), and
 * init = (accumulate ? out[n, j] : 0) + bias[j]. */
/* The kernel in use: "avx512", "avx2" or "scalar" (fmaf), the best the CPU
 * has unless the environment variable PIC_ISA names one; a name the CPU
 * cannot run, or an unknown one, dies with a message. */
const char *pic_matmul_bi_isa(void);

/* The same choice as an index, for the other kernels that exist once per
 * instruction set (attention.c, logits.c) to pick from their own tables. */
enum { PIC_ISA_AVX512, PIC_ISA_AVX2, PIC_ISA_SCALAR };
int pic_kernel_isa(void);

void matmul_bi_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N, int IC,
                       int OC, bool accumulate);

#endif
