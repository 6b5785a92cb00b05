/* A recursive-descent parser over the lexer's tokens. Precedence, loosest
 * first: ';' lists, ',' lists, relations, set operations, + - \pm, * / \mod
 * and implicit products, unary signs, postfix (^ _ ! %), primaries.
 * Recursion is counted and capped (RW_MAX_DEPTH), so "((((...))))" 10^5 deep
 * fails cleanly instead of overflowing the stack. */
#include "reward/parse.h"

#include <ctype.h>
#include <gmp.h>
#include <stdio.h>
#include <string.h>

#include "reward/gcd.h"
#include "reward/parser.h"
#include "reward/textsearch.h"

bool rwp_push(parser *P, nlist *l, node *x) {
    if (!x) return false;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        if (cap > RW_MAX_NODES) return fail(P, "list too long"), false;
        node **v = rw_alloc(P->a, sizeof(node *) * (size_t)cap);
        if (!v) return fail(P, "too large"), false;
        if (l->n) memcpy(v, l->v, sizeof(node *) * (size_t)l->n);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

node *rwp_from_list(parser *P, node_kind k, nlist *l) {
    node *x = rw_node(P->a, k, l->n);
    if (!x) return fail(P, "too large");
    memcpy(x->kid, l->v, sizeof(node *) * (size_t)l->n);
    return x;
}

static node *parse_unary(parser *P);

node *rwp_fn(parser *P, int fn, node *x, node *y) {
    node *r = y ? mk2(P, N_FUNC, x, y) : mk1(P, N_FUNC, x);
    if (r) r->fn = fn;
    return r;
}

/* Flattens nested sums and products as they are built. */
node *rwp_join(parser *P, node_kind k, node *x, node *y) {
    if (!x || !y) return NULL;
    int nx = x->kind == k && !x->percent ? x->n : 1;
    int ny = y->kind == k && !y->percent ? y->n : 1;
    node *r = rw_node(P->a, k, nx + ny);
    if (!r) return fail(P, "too large");
    if (nx > 1 || (x->kind == k && !x->percent)) memcpy(r->kid, x->kid, sizeof(node *) * (size_t)nx);
    else r->kid[0] = x;
    if (ny > 1 || (y->kind == k && !y->percent)) memcpy(r->kid + nx, y->kid, sizeof(node *) * (size_t)ny);
    else r->kid[nx] = y;
    return r;
}

/* Elements separated by ',' or "and"/"or" (and ';' inside brackets) up to a
 * token that cannot continue the list. Math-Verify's normalization makes
 * each "and"/"or" (with a comma before it) one comma, and latex2sympy has
 * no empty element: "1,,2", "1, 2," and "1, 2, \ldots, 9" fail. */
bool rwp_elems(parser *P, nlist *out, bool semicolons) {
    for (;;) {
        if (!rwp_push(P, out, rwp_list_elem(P))) return false;
        int k = tk(P);
        if (k == ',' && P->t[P->i + 1].k == TK_SEP) P->i++;
        else if (k == ';' && semicolons) {
            while (tk(P) == ';') P->i++;
            k = tk(P);
            if (k == TK_END || k == ')' || k == ']' || k == '}' || k == TK_RSET) return true;
            continue;
        } else if (k != ',' && k != TK_SEP) {
            return true;
        }
        P->i++;
        k = tk(P);
        if (k == TK_END || k == ')' || k == ']' || k == '}' || k == TK_RSET || k == ';' || k == ',' || k == TK_SEP)
            return fail(P, "empty list element"), false;
    }
}

/* A token that begins an operand other than a bar. */
static bool starts_operand(int k) {
    switch (k) {
    case TK_NUM: case TK_ID: case TK_TEXT: case TK_FN: case TK_CONST: case '(': case '[': case '{':
    case TK_LSET: case TK_FRAC: case TK_BINOM: case TK_SQRT: case TK_OPAQUE: case TK_LFLOOR:
    case TK_LCEIL: case TK_BEGIN:
        return true;
    default:
        return false;
    }
}

bool rwp_starts_primary(parser *P) {
    /* inside |...| a bar closes, unless a retry lets one open a factor
     * (see rw_parse) */
    if (tk(P) == '|') return P->abs_depth == 0 || (P->bars_nest && starts_operand(P->t[P->i + 1].k));
    return starts_operand(tk(P));
}

/* A subscript as text, for symbol names: "x_1" and "x_{1}" name the same. */
static const char *sub_text(parser *P) {
    char buf[128];
    size_t m = 0;
    int start = P->i, end;
    if (tk(P) == '{') {
        int d = 0;
        end = start;
        for (;;) {
            int k = P->t[end].k;
            if (k == TK_END) return fail(P, "unbalanced subscript"), NULL;
            if (k == '{') d++;
            if (k == '}' && --d == 0) break;
            end++;
        }
        start++;
        P->i = end + 1;
    } else {
        token *t = peek(P);
        if (t->k == TK_END || t->k == '}' || t->k == ')' || t->k == ',') return fail(P, "empty subscript"), NULL;
        if (t->k == TK_NUM && t->len > 1) {
            buf[0] = t->s[0];
            t->s++;
            t->len--;
            buf[1] = 0;
            return rw_strndup(P->a, buf, 1);
        }
        end = start + 1;
        P->i = end;
    }
    if (end == start) return fail(P, "empty subscript"), NULL;
    for (int j = start; j < end; j++) {
        token *t = &P->t[j];
        size_t l = (size_t)t->len;
        if (m + l + 1 >= sizeof buf) return fail(P, "subscript too long"), NULL;
        memcpy(buf + m, t->s, l);
        m += l;
    }
    return rw_strndup(P->a, buf, m);
}

static node *rename_sub(parser *P, node *b) {
    const char *sub = sub_text(P);
    if (!sub || !b) return NULL;
    if (b->kind != N_SYM && b->kind != N_NUM && !(b->kind == N_CONST && (b->fn == C_E || b->fn == C_I)))
        return fail(P, "subscript on an expression");
    const char *base = b->kind == N_CONST ? (b->fn == C_E ? "e" : "i") : b->name;
    size_t lb = strlen(base), ls = strlen(sub);
    char *nm = rw_alloc(P->a, lb + ls + 2);
    if (!nm) return fail(P, "too large");
    memcpy(nm, base, lb);
    nm[lb] = '_';
    memcpy(nm + lb + 1, sub, ls + 1);
    rwp_fold_case(nm);
    node *r = rw_node(P->a, N_SYM, 0);
    if (!r) return fail(P, "too large");
    r->name = nm;
    return r;
}

/* "3^+", "3^{-}" closing a limit's subscript: the side it is approached
 * from. The token array ends with TK_END, so the look-ahead stops there. */
static bool limit_side(parser *P) {
    int j = P->i + 1;
    bool braced = P->t[j].k == '{';
    if (braced) j++;
    int sign = P->t[j].k;
    if (sign != '+' && sign != '-') return false;
    j++;
    if (braced && P->t[j++].k != '}') return false;
    if (P->t[j].k != '}') return false;
    P->lim_side = sign == '+' ? 1 : -1;
    P->i = j;
    return true;
}

node *rwp_postfix(parser *P) {
    if (!enter(P)) return NULL;
    /* latex2sympy's \variable{x} may carry a percent sign; other symbols may not */
    bool variable = tk(P) == TK_ID && peek(P)->id == 1;
    node *b = rwp_primary(P);
    while (b) {
        int k = tk(P);
        if (k == '^') {
            if (P->in_limit && limit_side(P)) continue;
            P->i++;
            if (tk(P) == TK_DEGREE) {
                P->i++;
                continue;
            }
            /* "10^300" is 10^{300} for latex2sympy, whose exponent is an atom */
            node *e = tk(P) == TK_NUM && peek(P)->id == 0 ? rwp_num_token(P, &P->t[P->i++]) : rwp_single(P);
            b = mk2(P, N_POW, b, e);
        } else if (k == '_') {
            bool number = (P->i > 0 && P->t[P->i - 1].k == TK_NUM && b->kind == N_NUM) ||
                          (b->kind == N_POW && b->n == 2 && b->kid[0]->kind == N_NUM);
            P->i++;
            /* "1011_2" is 1011: latex2sympy ignores a number's subscript (its
             * grammar's number_subexpr), so a base-2 answer matches its digits */
            if (number) {
                if (tk(P) == TK_NUM) P->i++; /* the whole "23" of "1011_23" */
                else if (!sub_text(P)) return NULL;
                continue;
            }
            /* "x^2_{1}" is x_1 squared */
            if (b->kind == N_POW && b->n == 2) {
                node *base = rename_sub(P, b->kid[0]);
                b = base ? mk2(P, N_POW, base, b->kid[1]) : NULL;
            } else {
                b = rename_sub(P, b);
            }
        } else if (k == '!') {
            P->i++;
            b = rwp_fn(P, F_FACT, b, NULL);
        } else if (k == '%') {
            /* a percentage of a number; "a\%" is malformed (latex2sympy) */
            if (b->kind == N_SYM && !variable && !b->text) return fail(P, "percent of a variable");
            P->i++;
            b = mk2(P, N_DIV, b, rw_num_int(P->a, 100));
            if (b) b->percent = true;
        } else if (k == TK_DEGREE) {
            P->i++; /* degrees are compared as plain numbers, as Math-Verify does */
        } else if (k == '\'' && b->kind == N_SYM) {
            P->i++;
            size_t l = strlen(b->name);
            char *nm = rw_alloc(P->a, l + 2);
            if (!nm) return fail(P, "too large");
            memcpy(nm, b->name, l);
            nm[l] = '\'';
            nm[l + 1] = 0;
            b->name = nm;
        } else {
            break;
        }
    }
    P->depth--;
    return b;
}

static node *parse_unary(parser *P) {
    if (!enter(P)) return NULL;
    node *r;
    int k = tk(P);
    if (k == '-') {
        P->i++;
        r = mk1(P, N_NEG, parse_unary(P));
    } else if (k == '+') {
        P->i++;
        r = parse_unary(P);
    } else if (k == TK_PM || k == TK_MP) {
        P->i++;
        node *x = parse_unary(P);
        r = x ? rw_node(P->a, N_FUNC, 2) : NULL;
        if (r) {
            r->fn = F_PM;
            r->kid[1] = x;
        }
    } else {
        r = rwp_postfix(P);
    }
    P->depth--;
    return r;
}

/* An integer literal's value into v. */
static bool int_literal(const node *x, mpq_t v) {
    if (x->kind != N_NUM || x->floaty || x->scale != 0 || mpz_set_str(mpq_numref(v), x->name, 10) != 0) return false;
    mpz_set_ui(mpq_denref(v), 1);
    return true;
}

/* A factor SymPy holds as a Rational once latex2sympy has read it: an
 * integer, a fraction or a binomial of integer literals, maybe negated
 * ("(-3)"); not a sum in parentheses, a power or a root, which stay
 * unevaluated. Its value into v. */
static bool rational_factor(const node *x, mpq_t v) {
    if (x->kind == N_NEG) {
        if (!rational_factor(x->kid[0], v)) return false;
        mpq_neg(v, v);
        return true;
    }
    if (int_literal(x, v)) return true;
    if ((x->kind == N_DIV && !x->percent) || (x->kind == N_FUNC && x->fn == F_BINOM && x->n == 2)) {
        mpq_t d;
        mpq_init(d);
        bool ok = int_literal(x->kid[0], v) && int_literal(x->kid[1], d) && mpq_sgn(d) != 0;
        if (ok && x->kind == N_DIV) {
            mpq_div(v, v, d);
        } else if (ok) { /* a binomial of small nonnegative integers */
            ok = mpz_sgn(mpq_numref(v)) >= 0 && mpz_cmp_ui(mpq_numref(v), 100000) <= 0 && mpz_sgn(mpq_numref(d)) >= 0 &&
                 mpz_cmp(mpq_numref(d), mpq_numref(v)) <= 0;
            if (ok) mpz_bin_uiui(mpq_numref(v), mpz_get_ui(mpq_numref(v)), mpz_get_ui(mpq_numref(d)));
        }
        mpq_clear(d);
        return ok;
    }
    return false;
}

/* Juxtaposed factors "2x \sin y": for latex2sympy they bind tighter than
 * '*' and '/', so "1/2x" is 1/(2x) and "a \bmod 9x" is a mod 9x. Its
 * convert_postfix_list reads them from the right, and an integer before a
 * positive Rational is a mixed number, added: "2\frac{1}{2}" is 5/2, and
 * so are "2(3)" 5, "1\,500" 501 and "\frac{4}{2}(3)" 5, while "2(3+4)",
 * "2\sqrt{4}" and "2(-3)" are products. */
static node *parse_product(parser *P) {
    if (!enter(P)) return NULL;
    enum { MAX_FACTORS = 64 };
    node *f[MAX_FACTORS];
    int k = 0;
    node *l = parse_unary(P);
    if (!l) return NULL;
    f[k++] = l;
    while (rwp_starts_primary(P)) {
        node *r = rwp_postfix(P);
        if (!r) return NULL;
        /* "\{1+2\}\{3-4\}": braces multiplied together group, as in latex2sympy */
        if (r->kind == N_SET && r->n == 1) r = r->kid[0];
        if (k == MAX_FACTORS) return fail(P, "too many factors side by side");
        f[k++] = r;
    }
    if (k > 1 && f[0]->kind == N_SET && f[0]->n == 1) f[0] = f[0]->kid[0];
    node *acc = f[k - 1];
    mpq_t av, fv;
    mpq_inits(av, fv, NULL);
    bool rational = rational_factor(acc, av);
    for (int i = k - 2; i >= 0 && acc; i--) {
        bool integer = rational_factor(f[i], fv) && mpz_cmp_ui(mpq_denref(fv), 1) == 0;
        if (integer && rational && mpq_sgn(av) > 0) {
            /* latex2sympy: Rational(res*q + p, q), or - p for a negative res;
             * its minus is the whole list's, so "-0\frac{1}{16}" is -1/16 */
            bool neg = mpq_sgn(fv) < 0 || (mpq_sgn(fv) == 0 && f[i]->kind == N_NEG);
            acc = rwp_join(P, N_ADD, f[i], neg ? mk1(P, N_NEG, acc) : acc);
            if (neg) mpq_sub(av, fv, av);
            else mpq_add(av, fv, av);
        } else {
            acc = rwp_join(P, N_MUL, f[i], acc);
            rational = false;
        }
    }
    mpq_clears(av, fv, NULL);
    P->depth--;
    return acc;
}

/* latex2sympy's mp: l followed by *, \times, \cdot (products), /, \div,
 * : ("A:B" is a ratio) and \mod, each right operand read by next. */
node *rwp_mul_chain(parser *P, node *l, node *(*next)(parser *)) {
    while (l) {
        int k = tk(P);
        if (k == '*' || k == TK_TIMES) {
            P->i++;
            l = rwp_join(P, N_MUL, l, next(P));
        } else if (k == '/' || k == TK_DIV || k == ':') {
            P->i++;
            l = mk2(P, N_DIV, l, next(P));
        } else if (k == TK_MOD) {
            P->i++;
            l = rwp_fn(P, F_MOD, l, next(P));
        } else {
            break;
        }
    }
    return l;
}

node *rwp_term(parser *P) {
    if (!enter(P)) return NULL;
    node *l = rwp_mul_chain(P, parse_product(P), parse_product);
    P->depth--;
    return l;
}

node *rwp_expr(parser *P) {
    if (!enter(P)) return NULL;
    node *l = rwp_term(P);
    while (l) {
        int k = tk(P);
        if (k == '+') {
            P->i++;
            l = rwp_join(P, N_ADD, l, rwp_term(P));
        } else if (k == '-') {
            P->i++;
            l = rwp_join(P, N_ADD, l, mk1(P, N_NEG, rwp_term(P)));
        } else if (k == TK_PM || k == TK_MP) {
            P->i++;
            l = mk2(P, N_FUNC, l, rwp_term(P));
            if (l) l->fn = F_PM;
        } else {
            break;
        }
    }
    P->depth--;
    return l;
}

static node *parse_setexpr(parser *P) {
    node *l = rwp_expr(P);
    while (l && tk(P) == TK_SETOP) {
        int fn = peek(P)->id;
        P->i++;
        l = mk2(P, N_SETOP, l, rwp_expr(P));
        if (l) l->fn = fn;
    }
    return l;
}

node *rwp_list_elem(parser *P) {
    if (!enter(P)) return NULL;
    nlist xs = {0};
    rel_id ops[64];
    int nops = 0;
    if (!rwp_push(P, &xs, parse_setexpr(P))) return NULL;
    while (tk(P) == TK_REL) {
        if (nops == 64) return fail(P, "relation chain too long");
        ops[nops++] = (rel_id)peek(P)->id;
        P->i++;
        if (!rwp_push(P, &xs, parse_setexpr(P))) return NULL;
    }
    P->depth--;
    if (nops == 0) return xs.v[0];
    node *r = rwp_from_list(P, N_REL, &xs);
    if (!r) return NULL;
    r->rel = rw_alloc(P->a, sizeof(rel_id) * (size_t)nops);
    if (!r->rel) return fail(P, "too large");
    memcpy(r->rel, ops, sizeof(rel_id) * (size_t)nops);
    return r;
}

/* Copies x with the node `at` replaced by `by`. */
static node *subst(parser *P, const node *x, const node *at, node *by) {
    if (x == at) return by;
    if (!x || x->n == 0) return (node *)x;
    node *r = rw_node(P->a, x->kind, x->n);
    if (!r) return fail(P, "too large");
    node **kids = r->kid;
    *r = *x;
    r->kid = kids;
    for (int j = 0; j < x->n; j++)
        if (!(r->kid[j] = subst(P, x->kid[j], at, by)) && x->kid[j]) return NULL;
    return r;
}

static const node *find_pm(const node *x) {
    if (!x) return NULL;
    if (x->kind == N_FUNC && x->fn == F_PM) return x;
    for (int j = 0; j < x->n; j++) {
        const node *f = find_pm(x->kid[j]);
        if (f) return f;
    }
    return NULL;
}

/* "3 \pm 2\sqrt{2}" means the set of both values: expand every \pm into
 * the two trees, at most 16 of them. */
static bool expand_pm(parser *P, node *x, nlist *out) {
    const node *pm = find_pm(x);
    if (!pm) return rwp_push(P, out, x);
    if (out->n >= 16) return fail(P, "too many \\pm"), false;
    node *a = pm->kid[0], *b = pm->kid[1];
    node *plus = a ? rwp_join(P, N_ADD, a, b) : b;
    node *minus = a ? rwp_join(P, N_ADD, a, mk1(P, N_NEG, b)) : mk1(P, N_NEG, b);
    if (!plus || !minus) return false;
    node *xp = subst(P, x, pm, plus), *xm = subst(P, x, pm, minus);
    return xp && xm && expand_pm(P, xp, out) && expand_pm(P, xm, out);
}

/* latex2sympy expands a \pm where it stands in a list of elements, so a
 * set's element gives the set both values ("x = \{1 \pm 2, 5\}" is
 * x = {3, -1, 5}); sets inside out, each \pm of an element that is not
 * inside a deeper set. Other \pm are expanded at the top (parse_top). */
static node *expand_pm_in_sets(parser *P, node *x) {
    if (!x || x->n == 0) return x;
    node *r = rw_node(P->a, x->kind, x->n);
    if (!r) return fail(P, "too large");
    node **kids = r->kid;
    *r = *x;
    r->kid = kids;
    for (int j = 0; j < x->n; j++)
        if (!(r->kid[j] = expand_pm_in_sets(P, x->kid[j])) && x->kid[j]) return NULL;
    if (r->kind != N_SET || !find_pm(r)) return r;
    nlist all = {0};
    for (int j = 0; j < r->n; j++)
        if (!expand_pm(P, r->kid[j], &all)) return NULL;
    node *set = rwp_from_list(P, N_SET, &all);
    if (set) set->percent = r->percent;
    return set;
}

/* "x = 2, 3": latex2sympy's set_elements_relation, a name assigned (or
 * "\in") the set of the elements after it, Eq(x, {2, 3}), so "x = 2, 2"
 * is x = {2}. Only when no other element is a relation ("x = 1, y = 2" is
 * a list of two). */
static node *assigned_set(parser *P, nlist *xs) {
    node *first = xs->v[0];
    if (P->parts) return NULL;
    if (first->kind != N_REL || first->n != 2 || (first->rel[0] != R_EQ && first->rel[0] != R_IN) ||
        first->kid[0]->kind != N_SYM)
        return NULL;
    for (int k = 1; k < xs->n; k++)
        if (xs->v[k]->kind == N_REL) return NULL;
    node *set = rw_node(P->a, N_SET, xs->n);
    node *r = set ? rw_node(P->a, N_REL, 2) : NULL;
    if (!r) return fail(P, "too large");
    set->kid[0] = first->kid[1];
    for (int k = 1; k < xs->n; k++) set->kid[k] = xs->v[k];
    node **kids = r->kid;
    *r = *first;
    r->kid = kids;
    r->kid[0] = first->kid[0];
    r->kid[1] = set;
    return r;
}

static node *parse_top(parser *P) {
    nlist parts = {0};
    for (;;) {
        nlist xs = {0};
        if (!rwp_elems(P, &xs, false)) return NULL;
        bool tuple = parts.n || tk(P) == ';';
        node *part = xs.n == 1 ? xs.v[0] : !tuple ? assigned_set(P, &xs) : NULL;
        if (P->err) return NULL;
        if (!part) part = rwp_from_list(P, tuple ? N_TUPLE : N_SET, &xs);
        if (!rwp_push(P, &parts, part)) return NULL;
        if (!accept(P, ';')) break;
        while (accept(P, ';')) {}
        if (tk(P) == TK_END) break;
    }
    if (tk(P) != TK_END) return fail(P, "unexpected token");
    node *r = parts.n == 1 ? parts.v[0] : rwp_from_list(P, N_SET, &parts);
    if (r && find_pm(r)) r = expand_pm_in_sets(P, r);
    if (!r || !find_pm(r)) return r;
    nlist all = {0};
    if (!expand_pm(P, r, &all)) return NULL;
    /* the expansions of a set are one set */
    nlist flat = {0};
    for (int j = 0; j < all.n; j++) {
        node *y = all.v[j];
        if (y->kind == N_SET) {
            for (int k = 0; k < y->n; k++)
                if (!rwp_push(P, &flat, y->kid[k])) return NULL;
        } else if (!rwp_push(P, &flat, y)) {
            return NULL;
        }
    }
    return rwp_from_list(P, N_SET, &flat);
}

static node *parse_once(rw_arena *a, const char *s, size_t n, bool bars_nest, bool parts, const char **err) {
    tokens ts;
    if (!rw_lex(a, s, n, &ts, err)) return NULL;
    parser P = {.a = a, .t = ts.t, .n = ts.n, .bars_nest = bars_nest, .parts = parts};
    if (ts.n <= 1) {
        *err = "empty";
        return NULL;
    }
    node *r = parse_top(&P);
    if (!r) *err = P.err ? P.err : "too large";
    return r ? rw_gcd_rewrite(a, r) : NULL;
}

/* latex2sympy's parse: a whole answer that is a number with thousands
 * commas (^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$, after the normalization has
 * made "{,}" a comma and dropped "$" and "\!") is that number, and one
 * starting with 0 has decimal commas (convert_number: "0,500" is 0.5; a
 * second comma makes it no number). Returns the text to parse instead, or
 * s when the rule does not apply. */
const char *rw_comma_number(rw_arena *a, const char *s, size_t *n) {
    char *c = rw_alloc(a, *n + 1);
    if (!c) return s;
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        if (s[i] == '$' || (s[i] == '\\' && i + 1 < *n && s[i + 1] == '$')) {
            i += s[i] == '\\';
            continue;
        }
        if (s[i] == '\\' && i + 1 < *n && s[i + 1] == '!') { /* and the spaces after it */
            i++;
            for (size_t w; (w = rw_space_at(s, *n, i + 1));) i += w;
            continue;
        }
        if (s[i] == '{') { /* "{,}", spaced or not */
            size_t j = i + 1;
            while (j < *n && s[j] == ' ') j++;
            if (j < *n && s[j] == ',') {
                size_t k = j + 1;
                while (k < *n && s[k] == ' ') k++;
                if (k < *n && s[k] == '}') {
                    while (m > 0 && c[m - 1] == ' ') m--;
                    c[m++] = ',';
                    i = k;
                    continue;
                }
            }
        }
        c[m++] = s[i];
    }
    size_t i = 0, e = m;
    for (size_t w; i < e && (w = rw_space_at(c, e, i));) i += w;
    for (size_t w; e > i && (w = rw_space_before(c, e));) e -= w;
    size_t j = i;
    if (j < e && c[j] == '-') j++;
    size_t head = j;
    while (j < e && isdigit((unsigned char)c[j]) && j - head < 4) j++;
    if (j == head || j - head > 3) return s;
    size_t groups = 0;
    while (j + 3 < e && c[j] == ',' && isdigit((unsigned char)c[j + 1]) && isdigit((unsigned char)c[j + 2]) &&
           isdigit((unsigned char)c[j + 3]) && (j + 4 == e || !isdigit((unsigned char)c[j + 4])))
        j += 4, groups++;
    if (groups == 0) return s;
    if (j < e && c[j] == '.') {
        size_t k = j + 1;
        while (k < e && isdigit((unsigned char)c[k])) k++;
        if (k == j + 1) return s;
        j = k;
    }
    if (j != e) return s;
    bool zero = c[head] == '0';
    if (zero && groups > 1) return NULL; /* "0,500,000" is no number */
    size_t w = 0;
    for (size_t k = i; k < e; k++) {
        if (c[k] != ',') c[w++] = c[k];
        else if (zero) c[w++] = '.';
    }
    c[w] = 0;
    *n = w;
    return c;
}

/* A character of latex2sympy2_extended's permutation_regex classes. */
static bool perm_char(char c) { return isalnum((unsigned char)c) || (c && strchr("+-*/\\ ", c)); }

/* The length of w when s[i, n) starts with it, else 0. */
static size_t starts_with(const char *s, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && memcmp(s + i, w, l) == 0 ? l : 0;
}

/* latex2sympy2_extended's permutation_regex, which its normalization runs
 * after making \left( and \right) plain parentheses: each leftmost
 * (A)_{B} of its characters (letters, digits, + - * / \ and spaces) is the
 * falling factorial \frac{(A)!}{((A)-(B))!}, so "(5)_{2}" is 20. Returns
 * the rewritten copy, or s when there is none. */
static const char *falling_factorials(rw_arena *a, const char *s, size_t *n) {
    if (!memmem(s, *n, ")_{", 3)) return s;
    char *c = rw_alloc(a, 4 * *n + 1);
    if (!c) return s;
    size_t m = 0, len = *n;
    for (size_t i = 0; i < len;) {
        size_t open = starts_with(s, len, i, "\\left(");
        if (!open) open = starts_with(s, len, i, "\\mleft(");
        if (!open && s[i] == '(') open = 1;
        size_t j = i + open, k = j, e = 0;
        while (open && k < len && perm_char(s[k])) k++;
        size_t b = k; /* A is s[j, b): its \right or \mright goes with the parenthesis */
        if (b - j >= 6 && memcmp(s + b - 6, "\\right", 6) == 0) b -= 6;
        else if (b - j >= 7 && memcmp(s + b - 7, "\\mright", 7) == 0) b -= 7;
        if (open && b > j && starts_with(s, len, k, ")_{")) {
            e = k + 3;
            while (e < len && perm_char(s[e])) e++;
            if (e == k + 3 || e >= len || s[e] != '}') e = 0;
        }
        if (!e) {
            c[m++] = s[i++];
            continue;
        }
        m += (size_t)sprintf(c + m, "\\frac{(%.*s)!}{((%.*s)-(%.*s))!}", (int)(b - j), s + j, (int)(b - j), s + j,
                             (int)(e - k - 3), s + k + 3);
        i = e + 1;
    }
    c[m] = 0;
    *n = m;
    return c;
}

static node *parse_answer(rw_arena *a, const char *s, size_t n, bool parts, const char **err) {
    *err = NULL;
    s = falling_factorials(a, s, &n);
    s = rw_comma_number(a, s, &n);
    if (!s) return *err = "a number with two decimal commas", NULL;
    /* "11,\\! 111": negative thin spaces vanish with the space after them */
    if (memmem(s, n, "\\!", 2)) {
        char *c = rw_alloc(a, n + 1);
        if (!c) return *err = "too large", NULL;
        size_t m = 0;
        for (size_t j = 0; j < n; j++) {
            if (s[j] == '\\' && j + 1 < n && s[j + 1] == '!') {
                j += 2;
                while (j < n && s[j] == ' ') j++;
                j--;
                continue;
            }
            c[m++] = s[j];
        }
        s = c;
        n = m;
    }
    node *r = parse_once(a, s, n, false, parts, err);
    if (r) return r;
    /* "||x||y||": a bar inside |...| first closes it; when that reads
     * nothing, a bar before an operand opens a factor instead, the reading
     * latex2sympy's grammar finds (|(|x| |y|)|) */
    if (memchr(s, '|', n)) {
        const char *err2;
        r = parse_once(a, s, n, true, parts, &err2);
        if (r) {
            *err = NULL;
            return r;
        }
    }
    /* "1 = \zzz = x = 0": when a chain of equations fails, its last member
     * may still be the answer (as Math-Verify retries) */
    size_t eqs = 0, last = 0;
    for (size_t j = 0; j < n; j++) {
        if (s[j] == ',' || s[j] == ';') return NULL;
        if (s[j] == '=' && (j == 0 || !strchr("\\<>!", s[j - 1]))) eqs++, last = j;
    }
    if (eqs < 2) return NULL;
    const char *err2;
    r = parse_once(a, s + last + 1, n - last - 1, false, parts, &err2);
    if (r) *err = NULL;
    return r;
}

node *rw_parse(rw_arena *a, const char *s, size_t n, const char **err) { return parse_answer(a, s, n, false, err); }

node *rw_parse_parts(rw_arena *a, const char *s, size_t n, const char **err) {
    return parse_answer(a, s, n, true, err);
}
