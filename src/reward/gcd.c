/* gcd and lcm of symbolic arguments, rewritten after parsing into the
 * product SymPy's polynomial gcd/lcm gives (latex2sympy evaluates them):
 * gcd(125, 50x) = 25, lcm(x, y) = xy, lcm(y, -x) = -xy, gcd(x + 76, 4\sqrt{x})
 * = 1, lcm(\sqrt{5}, \sqrt{2}) = \sqrt{10}, gcd(\pi, 3) = 1.
 *
 * Each argument is read as a monomial: a rational coefficient times powers
 * of bases, a base being a symbol or any factor that is not a product, a
 * quotient, a power with an integer exponent or a rational constant (x + 76
 * and \sqrt{5} are bases). gcd takes the gcd of the coefficients and each
 * common base to its least power; lcm the lcm and every base to its largest
 * power. A decimal in an argument makes SymPy's domain a field, where the
 * result is monic: coefficient 1. Numeric arguments are left to eval.c. */
#include "reward/gcd.h"

#include <gmp.h>
#include <stdlib.h>
#include <string.h>

#include "reward/eval.h"

enum { MAX_BASES = 16, MAX_POWER = 64, MAX_EXPONENT = 1 << 20 };

typedef struct {
    mpq_t c;
    bool floaty;
    int n;
    const node *base[MAX_BASES];
    long e[MAX_BASES];
} mono;

static bool has_float(const node *x) {
    if (x->kind == N_NUM && x->floaty) return true;
    for (int k = 0; k < x->n; k++)
        if (x->kid[k] && has_float(x->kid[k])) return true;
    return false;
}

static bool same_tree(const node *x, const node *y) {
    static _Thread_local char bx[2048], by[2048];
    return rw_print(x, bx, sizeof bx) && rw_print(y, by, sizeof by) && strcmp(bx, by) == 0;
}

static bool add_base(mono *m, const node *b, long e) {
    for (int k = 0; k < m->n; k++)
        if (same_tree(m->base[k], b)) {
            m->e[k] += e;
            return labs(m->e[k]) <= MAX_EXPONENT;
        }
    if (m->n == MAX_BASES) return false;
    m->base[m->n] = b;
    m->e[m->n++] = e;
    return true;
}

/* A small integer exponent, exactly: "x^2", "x^{-1}". */
static bool small_power(const node *x, long *e) {
    rw_num v;
    rw_num_init(&v);
    rw_eval(x, 0, &v);
    bool ok = !rw_has_vars(x) && v.ok && v.exact && mpz_cmp_ui(mpq_denref(v.q), 1) == 0 &&
              mpz_cmpabs_ui(mpq_numref(v.q), MAX_POWER) <= 0;
    if (ok) *e = mpz_get_si(mpq_numref(v.q));
    rw_num_clear(&v);
    return ok;
}

/* m *= x^sign (sign +1 or -1). Depth is bounded by the parser's. */
static bool decompose(const node *x, int sign, mono *m) {
    if (has_float(x)) m->floaty = true;
    if (!rw_has_vars(x)) {
        rw_num v;
        rw_num_init(&v);
        rw_eval(x, 0, &v);
        bool exact = v.ok && v.exact && mpq_sgn(v.q) != 0;
        if (exact) {
            if (sign > 0) mpq_mul(m->c, m->c, v.q);
            else mpq_div(m->c, m->c, v.q);
        }
        rw_num_clear(&v);
        if (exact) return mpz_sizeinbase(mpq_numref(m->c), 2) < 4096 && mpz_sizeinbase(mpq_denref(m->c), 2) < 4096;
    }
    long e;
    switch (x->kind) {
    case N_NEG:
        mpq_neg(m->c, m->c);
        return decompose(x->kid[0], sign, m);
    case N_MUL:
        for (int k = 0; k < x->n; k++)
            if (!decompose(x->kid[k], sign, m)) return false;
        return true;
    case N_DIV:
        return !x->percent && decompose(x->kid[0], sign, m) && decompose(x->kid[1], -sign, m);
    case N_POW:
        if (small_power(x->kid[1], &e) && e != 0) {
            mono b = {.n = 0};
            mpq_init(b.c);
            mpq_set_ui(b.c, 1, 1);
            bool ok = decompose(x->kid[0], 1, &b);
            if (ok) {
                unsigned long ue = (unsigned long)labs(e);
                mpz_pow_ui(mpq_numref(b.c), mpq_numref(b.c), ue);
                mpz_pow_ui(mpq_denref(b.c), mpq_denref(b.c), ue);
                ok = mpz_sizeinbase(mpq_numref(b.c), 2) < 4096 && mpz_sizeinbase(mpq_denref(b.c), 2) < 4096;
                if (ok && (e < 0) != (sign < 0)) mpq_inv(b.c, b.c);
                if (ok) mpq_mul(m->c, m->c, b.c);
                m->floaty |= b.floaty;
                /* powers of powers stay small: no overflow of the exponents */
                for (int k = 0; k < b.n && ok; k++)
                    ok = labs(b.e[k]) <= MAX_EXPONENT / MAX_POWER && add_base(m, b.base[k], b.e[k] * e * sign);
            }
            mpq_clear(b.c);
            return ok;
        }
        return add_base(m, x, sign);
    default:
        return add_base(m, x, sign);
    }
}

static node *num_node(rw_arena *a, const mpz_t z) {
    size_t len = mpz_sizeinbase(z, 10) + 2;
    char *d = rw_alloc(a, len);
    node *x = d ? rw_node(a, N_NUM, 0) : NULL;
    if (!x) return NULL;
    mpz_get_str(d, 10, z);
    if (d[0] == '-') return NULL; /* callers pass magnitudes */
    x->name = d;
    return x;
}

/* c * b0^e0 * b1^e1 ... as a tree. */
static node *build(rw_arena *a, const mpq_t c, const mono *m, const long *e) {
    mpz_t z;
    mpz_init(z);
    mpz_abs(z, mpq_numref(c));
    node *r = num_node(a, z);
    if (r && mpz_cmp_ui(mpq_denref(c), 1) != 0) r = rw_node2(a, N_DIV, r, num_node(a, mpq_denref(c)));
    mpz_clear(z);
    for (int k = 0; k < m->n && r; k++) {
        if (e[k] == 0) continue;
        node *f = (node *)m->base[k];
        if (e[k] != 1) f = rw_node2(a, N_POW, f, rw_num_int(a, e[k]));
        r = rw_node2(a, N_MUL, r, f);
    }
    if (r && mpq_sgn(c) < 0) {
        node *neg = rw_node(a, N_NEG, 1);
        if (neg) neg->kid[0] = r;
        r = neg;
    }
    return r;
}

/* gcd/lcm of x's arguments as a tree, or NULL to leave x as it is. */
static node *combine(rw_arena *a, const node *x) {
    bool gcd = x->fn == F_GCD;
    int n = x->n;
    if (n < 1 || n > 8) return NULL;
    bool vars = false;
    for (int k = 0; k < n; k++) vars |= rw_has_vars(x->kid[k]);
    rw_num v;
    rw_num_init(&v);
    rw_eval(x, 0, &v);
    bool numeric = v.ok;
    rw_num_clear(&v);
    if (numeric) return NULL; /* rational arguments: eval.c computes it */
    mono m[8];
    bool ok = true, floaty = false;
    int made = 0;
    for (int k = 0; k < n && ok; k++, made++) {
        m[k] = (mono){.n = 0};
        mpq_init(m[k].c);
        mpq_set_ui(m[k].c, 1, 1);
        ok = decompose(x->kid[k], 1, &m[k]);
        floaty |= m[k].floaty;
    }
    node *r = NULL;
    if (ok) {
        /* the bases of all arguments, the first occurrence of each */
        mono all = {.n = 0};
        long e[MAX_BASES * 8];
        for (int k = 0; k < n && ok; k++)
            for (int j = 0; j < m[k].n && ok; j++) ok = add_base(&all, m[k].base[j], 0);
        for (int j = 0; ok && j < all.n; j++) {
            for (int k = 0; k < n; k++) {
                long ek = 0;
                for (int q = 0; q < m[k].n; q++)
                    if (same_tree(m[k].base[q], all.base[j])) ek = m[k].e[q];
                if (k == 0 || (gcd ? ek < e[j] : ek > e[j])) e[j] = ek;
            }
        }
        mpq_t c;
        mpq_init(c);
        mpq_set(c, m[0].c);
        int sign = mpq_sgn(m[0].c);
        mpq_abs(c, c);
        for (int k = 1; k < n; k++) {
            sign *= mpq_sgn(m[k].c);
            (gcd ? mpz_gcd : mpz_lcm)(mpq_numref(c), mpq_numref(c), mpq_numref(m[k].c));
            (gcd ? mpz_lcm : mpz_gcd)(mpq_denref(c), mpq_denref(c), mpq_denref(m[k].c));
            mpq_canonicalize(c);
        }
        if (floaty) mpq_set_ui(c, 1, 1);
        if (!gcd && vars && sign < 0) mpq_neg(c, c); /* lcm(y, -x) = -xy in SymPy */
        if (ok && mpq_sgn(c) != 0) r = build(a, c, &all, e);
        mpq_clear(c);
    }
    for (int k = 0; k < made; k++) mpq_clear(m[k].c);
    return r;
}

node *rw_gcd_rewrite(rw_arena *a, node *x) {
    if (!x || x->n == 0) return x;
    node *copy = NULL;
    for (int k = 0; k < x->n; k++) {
        node *y = rw_gcd_rewrite(a, x->kid[k]);
        if (y != x->kid[k]) {
            if (!copy) {
                copy = rw_node(a, x->kind, x->n);
                if (!copy) return x;
                node **kids = copy->kid;
                *copy = *x;
                copy->kid = kids;
                memcpy(kids, x->kid, sizeof(node *) * (size_t)x->n);
            }
            copy->kid[k] = y;
        }
    }
    if (copy) x = copy;
    if (x->kind == N_FUNC && (x->fn == F_GCD || x->fn == F_LCM)) {
        node *r = combine(a, x);
        if (r) return r;
    }
    return x;
}
