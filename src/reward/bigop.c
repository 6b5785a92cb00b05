/* Integrals, sums, products and limits, kept as N_OPAQUE trees whose
 * parts are compared one by one (equiv.c); a sum or product with integer
 * bounds is also evaluated (eval.c), as SymPy's doit() would:
 *   int:  body, lower, upper, variable of integration (x when none)
 *   sum, prod: body, lower ("k = 1"), upper
 *   lim:  body, variable, point, side (+1, -1; 0 at infinity)
 * Equal parts make equal operators whatever the spelling ("\int x dx" and
 * "\int x\, dx", "\lim_{x \rightarrow 3}" and "\lim_{x \to 3^+}"), and a
 * body equal as a function (the identity test) gives an equal operator: a
 * sound rule. Different bodies with the same value (two antiderivatives,
 * two summands) are not recognized. */
#include <string.h>

#include "reward/parser.h"

/* "_{...}" or "^{...}": the bound, or NULL (with no error) when the braces are
 * empty, as in "\int_{ }^{} x dx". */
static bool bound(parser *P, node **out) {
    if (tk(P) == '{' && P->t[P->i + 1].k == '}') {
        P->i += 2;
        *out = NULL;
        return true;
    }
    *out = rwp_single(P);
    return *out != NULL;
}

static bool is_d(const token *t) { return t->k == TK_ID && t->len == 1 && t->s[0] == 'd'; }

/* The token index of the differential "d x" of an integral starting at P->i,
 * and its bracket depth there; -1 when there is none before the integrand
 * ends (a closing bracket of an enclosing group, a comma, a relation). */
static int find_differential(parser *P, int *depth_at) {
    int depth = 0;
    for (int j = P->i; j + 1 < P->n; j++) {
        int k = P->t[j].k;
        if (k == '(' || k == '[' || k == '{' || k == TK_LSET) depth++;
        else if (k == ')' || k == ']' || k == '}' || k == TK_RSET) {
            if (depth-- == 0) return -1;
        } else if (depth == 0 && (k == ',' || k == ';' || k == TK_REL || k == TK_SEP)) {
            return -1;
        } else if (is_d(&P->t[j]) && P->t[j + 1].k == TK_ID) {
            *depth_at = depth;
            return j;
        }
    }
    return -1;
}

/* Removes the rightmost "d x" factor pair of a product in x (the integrand
 * as parsed: "x d x", "(1/b) d x" at the end of a sum, "d z / z"), setting
 * *var to x. Returns the integrand, 1 where only the differential was. */
static node *strip_differential(parser *P, node *x, node **var) {
    if (!x) return NULL;
    switch (x->kind) {
    case N_MUL:
        for (int k = x->n - 2; k >= 0; k--) {
            node *a = x->kid[k], *b = x->kid[k + 1];
            if (a->kind == N_SYM && strcmp(a->name, "d") == 0 && b->kind == N_SYM) {
                *var = b;
                int left = x->n - 2;
                if (left == 0) return rw_num_int(P->a, 1);
                node *r = rw_node(P->a, N_MUL, left);
                if (!r) return fail(P, "too large");
                for (int j = 0, m = 0; j < x->n; j++)
                    if (j != k && j != k + 1) r->kid[m++] = x->kid[j];
                return left == 1 ? r->kid[0] : r;
            }
        }
        for (int k = x->n - 1; k >= 0 && !*var; k--) {
            node *y = strip_differential(P, x->kid[k], var);
            if (*var) {
                node *r = rw_node(P->a, N_MUL, x->n);
                if (!r) return fail(P, "too large");
                memcpy(r->kid, x->kid, sizeof(node *) * (size_t)x->n);
                r->kid[k] = y;
                return r;
            }
        }
        return x;
    case N_ADD:
    case N_DIV:
    case N_NEG: {
        /* the last term of a sum, the numerator of a quotient */
        int k = x->kind == N_ADD ? x->n - 1 : 0;
        node *y = strip_differential(P, x->kid[k], var);
        if (!*var) return x;
        node *r = rw_node(P->a, x->kind, x->n);
        if (!r) return fail(P, "too large");
        memcpy(r->kid, x->kid, sizeof(node *) * (size_t)x->n);
        r->kid[k] = y;
        return r;
    }
    default:
        return x;
    }
}

/* The integrand: up to the differential when it stands at the top level
 * ("\int 1/a + 1/b dx"), else one term holding it ("\int \frac{dz}{z}",
 * "\int (x dx)") or, without one, one term. */
static node *integrand(parser *P, node **var) {
    int depth = 0, j = find_differential(P, &depth);
    node *body;
    if (j >= 0 && depth == 0) {
        token saved = P->t[j + 2];
        P->t[j + 2].k = TK_END; /* j + 2 < n: the last token is TK_END */
        body = rwp_expr(P);
        P->t[j + 2] = saved;
        if (body && P->i != j + 2) return fail(P, "bad integrand");
    } else {
        if (!rwp_starts_primary(P) && tk(P) != '-') return fail(P, "missing operand");
        body = rwp_term(P);
    }
    *var = NULL;
    if (body && body->kind == N_SET && body->n == 1) body = body->kid[0]; /* "\{x dx\}" groups */
    return strip_differential(P, body, var);
}

/* "_{x \to 3^+}": the variable and the point, the side in P->lim_side. */
static bool limit_sub(parser *P, node **var, node **point) {
    if (!accept(P, '_') || !accept(P, '{')) return fail(P, "limit without a point"), false;
    *var = rwp_postfix(P);
    if (!*var || !accept(P, TK_ARROW)) return fail(P, "limit without an arrow"), false;
    P->in_limit = true;
    P->lim_side = 0;
    *point = rwp_expr(P);
    P->in_limit = false;
    return *point && accept(P, '}');
}

static node *opaque(parser *P, const char *name, node *k0, node *k1, node *k2, node *k3) {
    node *kids[4] = {k0, k1, k2, k3};
    int n = k3 ? 4 : 3;
    node *r = rw_node(P->a, N_OPAQUE, n);
    if (!r) return fail(P, "too large");
    r->name = name;
    for (int j = 0; j < n; j++) {
        r->kid[j] = kids[j] ? kids[j] : rw_num_int(P->a, 0);
        if (!r->kid[j]) return fail(P, "too large");
    }
    return r;
}

node *rwp_bigop(parser *P, token *t) {
    if (!enter(P)) return NULL;
    const char *name = rw_strndup(P->a, t->s, (size_t)t->len);
    if (!name) return fail(P, "too large");
    node *r;
    if (strcmp(name, "lim") == 0) {
        node *var, *point;
        if (!limit_sub(P, &var, &point)) return NULL;
        if (!rwp_starts_primary(P) && tk(P) != '-') return fail(P, "missing operand");
        node *body = rwp_term(P);
        /* SymPy's default side is +; at infinity there is only one */
        bool inf = point->kind == N_CONST && point->fn == C_INF;
        inf = inf || (point->kind == N_NEG && point->kid[0]->kind == N_CONST && point->kid[0]->fn == C_INF);
        int side = inf ? 0 : P->lim_side ? P->lim_side : 1;
        r = body ? opaque(P, name, body, var, point, rw_num_int(P->a, side)) : NULL;
    } else {
        node *lo = NULL, *hi = NULL;
        for (;;) {
            if (accept(P, '_')) {
                if (!bound(P, &lo)) return NULL;
            } else if (accept(P, '^')) {
                if (!bound(P, &hi)) return NULL;
            } else {
                break;
            }
        }
        if (name[0] == 's' || name[0] == 'p') { /* sum, prod */
            if (!rwp_starts_primary(P) && tk(P) != '-') return fail(P, "missing operand");
            node *body = rwp_term(P);
            r = body ? opaque(P, name, body, lo, hi, NULL) : NULL;
        } else {
            node *var;
            node *body = integrand(P, &var);
            /* no differential: latex2sympy's handle_integral assumes dx */
            if (body && !var) {
                var = rw_node(P->a, N_SYM, 0);
                if (!var) return fail(P, "too large");
                var->name = "x";
            }
            r = body ? opaque(P, name, body, lo, hi, var) : NULL;
        }
    }
    P->depth--;
    return r;
}
