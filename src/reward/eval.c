/* Exact-then-numeric evaluation (eval.h). Every operation checks its bounds
 * before it runs: powers, factorials and binomials too large to compute
 * exactly fall back to MPFR, whose overflow makes the value undefined rather
 * than slow. */
#include "reward/eval.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

void rw_num_init(rw_num *v) {
    v->ok = false;
    v->exact = false;
    mpq_init(v->q);
    mpfr_init2(v->re, RW_PREC);
    mpfr_init2(v->im, RW_PREC);
}

void rw_num_clear(rw_num *v) {
    mpq_clear(v->q);
    mpfr_clear(v->re);
    mpfr_clear(v->im);
}

static void set_exact(rw_num *v) {
    v->ok = true;
    v->exact = true;
    mpfr_set_q(v->re, v->q, MPFR_RNDN);
    mpfr_set_zero(v->im, 1);
}

static void set_real(rw_num *v) {
    v->ok = !mpfr_nan_p(v->re);
    v->exact = false;
    mpfr_set_zero(v->im, 1);
}

static bool is_real(const rw_num *v) { return mpfr_zero_p(v->im); }

static bool too_big(const mpq_t q) {
    return mpz_sizeinbase(mpq_numref(q), 2) + mpz_sizeinbase(mpq_denref(q), 2) > RW_MAX_EXACT_BITS;
}

/* After a numeric operation: undefined on NaN, and on an infinity that came
 * from overflow rather than from \infty. */
static void check(rw_num *v, bool allow_inf) {
    if (mpfr_nan_p(v->re) || mpfr_nan_p(v->im)) v->ok = false;
    if (!allow_inf && (mpfr_inf_p(v->re) || mpfr_inf_p(v->im))) v->ok = false;
    if (v->exact && too_big(v->q)) v->exact = false;
}

/* splitmix64: a fixed, portable stream of pseudo-random values. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_name(const char *s, uint64_t h) {
    size_t len = strlen(s);
    for (size_t k = 0; k < len; k++) {
        /* multi-letter names compare case-insensitively, as in Math-Verify */
        unsigned char c = (unsigned char)(len > 1 ? tolower((unsigned char)s[k]) : s[k]);
        h = mix(h ^ c);
    }
    return h;
}

/* A value in [0.5, 2.5) at trials 0 and 1 (positive, away from poles of
 * the usual functions), in [-2.5, 2.5) at trial 2 (to tell x from |x|),
 * and in [4, 12) and (-12, -4] at trials 3 and 4, so that an identity that
 * holds only near 0 fails (sqrt((x-3)^2) is not 3 - x); in [-20, 20) at
 * the trials a step function gets beyond those (equiv.c). */
static void random_value(rw_num *v, uint64_t h, int trial) {
    uint64_t r = mix(h ^ (uint64_t)(trial + 1) * 0x51ed27ULL);
    double u = (double)(r >> 11) / 9007199254740992.0;
    double x = trial < 2    ? 0.5 + 2.0 * u
               : trial == 2 ? -2.5 + 5.0 * u
               : trial < 5  ? (trial == 3 ? 1 : -1) * (4.0 + 8.0 * u)
                            : -20.0 + 40.0 * u;
    mpfr_set_d(v->re, x, MPFR_RNDN);
    set_real(v);
}

static void eval_num(const node *x, rw_num *v) {
    if (mpz_set_str(mpq_numref(v->q), x->name, 10) != 0) return;
    mpz_ui_pow_ui(mpq_denref(v->q), 10, (unsigned long)x->scale);
    mpq_canonicalize(v->q);
    set_exact(v);
}

/* One of two nonzero terms lies wholly below the other's last bit: their
 * sum is the larger one, and the smaller term is lost. */
static bool absorbed(mpfr_srcptr a, mpfr_srcptr b) {
    if (!mpfr_regular_p(a) || !mpfr_regular_p(b)) return false;
    mpfr_exp_t d = mpfr_get_exp(a) - mpfr_get_exp(b);
    return d > RW_PREC || d < -RW_PREC;
}

/* A value below what the rounding of t leaves certain (|v| < |t|
 * 2^-(RW_PREC-8)) is 0. A sine or cosine (or tangent, cotangent) of a
 * multiple of pi/2 written exactly, which SymPy evaluates to 0
 * (\cos\frac{\pi}{2}, \sin\pi), comes out near 2^-200 at 200 bits, and
 * so does a sum of terms that cancel (\cos\frac{\pi}{3} - \frac{1}{2}),
 * where SymPy's values are exact; a later sum would lose that noise as a
 * term wholly below the other's bits (c_add), making 1 + \cos\frac{\pi}{2}
 * undefined, and a product or quotient would make it large. */
static void snap_zero(mpfr_ptr v, mpfr_srcptr t) {
    if (mpfr_regular_p(v) && mpfr_regular_p(t) && mpfr_get_exp(v) <= mpfr_get_exp(t) - 1 - (RW_PREC - 8))
        mpfr_set_zero(v, 1);
}

static void c_add(rw_num *r, const rw_num *a, const rw_num *b, bool sub) {
    if (a->exact && b->exact) {
        (sub ? mpq_sub : mpq_add)(r->q, a->q, b->q);
        set_exact(r);
        check(r, false);
        return;
    }
    /* a sum that lost a term is undefined there, as a value out of range
     * is: else x^{3 \cdot 10^8} + 1 would equal x^{3 \cdot 10^8} at every
     * point where it is defined at all */
    bool lost = absorbed(a->re, b->re) || absorbed(a->im, b->im);
    (sub ? mpfr_sub : mpfr_add)(r->re, a->re, b->re, MPFR_RNDN);
    (sub ? mpfr_sub : mpfr_add)(r->im, a->im, b->im, MPFR_RNDN);
    /* terms that cancel below their rounding leave 0 */
    snap_zero(r->re, mpfr_cmpabs(a->re, b->re) >= 0 ? a->re : b->re);
    snap_zero(r->im, mpfr_cmpabs(a->im, b->im) >= 0 ? a->im : b->im);
    r->ok = !lost;
    r->exact = false;
    check(r, true);
}

static void c_mul(rw_num *r, const rw_num *a, const rw_num *b) {
    if (a->exact && b->exact) {
        mpq_mul(r->q, a->q, b->q);
        set_exact(r);
        check(r, false);
        return;
    }
    if (is_real(a) && is_real(b)) {
        /* real operands stay real: no inf * 0 = NaN from empty imaginary parts */
        mpfr_mul(r->re, a->re, b->re, MPFR_RNDN);
        set_real(r);
        check(r, true);
        return;
    }
    mpfr_t t1, t2, re;
    mpfr_inits2(RW_PREC, t1, t2, re, (mpfr_ptr)0);
    mpfr_mul(t1, a->re, b->re, MPFR_RNDN);
    mpfr_mul(t2, a->im, b->im, MPFR_RNDN);
    mpfr_sub(re, t1, t2, MPFR_RNDN);
    mpfr_mul(t1, a->re, b->im, MPFR_RNDN);
    mpfr_mul(t2, a->im, b->re, MPFR_RNDN);
    mpfr_add(r->im, t1, t2, MPFR_RNDN);
    mpfr_set(r->re, re, MPFR_RNDN);
    mpfr_clears(t1, t2, re, (mpfr_ptr)0);
    r->ok = true;
    r->exact = false;
    check(r, true);
}

static void c_div(rw_num *r, const rw_num *a, const rw_num *b) {
    if (b->exact && mpq_sgn(b->q) == 0) return;
    if (a->exact && b->exact) {
        mpq_div(r->q, a->q, b->q);
        set_exact(r);
        check(r, false);
        return;
    }
    if (is_real(a) && is_real(b)) {
        if (mpfr_zero_p(b->re)) return;
        mpfr_div(r->re, a->re, b->re, MPFR_RNDN);
        set_real(r);
        check(r, true);
        return;
    }
    mpfr_t d, t1, t2, re;
    mpfr_inits2(RW_PREC, d, t1, t2, re, (mpfr_ptr)0);
    mpfr_sqr(d, b->re, MPFR_RNDN);
    mpfr_sqr(t1, b->im, MPFR_RNDN);
    mpfr_add(d, d, t1, MPFR_RNDN);
    if (mpfr_zero_p(d)) {
        mpfr_clears(d, t1, t2, re, (mpfr_ptr)0);
        return;
    }
    mpfr_mul(t1, a->re, b->re, MPFR_RNDN);
    mpfr_mul(t2, a->im, b->im, MPFR_RNDN);
    mpfr_add(re, t1, t2, MPFR_RNDN);
    mpfr_mul(t1, a->im, b->re, MPFR_RNDN);
    mpfr_mul(t2, a->re, b->im, MPFR_RNDN);
    mpfr_sub(r->im, t1, t2, MPFR_RNDN);
    mpfr_div(r->re, re, d, MPFR_RNDN);
    mpfr_div(r->im, r->im, d, MPFR_RNDN);
    mpfr_clears(d, t1, t2, re, (mpfr_ptr)0);
    r->ok = true;
    r->exact = false;
    check(r, true);
}

/* q = the exact k-th root of q when there is one. */
static bool exact_root(mpq_t out, const mpq_t q, unsigned long k) {
    if (mpq_sgn(q) < 0 && k % 2 == 0) return false;
    mpz_t n, d;
    mpz_inits(n, d, NULL);
    bool ok = mpz_root(n, mpq_numref(q), k) && mpz_root(d, mpq_denref(q), k);
    if (ok) {
        mpq_set_num(out, n);
        mpq_set_den(out, d);
        mpq_canonicalize(out);
    }
    mpz_clears(n, d, NULL);
    return ok;
}

/* The sine, cosine or other periodic function of a real whose exponent is
 * above RW_PREC - 64: its 200 bits keep less than 2^-64 of its fractional
 * part, so the value would be noise (\sin(10^{100}) equal to
 * \sin(10^{100}+1)), and MPFR's argument reduction takes time and memory in
 * proportion to the exponent (minutes and gigabytes for \sin(x^{10^9})):
 * undefined instead. */
enum { PERIODIC_MAX_EXP = RW_PREC - 64 };

static bool periodic_arg(mpfr_srcptr t) { return !mpfr_regular_p(t) || mpfr_get_exp(t) <= PERIODIC_MAX_EXP; }

/* A complex exponent: the principal value exp(b log a), as SymPy takes it
 * (e^{I\pi} = -1); 0 to such a power is left undefined. */
static void c_pow_principal(rw_num *r, const rw_num *a, const rw_num *b) {
    if (mpfr_zero_p(a->re) && mpfr_zero_p(a->im)) return;
    mpfr_t lr, th, x, y, t;
    mpfr_inits2(RW_PREC, lr, th, x, y, t, (mpfr_ptr)0);
    mpfr_hypot(lr, a->re, a->im, MPFR_RNDN);
    mpfr_log(lr, lr, MPFR_RNDN);                     /* ln |a| */
    mpfr_atan2(th, a->im, a->re, MPFR_RNDN);         /* arg a */
    mpfr_mul(x, b->re, lr, MPFR_RNDN);               /* re(b log a) */
    mpfr_mul(t, b->im, th, MPFR_RNDN);
    mpfr_sub(x, x, t, MPFR_RNDN);
    mpfr_mul(y, b->re, th, MPFR_RNDN);               /* im(b log a) */
    mpfr_mul(t, b->im, lr, MPFR_RNDN);
    mpfr_add(y, y, t, MPFR_RNDN);
    if (!periodic_arg(y)) {
        mpfr_clears(lr, th, x, y, t, (mpfr_ptr)0);
        return;
    }
    mpfr_exp(x, x, MPFR_RNDN);
    mpfr_sin_cos(r->im, r->re, y, MPFR_RNDN);
    snap_zero(r->re, y); /* e^{I\pi/2} is I */
    snap_zero(r->im, y); /* e^{I\pi} is -1 */
    mpfr_mul(r->re, r->re, x, MPFR_RNDN);
    mpfr_mul(r->im, r->im, x, MPFR_RNDN);
    mpfr_clears(lr, th, x, y, t, (mpfr_ptr)0);
    r->ok = true;
    r->exact = false;
    check(r, false);
}

static void c_pow(rw_num *r, const rw_num *a, const rw_num *b) {
    /* exact base, exact exponent p/q with small q and a bounded result */
    if (a->exact && b->exact && mpz_cmp_ui(mpq_denref(b->q), 64) <= 0 &&
        mpz_cmpabs_ui(mpq_numref(b->q), 100000) <= 0) {
        long p = mpz_get_si(mpq_numref(b->q));
        unsigned long qd = mpz_get_ui(mpq_denref(b->q));
        size_t bits = mpz_sizeinbase(mpq_numref(a->q), 2) + mpz_sizeinbase(mpq_denref(a->q), 2);
        mpq_t base;
        mpq_init(base);
        bool ok = qd == 1 ? (mpq_set(base, a->q), true) : exact_root(base, a->q, qd);
        unsigned long e = (unsigned long)(p < 0 ? -p : p);
        if (ok && (unsigned long)bits * e <= RW_MAX_EXACT_BITS && !(p < 0 && mpq_sgn(base) == 0)) {
            mpz_pow_ui(mpq_numref(r->q), mpq_numref(base), e);
            mpz_pow_ui(mpq_denref(r->q), mpq_denref(base), e);
            if (p < 0) mpq_inv(r->q, r->q);
            mpq_canonicalize(r->q);
            mpq_clear(base);
            if (p == 0 && mpq_sgn(a->q) == 0) return; /* 0^0 */
            set_exact(r);
            return;
        }
        mpq_clear(base);
    }
    if (!is_real(b)) {
        c_pow_principal(r, a, b);
        return;
    }
    if (!is_real(a)) {
        /* complex base: only small integer exponents, by repeated products */
        if (!b->exact || mpz_cmp_ui(mpq_denref(b->q), 1) != 0 || mpz_cmpabs_ui(mpq_numref(b->q), 64) > 0) return;
        long p = mpz_get_si(mpq_numref(b->q));
        rw_num acc;
        rw_num_init(&acc);
        mpq_set_ui(acc.q, 1, 1);
        set_exact(&acc);
        for (long k = 0; k < (p < 0 ? -p : p); k++) c_mul(&acc, &acc, a);
        if (p < 0) {
            rw_num one;
            rw_num_init(&one);
            mpq_set_ui(one.q, 1, 1);
            set_exact(&one);
            c_div(r, &one, &acc);
            rw_num_clear(&one);
        } else {
            mpfr_set(r->re, acc.re, MPFR_RNDN);
            mpfr_set(r->im, acc.im, MPFR_RNDN);
            r->ok = acc.ok;
            r->exact = false;
        }
        rw_num_clear(&acc);
        return;
    }
    if (mpfr_sgn(a->re) < 0) {
        /* a negative base needs an integer exponent, or an odd root */
        if (!b->exact) return;
        if (mpz_cmp_ui(mpq_denref(b->q), 1) == 0) {
            mpfr_pow(r->re, a->re, b->re, MPFR_RNDN);
        } else if (mpz_odd_p(mpq_denref(b->q))) {
            mpfr_neg(r->re, a->re, MPFR_RNDN);
            mpfr_pow(r->re, r->re, b->re, MPFR_RNDN);
            if (mpz_odd_p(mpq_numref(b->q))) mpfr_neg(r->re, r->re, MPFR_RNDN);
        } else {
            /* an even root of a negative number: the principal value
             * |a|^b (cos pi b + i sin pi b), so (-4)^{1/2} = 2i and
             * x^{3/2} = x \sqrt{x} for negative x too */
            mpfr_t m, t;
            mpfr_inits2(RW_PREC, m, t, (mpfr_ptr)0);
            mpfr_neg(m, a->re, MPFR_RNDN);
            mpfr_pow(m, m, b->re, MPFR_RNDN);
            mpfr_const_pi(t, MPFR_RNDN);
            mpfr_mul(t, t, b->re, MPFR_RNDN);
            mpfr_sin_cos(r->im, r->re, t, MPFR_RNDN);
            snap_zero(r->re, t); /* \sqrt{-4} is 2i, its real part 0 */
            mpfr_mul(r->re, r->re, m, MPFR_RNDN);
            mpfr_mul(r->im, r->im, m, MPFR_RNDN);
            mpfr_clears(m, t, (mpfr_ptr)0);
            r->ok = true;
            r->exact = false;
            check(r, false);
            return;
        }
        set_real(r);
        check(r, false);
        return;
    }
    mpfr_pow(r->re, a->re, b->re, MPFR_RNDN);
    set_real(r);
    check(r, mpfr_inf_p(a->re) || mpfr_inf_p(b->re));
}

static void eval_node(const node *x, int trial, rw_num *v);
static void eval_func(const node *x, int trial, rw_num *v, rw_num *a, rw_num *b);
static void eval_det(const node *m, int trial, rw_num *v);

/* Arguments that must be exact integers (gcd, binomial, factorial). */
static bool exact_int(const rw_num *a) { return a->ok && a->exact && mpz_cmp_ui(mpq_denref(a->q), 1) == 0; }

/* The index of the sums and products being evaluated, innermost last:
 * a symbol of that name takes the index's value instead of a random one. */
enum { MAX_BOUND = 4, MAX_TERMS = 10000 };
static _Thread_local struct {
    const char *name;
    mpz_t k;
} bound[MAX_BOUND];
static _Thread_local int nbound;
static _Thread_local long terms_left = RW_MAX_TERMS;

void rw_eval_budget(long terms) { terms_left = terms; }

/* Takes n terms from the comparison's budget: false when it has run out. */
static bool spend_terms(unsigned long n) {
    if (terms_left < (long)n) return terms_left = 0, false;
    terms_left -= (long)n;
    return true;
}

static bool bound_value(const char *name, rw_num *v) {
    for (int j = nbound; j-- > 0;)
        if (strcmp(bound[j].name, name) == 0) {
            mpq_set_z(v->q, bound[j].k);
            set_exact(v);
            return true;
        }
    return false;
}

/* The index "k = 1" of a sum or product: its name, or NULL. An index i
 * is the letter, not the imaginary unit the parser reads elsewhere. */
static const char *index_name(const node *lo) {
    if (!lo || lo->kind != N_REL || lo->n != 2 || lo->rel[0] != R_EQ) return NULL;
    const node *k = lo->kid[0];
    if (k->kind == N_CONST && k->fn == C_I) return "i";
    return k->kind == N_SYM ? k->name : NULL;
}

/* \sum_{k=a}^{b} and \prod_{k=a}^{b} with integer bounds, term by term,
 * as SymPy's doit() on latex2sympy's Sum and Product finds them (exactly
 * while the terms are exact); at most MAX_TERMS terms. An empty range
 * (b = a - 1) is 0 or 1; a reversed one is left undefined (SymPy's Karr
 * convention). */
static void eval_bigop(const node *x, int trial, rw_num *v) {
    bool sum = strcmp(x->name, "sum") == 0;
    if ((!sum && strcmp(x->name, "prod") != 0) || x->n != 3 || nbound == MAX_BOUND) return;
    const char *k = index_name(x->kid[1]);
    if (!k) return;
    rw_num a, b, t;
    rw_num_init(&a);
    rw_num_init(&b);
    rw_num_init(&t);
    eval_node(x->kid[1]->kid[1], trial, &a);
    eval_node(x->kid[2], trial, &b);
    mpz_t n;
    mpz_init(n);
    bool ok = exact_int(&a) && exact_int(&b);
    if (ok) {
        mpz_sub(n, mpq_numref(b.q), mpq_numref(a.q));
        mpz_add_ui(n, n, 1);
        ok = mpz_sgn(n) >= 0 && mpz_cmp_ui(n, MAX_TERMS) <= 0 && spend_terms(mpz_get_ui(n));
    }
    if (ok) {
        mpq_set_ui(v->q, sum ? 0 : 1, 1);
        set_exact(v);
        int j = nbound++;
        bound[j].name = k;
        mpz_init_set(bound[j].k, mpq_numref(a.q));
        for (unsigned long i = mpz_get_ui(n); i-- > 0 && v->ok; mpz_add_ui(bound[j].k, bound[j].k, 1)) {
            eval_node(x->kid[0], trial, &t);
            if (!t.ok) v->ok = false;
            else if (sum) c_add(v, v, &t, false);
            else c_mul(v, v, &t);
        }
        mpz_clear(bound[j].k);
        nbound--;
    }
    mpz_clear(n);
    rw_num_clear(&a);
    rw_num_clear(&b);
    rw_num_clear(&t);
}

static void eval_node(const node *x, int trial, rw_num *v) {
    v->ok = false;
    v->exact = false;
    if (!x) return;
    switch (x->kind) {
    case N_NUM:
        eval_num(x, v);
        return;
    case N_SYM:
        if (!bound_value(x->name, v)) random_value(v, hash_name(x->name, 0x5eed), trial);
        return;
    case N_OPAQUE:
        eval_bigop(x, trial, v);
        return;
    case N_CONST:
        switch (x->fn) {
        case C_PI: mpfr_const_pi(v->re, MPFR_RNDN); set_real(v); return;
        case C_E: mpfr_set_ui(v->re, 1, MPFR_RNDN); mpfr_exp(v->re, v->re, MPFR_RNDN); set_real(v); return;
        case C_INF: mpfr_set_inf(v->re, 1); set_real(v); return;
        case C_I:
            if (bound_value("i", v)) return;
            mpfr_set_zero(v->re, 1);
            mpfr_set_ui(v->im, 1, MPFR_RNDN);
            v->ok = true;
            return;
        default: return;
        }
    case N_NEG:
        eval_node(x->kid[0], trial, v);
        if (!v->ok) return;
        mpq_neg(v->q, v->q);
        mpfr_neg(v->re, v->re, MPFR_RNDN);
        mpfr_neg(v->im, v->im, MPFR_RNDN);
        return;
    case N_ADD:
    case N_MUL: {
        rw_num t;
        rw_num_init(&t);
        eval_node(x->kid[0], trial, v);
        for (int k = 1; k < x->n && v->ok; k++) {
            eval_node(x->kid[k], trial, &t);
            if (!t.ok) {
                v->ok = false;
                break;
            }
            if (x->kind == N_ADD) c_add(v, v, &t, false);
            else c_mul(v, v, &t);
        }
        rw_num_clear(&t);
        return;
    }
    case N_DIV:
    case N_POW: {
        rw_num a, b;
        rw_num_init(&a);
        rw_num_init(&b);
        eval_node(x->kid[0], trial, &a);
        if (a.ok) eval_node(x->kid[1], trial, &b);
        if (a.ok && b.ok) {
            if (x->kind == N_DIV) c_div(v, &a, &b);
            else c_pow(v, &a, &b);
        }
        rw_num_clear(&a);
        rw_num_clear(&b);
        return;
    }
    case N_FUNC: {
        if (x->fn == F_DET) {
            eval_det(x->kid[0], trial, v);
            return;
        }
        rw_num a, b;
        rw_num_init(&a);
        rw_num_init(&b);
        eval_func(x, trial, v, &a, &b);
        rw_num_clear(&a);
        rw_num_clear(&b);
        return;
    }
    case N_UFUNC: {
        /* an unknown function: a pseudo-random function of its arguments */
        uint64_t h = hash_name(x->name, 0xf00d);
        rw_num a;
        rw_num_init(&a);
        bool ok = true;
        for (int k = 0; k < x->n && ok; k++) {
            eval_node(x->kid[k], trial, &a);
            ok = a.ok;
            double re = mpfr_get_d(a.re, MPFR_RNDN), im = mpfr_get_d(a.im, MPFR_RNDN);
            uint64_t bits[2];
            re = (double)(float)re; /* equal arguments hash alike despite rounding */
            im = (double)(float)im;
            memcpy(&bits[0], &re, 8);
            memcpy(&bits[1], &im, 8);
            h = mix(h ^ bits[0]) ^ mix(bits[1]);
        }
        rw_num_clear(&a);
        if (ok) random_value(v, h, trial);
        return;
    }
    default:
        return; /* sets, relations, matrices, opaque: not scalars */
    }
}


static void real_fn(int fn, rw_num *v, const rw_num *a) {
    static int (*const fns[])(mpfr_ptr, mpfr_srcptr, mpfr_rnd_t) = {
        [F_SIN] = mpfr_sin, [F_COS] = mpfr_cos, [F_TAN] = mpfr_tan, [F_COT] = mpfr_cot,
        [F_SEC] = mpfr_sec, [F_CSC] = mpfr_csc, [F_ASIN] = mpfr_asin, [F_ACOS] = mpfr_acos,
        [F_ATAN] = mpfr_atan, [F_SINH] = mpfr_sinh, [F_COSH] = mpfr_cosh, [F_TANH] = mpfr_tanh,
        [F_COTH] = mpfr_coth, [F_SECH] = mpfr_sech, [F_CSCH] = mpfr_csch, [F_ASINH] = mpfr_asinh,
        [F_ACOSH] = mpfr_acosh, [F_ATANH] = mpfr_atanh, [F_LN] = mpfr_log,
    };
    if (!is_real(a)) return;
    if (fn >= F_SIN && fn <= F_CSC && !periodic_arg(a->re)) return;
    if (fn == F_ACOT || fn == F_ASEC || fn == F_ACSC) {
        /* acot x = atan(1/x), asec x = acos(1/x), acsc x = asin(1/x) */
        mpfr_ui_div(v->re, 1, a->re, MPFR_RNDN);
        (fn == F_ACOT ? mpfr_atan : fn == F_ASEC ? mpfr_acos : mpfr_asin)(v->re, v->re, MPFR_RNDN);
    } else {
        fns[fn](v->re, a->re, MPFR_RNDN);
        if (fn == F_SIN || fn == F_COS || fn == F_TAN || fn == F_COT) snap_zero(v->re, a->re);
    }
    set_real(v);
    check(v, false);
}

/* sqrt a, and the b-th root of a: powers 1/2 and 1/b. */
static void eval_root(int fn, rw_num *v, const rw_num *a, const rw_num *b) {
    rw_num e;
    rw_num_init(&e);
    mpq_set_ui(e.q, 1, fn == F_SQRT ? 2 : 1);
    set_exact(&e);
    if (fn == F_ROOT) c_div(&e, &e, b);
    if (e.ok) c_pow(v, a, &e);
    rw_num_clear(&e);
}

/* ln a, and log of a to base b (base 10 was put in b by the parser). */
static void eval_log(int fn, rw_num *v, const rw_num *a, rw_num *b) {
    if (!is_real(a) || mpfr_sgn(a->re) <= 0) return;
    if (a->exact && mpq_cmp_ui(a->q, 1, 1) == 0) {
        mpq_set_ui(v->q, 0, 1);
        set_exact(v);
        return;
    }
    real_fn(F_LN, v, a);
    if (fn != F_LOG || !v->ok) return;
    if (!is_real(b) || mpfr_sgn(b->re) <= 0) {
        v->ok = false;
        return;
    }
    mpfr_log(b->re, b->re, MPFR_RNDN);
    if (mpfr_zero_p(b->re)) {
        v->ok = false;
        return;
    }
    mpfr_div(v->re, v->re, b->re, MPFR_RNDN);
}

/* |a|, floor and ceiling: exact on rationals. */
static void eval_rounding(int fn, rw_num *v, const rw_num *a) {
    if (fn == F_ABS) {
        if (a->exact) {
            mpq_abs(v->q, a->q);
            set_exact(v);
            return;
        }
        mpfr_hypot(v->re, a->re, a->im, MPFR_RNDN);
        set_real(v);
        return;
    }
    if (a->exact) {
        (fn == F_FLOOR ? mpz_fdiv_q : mpz_cdiv_q)(mpq_numref(v->q), mpq_numref(a->q), mpq_denref(a->q));
        mpz_set_ui(mpq_denref(v->q), 1);
        set_exact(v);
        return;
    }
    if (!is_real(a)) return;
    (fn == F_FLOOR ? mpfr_floor : mpfr_ceil)(v->re, a->re);
    set_real(v);
}

/* a!: exact to 5000!, else the gamma function (a real, not a negative integer). */
static void eval_factorial(rw_num *v, const rw_num *a) {
    if (exact_int(a) && mpq_sgn(a->q) >= 0 && mpz_cmp_ui(mpq_numref(a->q), 5000) <= 0) {
        mpz_fac_ui(mpq_numref(v->q), mpz_get_ui(mpq_numref(a->q)));
        mpz_set_ui(mpq_denref(v->q), 1);
        set_exact(v);
        return;
    }
    if (!is_real(a) || mpfr_cmp_ui(a->re, 1000000) > 0 || (mpfr_integer_p(a->re) && mpfr_sgn(a->re) < 0)) return;
    mpfr_add_ui(v->re, a->re, 1, MPFR_RNDN);
    mpfr_gamma(v->re, v->re, MPFR_RNDN);
    set_real(v);
    check(v, false);
}

/* binom(a, b): of naturals to 10^5 by GMP; for a natural b up to 1000 and
 * any a, the falling factorial a (a-1) ... (a-b+1) / b!, the polynomial
 * SymPy's simplify makes of \binom{n}{2}; for other reals
 * Gamma(a+1) / (Gamma(b+1) Gamma(a-b+1)), as of \binom{2n}{n}. */
static void eval_binomial(rw_num *v, const rw_num *a, const rw_num *b) {
    if (exact_int(a) && exact_int(b) && mpz_cmp_ui(mpq_numref(a->q), 100000) <= 0 && mpz_sgn(mpq_numref(a->q)) >= 0 &&
        mpz_sgn(mpq_numref(b->q)) >= 0 && mpz_cmp_ui(mpq_numref(b->q), 100000) <= 0) {
        mpz_bin_uiui(mpq_numref(v->q), mpz_get_ui(mpq_numref(a->q)), mpz_get_ui(mpq_numref(b->q)));
        mpz_set_ui(mpq_denref(v->q), 1);
        set_exact(v);
        return;
    }
    if (exact_int(b) && mpz_sgn(mpq_numref(b->q)) >= 0 && mpz_cmp_ui(mpq_numref(b->q), 1000) <= 0) {
        unsigned long k = mpz_get_ui(mpq_numref(b->q));
        rw_num t, j;
        rw_num_init(&t);
        rw_num_init(&j);
        mpq_set_ui(v->q, 1, 1);
        set_exact(v);
        for (unsigned long i = 0; i < k && v->ok; i++) {
            mpq_set_ui(j.q, i, 1);
            set_exact(&j);
            c_add(&t, a, &j, true);
            c_mul(v, v, &t);
            mpq_set_ui(j.q, i + 1, 1);
            set_exact(&j);
            c_div(v, v, &j);
        }
        rw_num_clear(&t);
        rw_num_clear(&j);
        return;
    }
    if (!is_real(a) || !is_real(b)) return;
    mpfr_t x, y, z;
    mpfr_inits2(RW_PREC, x, y, z, (mpfr_ptr)0);
    mpfr_add_ui(x, a->re, 1, MPFR_RNDN);
    mpfr_add_ui(y, b->re, 1, MPFR_RNDN);
    mpfr_sub(z, x, b->re, MPFR_RNDN);
    bool pole = (mpfr_integer_p(x) && mpfr_sgn(x) <= 0) || (mpfr_integer_p(y) && mpfr_sgn(y) <= 0) ||
                (mpfr_integer_p(z) && mpfr_sgn(z) <= 0);
    if (!pole) {
        mpfr_gamma(x, x, MPFR_RNDN);
        mpfr_gamma(y, y, MPFR_RNDN);
        mpfr_gamma(z, z, MPFR_RNDN);
        mpfr_mul(y, y, z, MPFR_RNDN);
        mpfr_div(v->re, x, y, MPFR_RNDN);
        set_real(v);
        check(v, false);
    }
    mpfr_clears(x, y, z, (mpfr_ptr)0);
}

/* gcd and lcm of rationals, as SymPy: gcd(a/b, c/d) = gcd(a, c) / lcm(b, d)
 * and lcm(a/b, c/d) = lcm(a, c) / gcd(b, d) (gcd(2.4, 3.6) = 6/5);
 * symbolic arguments were rewritten after parsing (gcd.c). */
static void eval_gcd_lcm(const node *x, int trial, rw_num *v, const rw_num *a, rw_num *b) {
    int fn = x->fn;
    if (!a->ok || !a->exact) return;
    mpq_abs(v->q, a->q);
    for (int k = 1; k < x->n; k++) {
        eval_node(x->kid[k], trial, b);
        if (!b->ok || !b->exact) return;
        (fn == F_GCD ? mpz_gcd : mpz_lcm)(mpq_numref(v->q), mpq_numref(v->q), mpq_numref(b->q));
        (fn == F_GCD ? mpz_lcm : mpz_gcd)(mpq_denref(v->q), mpq_denref(v->q), mpq_denref(b->q));
        mpq_canonicalize(v->q);
    }
    set_exact(v);
    check(v, false);
}

/* max and min of real arguments, keeping the chosen one's exactness. */
static void eval_extremum(const node *x, int trial, rw_num *v, const rw_num *a, rw_num *b) {
    int fn = x->fn;
    if (!is_real(a)) return;
    mpq_set(v->q, a->q);
    mpfr_set(v->re, a->re, MPFR_RNDN);
    v->exact = a->exact;
    for (int k = 1; k < x->n; k++) {
        eval_node(x->kid[k], trial, b);
        if (!b->ok || !is_real(b)) return;
        int c = mpfr_cmp(b->re, v->re);
        if ((fn == F_MAX && c > 0) || (fn == F_MIN && c < 0)) {
            mpq_set(v->q, b->q);
            mpfr_set(v->re, b->re, MPFR_RNDN);
            v->exact = b->exact;
        }
    }
    v->ok = true;
    mpfr_set_zero(v->im, 1);
}

/* a mod b = a - b*floor(a/b): the sign follows the divisor. */
static void eval_mod(rw_num *v, const rw_num *a, const rw_num *b) {
    if (a->exact && b->exact) {
        if (mpq_sgn(b->q) == 0) return;
        mpq_t t;
        mpq_init(t);
        mpq_div(t, a->q, b->q);
        mpz_fdiv_q(mpq_numref(t), mpq_numref(t), mpq_denref(t));
        mpz_set_ui(mpq_denref(t), 1);
        mpq_mul(t, t, b->q);
        mpq_sub(v->q, a->q, t);
        mpq_clear(t);
        set_exact(v);
        return;
    }
    if (!is_real(a) || !is_real(b) || mpfr_zero_p(b->re)) return;
    mpfr_div(v->re, a->re, b->re, MPFR_RNDN);
    mpfr_floor(v->re, v->re);
    mpfr_mul(v->re, v->re, b->re, MPFR_RNDN);
    mpfr_sub(v->re, a->re, v->re, MPFR_RNDN);
    set_real(v);
    check(v, false);
}

/* A known function: its first argument in a, a fixed second one in b
 * (variadic gcd/lcm/max/min read the rest themselves). */
static void eval_func(const node *x, int trial, rw_num *v, rw_num *a, rw_num *b) {
    int fn = x->fn;
    if (x->n < 1) return;
    eval_node(x->kid[0], trial, a);
    if (!a->ok) return;
    if (x->n >= 2 && fn != F_GCD && fn != F_LCM && fn != F_MAX && fn != F_MIN) {
        eval_node(x->kid[1], trial, b);
        if (!b->ok) return;
    }
    switch (fn) {
    case F_SQRT: case F_ROOT: eval_root(fn, v, a, b); return;
    case F_LOG: case F_LN: eval_log(fn, v, a, b); return;
    case F_ABS: case F_FLOOR: case F_CEIL: eval_rounding(fn, v, a); return;
    case F_FACT: eval_factorial(v, a); return;
    case F_BINOM: eval_binomial(v, a, b); return;
    case F_GCD: case F_LCM: eval_gcd_lcm(x, trial, v, a, b); return;
    case F_MAX: case F_MIN: eval_extremum(x, trial, v, a, b); return;
    case F_MOD: eval_mod(v, a, b); return;
    case F_PM: return;
    default:
        if (fn <= F_ATANH) real_fn(fn, v, a);
        return;
    }
}

/* The determinant of an entry list (n x n, row-major, n <= MAX_DET) by
 * expansion along the first row: exact while the entries are. */
enum { MAX_DET = 6 };

static void det_of(rw_num *e, int n, rw_num *v) {
    if (n == 1) {
        mpq_set(v->q, e[0].q);
        mpfr_set(v->re, e[0].re, MPFR_RNDN);
        mpfr_set(v->im, e[0].im, MPFR_RNDN);
        v->ok = e[0].ok;
        v->exact = e[0].exact;
        return;
    }
    rw_num minor[(MAX_DET - 1) * (MAX_DET - 1)], d, t;
    int m = (n - 1) * (n - 1);
    for (int j = 0; j < m; j++) rw_num_init(&minor[j]);
    rw_num_init(&d);
    rw_num_init(&t);
    mpq_set_ui(v->q, 0, 1);
    set_exact(v);
    for (int c = 0; c < n && v->ok; c++) {
        int k = 0;
        for (int r = 1; r < n; r++)
            for (int cc = 0; cc < n; cc++)
                if (cc != c) {
                    rw_num *src = &e[r * n + cc];
                    mpq_set(minor[k].q, src->q);
                    mpfr_set(minor[k].re, src->re, MPFR_RNDN);
                    mpfr_set(minor[k].im, src->im, MPFR_RNDN);
                    minor[k].ok = src->ok;
                    minor[k++].exact = src->exact;
                }
        det_of(minor, n - 1, &d);
        if (!d.ok) {
            v->ok = false;
            break;
        }
        c_mul(&t, &e[c], &d);
        c_add(v, v, &t, c % 2 == 1);
    }
    for (int j = 0; j < m; j++) rw_num_clear(&minor[j]);
    rw_num_clear(&d);
    rw_num_clear(&t);
}

static void eval_det(const node *m, int trial, rw_num *v) {
    v->ok = false;
    if (!m || m->kind != N_MATRIX || m->rows != m->cols || m->rows < 1 || m->rows > MAX_DET) return;
    int n = m->rows;
    unsigned long perms = 1;
    for (int k = 2; k <= n; k++) perms *= (unsigned long)k;
    if (!spend_terms(perms)) return;
    rw_num e[MAX_DET * MAX_DET];
    bool ok = true;
    for (int j = 0; j < n * n; j++) {
        rw_num_init(&e[j]);
        if (ok) eval_node(m->kid[j], trial, &e[j]);
        ok = ok && e[j].ok;
    }
    if (ok) det_of(e, n, v);
    for (int j = 0; j < n * n; j++) rw_num_clear(&e[j]);
}

/* A value whose computation underflowed anywhere (x^{10^9} at x = 0.04,
 * e^{-10^{10}}) lies below MPFR's exponent range, as an overflow lies
 * above it: it is undefined there, not the 0 MPFR rounds it to, or
 * x^{10^9} would equal 2x^{10^9} wherever both are that small. */
void rw_eval(const node *x, int trial, rw_num *v) {
    mpfr_clear_underflow();
    eval_node(x, trial, v);
    if (mpfr_underflow_p()) v->ok = false;
}

/* Free variables of x: not the indices of the sums and products around. */
typedef struct names {
    const char *name;
    const struct names *up;
} names;

static bool is_bound(const names *b, const char *name) {
    for (; b; b = b->up)
        if (strcmp(b->name, name) == 0) return true;
    return false;
}

static bool has_vars_but(const node *x, const names *b) {
    if (!x) return false;
    if (x->kind == N_SYM) return !is_bound(b, x->name);
    if (x->kind == N_UFUNC) return true;
    if (x->kind == N_OPAQUE) {
        const char *k = x->n == 3 && (strcmp(x->name, "sum") == 0 || strcmp(x->name, "prod") == 0)
                            ? index_name(x->kid[1])
                            : NULL;
        if (!k) return true; /* integrals, limits: not evaluated */
        names in = {k, b};
        return has_vars_but(x->kid[0], &in) || has_vars_but(x->kid[1]->kid[1], b) || has_vars_but(x->kid[2], b);
    }
    for (int j = 0; j < x->n; j++)
        if (has_vars_but(x->kid[j], b)) return true;
    return false;
}

bool rw_has_vars(const node *x) { return has_vars_but(x, NULL); }
