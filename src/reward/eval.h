/* Evaluating a scalar expression tree: exactly (GMP rationals) while the
 * value stays rational and small, and always numerically (MPFR, complex as a
 * pair of reals) at RW_PREC bits. Free variables take pseudo-random values
 * that depend on their name and the trial number, so two expressions that
 * agree at several trials are equal with overwhelming probability. */
#ifndef PIC_REWARD_EVAL_H
#define PIC_REWARD_EVAL_H

#include <gmp.h>
#include <mpfr.h>

#include "reward/ast.h"

enum {
    RW_PREC = 200,          /* bits of every numeric value */
    RW_MAX_EXACT_BITS = 1 << 17, /* larger rationals are only numeric */
    RW_TRIALS = 5,          /* random points for expressions with variables */
    RW_STEP_TRIALS = 48,    /* more of them where a floor, ceiling, mod, max or min is */
    RW_MAX_TERMS = 50000,   /* terms of sums, products and determinants in one comparison */
};

typedef struct {
    bool ok;    /* defined (no division by zero, overflow, underflow, domain error) */
    bool exact; /* q holds the exact value (then im == 0) */
    mpq_t q;
    mpfr_t re, im;
} rw_num;

void rw_num_init(rw_num *v);
void rw_num_clear(rw_num *v);

/* Evaluates x at trial t (0 .. RW_TRIALS + RW_STEP_TRIALS - 1). Sets v->ok; never fails
 * otherwise. Sets and relations are not scalars: not ok. */
void rw_eval(const node *x, int trial, rw_num *v);

/* Sets how many terms of sums, products and determinants the evaluations
 * of one comparison may expand in all (RW_MAX_TERMS), so that nested
 * operators and repeated comparisons stay bounded; past it they are
 * undefined. */
void rw_eval_budget(long terms);

/* Whether x has free variables (symbols, unknown functions). */
bool rw_has_vars(const node *x);

/* a and b (both ok) are equal: exactly when both are exact, else within a
 * relative 1e-30 (the precision lost by RW_PREC-bit arithmetic is far less). */
bool rw_num_equal(const rw_num *a, const rw_num *b);
/* Two reals equal within that relative 1e-30 (infinities exactly). */
bool rw_mpfr_close(mpfr_srcptr a, mpfr_srcptr b);
/* |a - b| below 2^-54 in each part (exactly when both are exact): SymPy's
 * evalf(chop=True) at 15 digits takes such a difference for 0. */
bool rw_num_chopped_equal(const rw_num *a, const rw_num *b);
/* Equal after rounding both real values to `places` decimals. */
bool rw_num_equal_rounded(const rw_num *a, const rw_num *b, int places);

#endif
