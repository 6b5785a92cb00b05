/* When two values are equal (eval.h): exactly, within the relative 1e-30
 * that 200-bit arithmetic keeps, within SymPy's chop of 2^-54, or once both
 * are rounded to a number of decimals as SymPy's round does. Apart from
 * eval.c, which computes the values. */
#include "reward/eval.h"

static bool is_real(const rw_num *v) { return mpfr_zero_p(v->im); }

bool rw_mpfr_close(mpfr_srcptr a, mpfr_srcptr b) {
    if (mpfr_inf_p(a) || mpfr_inf_p(b)) return mpfr_equal_p(a, b);
    mpfr_t d, m;
    mpfr_inits2(RW_PREC, d, m, (mpfr_ptr)0);
    mpfr_sub(d, a, b, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_abs(m, a, MPFR_RNDN);
    if (mpfr_cmpabs(b, m) > 0) mpfr_abs(m, b, MPFR_RNDN);
    if (mpfr_cmp_ui(m, 1) < 0) mpfr_set_ui(m, 1, MPFR_RNDN);
    mpfr_mul_d(m, m, 1e-30, MPFR_RNDN);
    bool eq = mpfr_cmp(d, m) <= 0;
    mpfr_clears(d, m, (mpfr_ptr)0);
    return eq;
}

bool rw_num_equal(const rw_num *a, const rw_num *b) {
    if (a->exact && b->exact) return mpq_equal(a->q, b->q);
    return rw_mpfr_close(a->re, b->re) && rw_mpfr_close(a->im, b->im);
}

/* SymPy's evalf(chop=True) at 15 digits takes a difference below 2^-54
 * for 0 (measured in SymPy 1.14: 2^-55 is chopped, 2^-54 is not). */
enum { CHOP_EXP = -54, NOISE_EXP = RW_PREC - 64 };

/* |a - b| < 2^-54. The difference of values near 2^136 or larger holds
 * 200-bit rounding noise above 2^-60, so there the values' relative
 * closeness decides, as evalf's own precision would. */
static bool chopped_close(mpfr_srcptr a, mpfr_srcptr b) {
    if (mpfr_inf_p(a) || mpfr_inf_p(b)) return mpfr_equal_p(a, b);
    if (mpfr_get_exp(a) >= NOISE_EXP || mpfr_get_exp(b) >= NOISE_EXP) return rw_mpfr_close(a, b);
    mpfr_t d;
    mpfr_init2(d, RW_PREC);
    mpfr_sub(d, a, b, MPFR_RNDN);
    bool eq = mpfr_zero_p(d) || mpfr_get_exp(d) <= CHOP_EXP;
    mpfr_clear(d);
    return eq;
}

bool rw_num_chopped_equal(const rw_num *a, const rw_num *b) {
    if (a->exact && b->exact) {
        /* their floats round above 200 bits: 10^{100} + 1 is not 10^{100} */
        mpq_t d;
        mpq_init(d);
        mpq_sub(d, a->q, b->q);
        mpq_abs(d, d);
        mpq_t t;
        mpq_init(t);
        mpq_set_ui(t, 1, 1);
        mpz_mul_2exp(mpq_denref(t), mpq_denref(t), (mp_bitcnt_t)-CHOP_EXP);
        bool eq = mpq_cmp(d, t) < 0;
        mpq_clears(d, t, NULL);
        return eq;
    }
    return chopped_close(a->re, b->re) && chopped_close(a->im, b->im);
}

/* v * 10^places rounded to an integer into r, half to even as SymPy's
 * Expr.round breaks a tie: exactly for an exact value (a decimal literal
 * "0.0636175" is a tie, as its 15 digits are in SymPy), else at 200 bits. */
static void scaled_round(mpfr_t r, const rw_num *v, int places) {
    if (v->exact) {
        mpq_t q;
        mpz_t t, rem;
        mpq_init(q);
        mpz_inits(t, rem, NULL);
        mpz_ui_pow_ui(t, 10, (unsigned long)places);
        mpq_set_z(q, t);
        mpq_mul(q, q, v->q);
        /* floor, then up when the remainder is over half, or half and odd */
        mpz_fdiv_qr(t, rem, mpq_numref(q), mpq_denref(q));
        mpz_mul_2exp(rem, rem, 1);
        int c = mpz_cmp(rem, mpq_denref(q));
        if (c > 0 || (c == 0 && mpz_odd_p(t))) mpz_add_ui(t, t, 1);
        mpfr_set_z(r, t, MPFR_RNDN);
        mpq_clear(q);
        mpz_clears(t, rem, NULL);
        return;
    }
    mpfr_t s;
    mpfr_init2(s, RW_PREC);
    mpfr_ui_pow_ui(s, 10, (unsigned long)places, MPFR_RNDN);
    mpfr_mul(r, v->re, s, MPFR_RNDN);
    mpfr_rint(r, r, MPFR_RNDN);
    mpfr_clear(s);
}

bool rw_num_equal_rounded(const rw_num *a, const rw_num *b, int places) {
    if (!is_real(a) || !is_real(b)) return false;
    if (mpfr_inf_p(a->re) || mpfr_inf_p(b->re)) return mpfr_equal_p(a->re, b->re);
    mpfr_t x, y;
    mpfr_inits2(RW_PREC, x, y, (mpfr_ptr)0);
    scaled_round(x, a, places);
    scaled_round(y, b, places);
    bool eq = mpfr_equal_p(x, y);
    mpfr_clears(x, y, (mpfr_ptr)0);
    return eq;
}
