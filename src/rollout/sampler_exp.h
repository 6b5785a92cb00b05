/* The sampler's weights, exp(z / T - m) in double (sampler.c), one
 * definition on every instruction set.
 *
 * Over a real vocabulary the weights are most of a draw: glibc's exp took
 * 17% of a decode step at 151,665 tokens (bench/sampler.sh, perf). This
 * exp is a fixed sequence of IEEE operations (range reduction by ln 2 in
 * two parts, a degree-13 Taylor polynomial by Horner's rule in fused
 * multiply-adds, a scale by two powers of two), each rounded once, so the
 * AVX-512, AVX2 and scalar paths give the same bits; it is within 2 ulp of
 * exp (tests/unit/test_sampler_exp.c), where glibc's exp is within one, so
 * a draw can change only where its uniform falls within ~1e-16 of a
 * cumulative-mass boundary. */
#ifndef PIC_ROLLOUT_SAMPLER_EXP_H
#define PIC_ROLLOUT_SAMPLER_EXP_H

#include <stddef.h>
#include <stdint.h>

/* exp((double)(z / T - m)): the definition, one value. */
double sampler_exp1(float z, float T, float m);

/* w[i] = sampler_exp1(z[i], T, m) for i < n, on the kernels of PIC_ISA
 * (else the best this CPU has), the same bits on each. */
void sampler_exp(double *w, const float *z, size_t n, float T, float m);

/* The same over the ids idx[0..n): w[i] = sampler_exp1(z[idx[i]], T, m). */
void sampler_exp_ids(double *w, const float *z, const int32_t *idx, size_t n, float T, float m);

#endif
