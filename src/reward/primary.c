/* The parser's operands (latex2sympy's atoms and their arguments): numbers,
 * symbols, \text words, functions with or without parentheses, fractions,
 * roots, binomials, brackets (groups, intervals, tuples), braces, sets and
 * set-builder notation, matrices, |x|, floors and ceilings. The operators
 * between them are parse.c's. */
#include <string.h>
#include <strings.h>

#include "reward/parser.h"

static node *parse_frac(parser *P);

/* The argument of ^ _ \frac \sqrt written without braces: one token, and of
 * a number only its first digit ("\frac12", "x^23" is x^2 * 3). */
node *rwp_single(parser *P) {
    token *t = peek(P);
    if (t->k == '{') return rwp_primary(P);
    if (t->k == '-') {
        P->i++;
        return mk1(P, N_NEG, rwp_single(P));
    }
    if (t->k == TK_NUM && t->len > 1 && t->id == 0 && t->s[1] != '.') {
        node *x = rw_node(P->a, N_NUM, 0);
        if (!x) return fail(P, "too large");
        x->name = rw_strndup(P->a, t->s, 1);
        t->s++;
        t->len--;
        return x->name ? x : fail(P, "too large");
    }
    /* a number alone: "\log_3 \frac{1}{9}" is no mixed number 3 1/9 */
    if (t->k == TK_NUM) {
        P->i++;
        return rwp_num_token(P, t);
    }
    if (t->k == TK_ID || t->k == TK_CONST || t->k == TK_TEXT || t->k == TK_FRAC || t->k == TK_SQRT || t->k == '(' ||
        t->k == TK_LSET || t->k == '|' || t->k == TK_FN)
        return rwp_primary(P);
    return fail(P, "missing argument");
}

/* "x \mid", "x :", "x \in \mathbb{R} \mid" after "\{": set-builder notation,
 * whose condition follows; consumes the head and returns its token, or
 * NULL. A domain other than R ("x \in \mathbb{Z}") is an error: the set is
 * no union of intervals. */
static const token *builder_head(parser *P) {
    int i = P->i;
    const token *head = &P->t[i];
    if (head->k != TK_ID) return NULL;
    i++;
    bool domain = P->t[i].k == TK_REL && P->t[i].id == R_IN && P->t[i + 1].k == TK_CONST;
    int j = domain ? i + 2 : i;
    if (P->t[j].k != '|' && P->t[j].k != ':') return NULL;
    if (domain && P->t[i + 1].id != C_REALS) return fail(P, "set-builder over a domain other than R"), NULL;
    P->i = j + 1;
    return head;
}

/* Whether x holds the symbol named (case folded) as token t. */
static bool mentions(const node *x, const token *t) {
    if (!x) return false;
    if (x->kind == N_SYM && x->name && strlen(x->name) == (size_t)t->len && strncasecmp(x->name, t->s, (size_t)t->len) == 0)
        return true;
    for (int k = 0; k < x->n; k++)
        if (mentions(x->kid[k], t)) return true;
    return false;
}

/* ( [ opened: a group, an interval, or a tuple, by the count of elements. */
static node *parse_bracket(parser *P, int open) {
    nlist xs = {0};
    if (!rwp_elems(P, &xs, true)) return NULL;
    int close = tk(P);
    if (close != ')' && close != ']') return fail(P, "unclosed bracket");
    P->i++;
    if (xs.n == 1) return xs.v[0];
    if (xs.n == 2) {
        node *r = rwp_from_list(P, N_INTERVAL, &xs);
        if (!r) return NULL;
        r->lopen = open == '(';
        r->ropen = close == ')';
        r->paren = r->lopen && r->ropen;
        return r;
    }
    return rwp_from_list(P, N_TUPLE, &xs);
}

/* A braced or bracketed argument list f(a, b) / f{a}. */
static bool parse_args(parser *P, nlist *xs) {
    int open = tk(P);
    int close = open == '(' ? ')' : open == '[' ? ']' : open == '{' ? '}' : TK_RSET;
    P->i++;
    if (!rwp_elems(P, xs, false)) return false;
    if (!accept(P, close)) return fail(P, "unclosed argument"), false;
    return true;
}

static node *parse_function(parser *P, int fn);

/* The letter e, which latex2sympy's grammar reads as a function (EXP_E)
 * and so never inside a function's bare argument: "\ln 2e" is e ln 2. */
static bool euler_e(parser *P) {
    const token *t = peek(P);
    return t->len == 1 && t->s[0] == 'e' && t->id == 0 && P->t[P->i + 1].k != '_';
}

/* A function's argument without parentheses, latex2sympy's mp_nofunc:
 * factors side by side ("\sin 2x", "\ln xy") up to the next function, and
 * on through '*', '/', '\cdot', '\times', '\div', ':' and \mod, after which
 * a function may stand ("\sin x/2" is sin(x/2), "\sin x \cdot \cos x" is
 * sin(x cos x): the grammar takes the longest argument); + and - end it. */
static node *factor_run(parser *P) {
    node *arg;
    if (tk(P) == '-' || tk(P) == '+') {
        bool neg = tk(P) == '-';
        P->i++;
        arg = factor_run(P);
        return neg ? mk1(P, N_NEG, arg) : arg;
    }
    if (tk(P) == TK_FN) {
        P->i++;
        arg = parse_function(P, P->t[P->i - 1].id);
    } else {
        arg = rwp_postfix(P);
    }
    while (arg && (tk(P) == TK_NUM || (tk(P) == TK_ID && !euler_e(P)) || tk(P) == TK_CONST))
        arg = rwp_join(P, N_MUL, arg, rwp_postfix(P));
    return arg;
}

static node *bare_argument(parser *P) { return rwp_mul_chain(P, factor_run(P), factor_run); }

static node *parse_function(parser *P, int fn) {
    node *power = NULL, *base = NULL;
    bool inverse = false;
    for (;;) {
        if (accept(P, '^')) {
            node *e = rwp_single(P);
            if (!e) return NULL;
            if (e->kind == N_NEG && rwp_is_int(e->kid[0]) && strcmp(e->kid[0]->name, "1") == 0)
                inverse = true;
            else power = e;
        } else if (accept(P, '_')) {
            if (!(base = rwp_single(P))) return NULL;
        } else {
            break;
        }
    }
    nlist xs = {0};
    int k = tk(P);
    bool multi = fn == F_GCD || fn == F_LCM || fn == F_MAX || fn == F_MIN;
    /* a braced argument is a group like any other factor of a bare one, so
     * "\ln{x} \cdot 2" is ln(2x) and "\sin{x} y" sin(xy), as latex2sympy's
     * grammar reads them; "\sin{\left(x\right)} \cos{...}" stops at \cos */
    if (k == '(' || k == '[' || k == TK_LSET || (k == '{' && multi)) {
        if (!parse_args(P, &xs)) return NULL;
    } else if (k == TK_FN) {
        P->i++;
        if (!rwp_push(P, &xs, parse_function(P, P->t[P->i - 1].id))) return NULL;
    } else {
        if (!rwp_push(P, &xs, bare_argument(P))) return NULL;
    }
    if (!multi && xs.n != 1) return fail(P, "wrong number of arguments");
    if (inverse) {
        static const struct { int f, inv; } invs[] = {
            {F_SIN, F_ASIN}, {F_COS, F_ACOS}, {F_TAN, F_ATAN}, {F_COT, F_ACOT}, {F_SEC, F_ASEC},
            {F_CSC, F_ACSC}, {F_SINH, F_ASINH}, {F_COSH, F_ACOSH}, {F_TANH, F_ATANH},
        };
        bool found = false;
        for (size_t j = 0; j < sizeof invs / sizeof invs[0]; j++)
            if (invs[j].f == fn) fn = invs[j].inv, found = true;
        if (!found) power = mk1(P, N_NEG, rw_num_int(P->a, 1));
    }
    node *r;
    if (fn == F_EXP) {
        node *e = rw_node(P->a, N_CONST, 0);
        if (!e) return fail(P, "too large");
        e->fn = C_E;
        r = mk2(P, N_POW, e, xs.v[0]);
    } else if (fn == F_LN) {
        r = rwp_fn(P, F_LOG, xs.v[0], NULL);
        if (r) r->fn = F_LN;
    } else if (fn == F_LOG) {
        r = rwp_fn(P, F_LOG, xs.v[0], base ? base : rw_num_int(P->a, 10));
    } else {
        r = rwp_from_list(P, N_FUNC, &xs);
        if (r) r->fn = fn;
    }
    return power ? mk2(P, N_POW, r, power) : r;
}

static node *parse_matrix(parser *P) {
    nlist cells = {0};
    int rows = 0, cols = -1, c = 0;
    for (;;) {
        if (tk(P) == TK_ENDENV) break;
        if (!rwp_push(P, &cells, rwp_expr(P))) return NULL;
        c++;
        if (accept(P, '&')) continue;
        bool end_row = accept(P, TK_ROWSEP);
        if (!end_row && tk(P) != TK_ENDENV) return fail(P, "bad matrix");
        if (cols >= 0 && c != cols) return fail(P, "ragged matrix");
        cols = c;
        rows++;
        c = 0;
    }
    P->i++;
    if (rows == 0 || c != 0) return fail(P, "bad matrix");
    node *r = rwp_from_list(P, N_MATRIX, &cells);
    if (!r) return NULL;
    r->rows = rows;
    r->cols = cols;
    return r;
}

/* One numeric token: digits with a decimal point or an E exponent. An E
 * exponent is part of the literal, as latex2sympy's E_NOTATION token makes
 * one sympy.Number of "6.7E-11": a Float, which Math-Verify rounds. Only
 * an exponent that would need more than RW_MAX_DIGITS zeros stays a
 * product with a power of 10. */
node *rwp_num_token(parser *P, token *t) {
    node *x = rw_node(P->a, N_NUM, 0);
    if (!x) return fail(P, "too large");
    char *d = rw_alloc(P->a, (size_t)t->len + RW_MAX_DIGITS + 1);
    if (!d) return fail(P, "too large");
    int m = 0;
    for (int j = 0; j < t->len; j++) {
        if (t->s[j] == '.') {
            x->floaty = true;
            x->scale = t->len - j - 1;
        } else {
            d[m++] = t->s[j];
        }
    }
    if (t->id != 0) {
        x->floaty = true;
        if (x->scale - t->id >= 0) {
            x->scale -= t->id;
        } else if (t->id - x->scale <= RW_MAX_DIGITS) {
            for (int z = x->scale; z < t->id; z++) d[m++] = '0';
            x->scale = 0;
        } else {
            d[m] = 0;
            x->name = d;
            return rwp_join(P, N_MUL, x, mk2(P, N_POW, rw_num_int(P->a, 10), rw_num_int(P->a, t->id)));
        }
    }
    d[m] = 0;
    x->name = d;
    return x;
}

static bool digit_at(const token *t, int j) { return j < t->len && t->s[j] >= '0' && t->s[j] <= '9'; }

/* After "\frac" with a digit for numerator: a denominator of digits
 * alone is taken whole, as Math-Verify's normalization rewrites
 * \frac\s?(\d)\s?(\d+) to \frac{\1}{\2} before latex2sympy reads it:
 * "\frac123" and "\frac1 23" are 1/23 (TeX's reading is 3/2). */
static node *digits_denominator(parser *P) {
    token *d = peek(P);
    if (d->k != TK_NUM || d->id != 0 || !digit_at(d, 0)) return NULL;
    for (int j = 0; j < d->len; j++)
        if (!digit_at(d, j)) return NULL;
    P->i++;
    return rwp_num_token(P, d);
}

static bool is_d(const token *t) { return t->k == TK_ID && t->len == 1 && t->s[0] == 'd' && t->id == 0; }

/* latex2sympy's convert_frac: a denominator that is one differential
 * token ("dt", "d t", "d\theta") under a numerator whose text starts with
 * d is Derivative(the rest of the numerator, t), so "\frac{dv}{dt}" is no
 * quotient v/t; when the rest fails to parse, the fraction fails. NULL
 * (P->err unset) when the fraction is no such derivative. */
static node *frac_derivative(parser *P) {
    const token *t = P->t;
    int i = P->i, j = i, depth = 0;
    if (t[i].k != '{' || !is_d(&t[i + 1]) || t[i + 2].k == '}') return NULL;
    for (;; j++) {
        if (t[j].k == TK_END) return NULL;
        if (t[j].k == '{') depth++;
        if (t[j].k == '}' && --depth == 0) break;
    }
    if (t[j + 1].k != '{' || !is_d(&t[j + 2]) || t[j + 3].k != TK_ID || t[j + 4].k != '}') return NULL;
    P->i = i + 2;
    node *body = rwp_expr(P);
    if (!body || P->i != j) return fail(P, "bad derivative");
    node *r = rw_node(P->a, N_OPAQUE, 2), *var = rw_node(P->a, N_SYM, 0);
    if (!r || !var || !(var->name = rw_strndup(P->a, t[j + 3].s, (size_t)t[j + 3].len))) return fail(P, "too large");
    r->name = "d/d";
    r->kid[0] = var;
    r->kid[1] = body;
    P->i = j + 5;
    return r;
}

static node *parse_frac(parser *P) {
    node *deriv = frac_derivative(P);
    if (deriv || P->err) return deriv;
    const token *t = peek(P);
    bool digit = t->k == TK_NUM && t->id == 0 && digit_at(t, 0) && (t->len == 1 || digit_at(t, 1));
    node *num = rwp_single(P);
    node *den = num && digit ? digits_denominator(P) : NULL;
    if (!den && !P->err) den = num ? rwp_single(P) : NULL;
    if (!den) return NULL;
    /* \frac{d}{dx} f: a derivative, kept opaque */
    if (num->kind == N_SYM && strcmp(num->name, "d") == 0 && den->kind == N_MUL && den->n == 2 &&
        den->kid[0]->kind == N_SYM && strcmp(den->kid[0]->name, "d") == 0) {
        if (!rwp_starts_primary(P)) return fail(P, "derivative of nothing");
        node *r = rw_node(P->a, N_OPAQUE, 2);
        if (!r) return fail(P, "too large");
        r->name = "d/d";
        r->kid[0] = den->kid[1];
        r->kid[1] = rwp_postfix(P);
        return r->kid[1] ? r : NULL;
    }
    return mk2(P, N_DIV, num, den);
}

/* A letter or named symbol: e, i and SymPy's I as constants (latex2sympy
 * reads I as the imaginary unit before it folds the case), f(x) as an
 * unknown function. */
static node *parse_symbol(parser *P, const token *t) {
    bool sub = tk(P) == '_';
    /* latex2sympy lexes a lone E as E_NOTATION_E, an atom that takes no
     * subscript: "E_1" fails to parse there */
    if (sub && t->len == 1 && t->s[0] == 'E' && t->id == 0) return fail(P, "E takes no subscript");
    if (t->len == 1 && (t->s[0] == 'e' || t->s[0] == 'i' || t->s[0] == 'I') && !sub && t->id == 0) {
        node *r = rw_node(P->a, N_CONST, 0);
        if (r) r->fn = t->s[0] == 'e' ? C_E : C_I;
        return r;
    }
    node *r = rw_node(P->a, N_SYM, 0);
    if (!r) return NULL;
    r->name = rw_strndup(P->a, t->s, (size_t)t->len);
    /* f(x): single letters conventionally naming functions; SymPy prints
     * f(x) as f{\left(x \right)}: the braces are no group */
    bool braced = tk(P) == '{' && P->t[P->i + 1].k == '(';
    if (t->len == 1 && strchr("fghFGHPQW", t->s[0]) && (braced || (tk(P) == '(' && !peek(P)->space_before))) {
        nlist xs = {0};
        if (braced) P->i++;
        if (!parse_args(P, &xs) || (braced && !accept(P, '}'))) return fail(P, "bad function call");
        node *f = rwp_from_list(P, N_UFUNC, &xs);
        if (f) f->name = r->name;
        return f;
    }
    if (!rwp_fold_case((char *)r->name)) return fail(P, "too large");
    if (strcmp(r->name, "pi") == 0) {
        r->kind = N_CONST;
        r->fn = C_PI;
        r->name = NULL;
    }
    return r;
}

/* \text{word}: a word, its case folded as every name's. latex2sympy drops a
 * text command around a name (convert_atom_expr), so \textbf{i} is the
 * letter i and \text{e} the letter e: the constants parse_symbol reads. */
static node *parse_word(parser *P, const token *t) {
    if (t->len == 1 && (t->s[0] == 'i' || t->s[0] == 'e') && tk(P) != '_') return parse_symbol(P, t);
    node *r = rw_node(P->a, N_SYM, 0);
    if (!r) return NULL;
    char *nm = rwp_fold_case(rw_strndup(P->a, t->s, (size_t)t->len));
    if (!nm) return fail(P, "too large");
    r->name = nm;
    r->text = true;
    return r;
}

/* After "{": a group, a list read as a set, or {n \choose k}. */
static node *parse_brace(parser *P) {
    nlist xs = {0};
    if (!rwp_elems(P, &xs, false)) return NULL;
    node *r;
    if (xs.n == 1 && accept(P, TK_CHOOSE)) r = rwp_fn(P, F_BINOM, xs.v[0], rwp_expr(P));
    else r = xs.n == 1 ? xs.v[0] : rwp_from_list(P, N_SET, &xs);
    if (r && !accept(P, '}')) r = fail(P, "unclosed brace");
    return r;
}

/* After "\{": the empty set, set-builder notation, or the listed elements. */
static node *parse_set(parser *P) {
    if (accept(P, TK_RSET)) {
        node *r = rw_node(P->a, N_SPECIAL, 0);
        if (r) r->fn = C_EMPTY;
        return r;
    }
    node *r;
    const token *head = builder_head(P);
    if (P->err) return NULL;
    if (head) {
        r = rwp_list_elem(P);
        if (r && r->kind != N_REL) r = fail(P, "set-builder without a condition");
        if (r && !mentions(r, head)) r = fail(P, "set-builder whose condition is not on its variable");
        if (r) r->builder = true;
    } else {
        nlist xs = {0};
        if (!rwp_elems(P, &xs, true)) return NULL;
        r = rwp_from_list(P, N_SET, &xs);
    }
    if (r && !accept(P, TK_RSET)) r = fail(P, "unclosed set");
    return r;
}

/* After "\sqrt": an optional [index], then the radicand. */
static node *parse_root(parser *P) {
    node *idx = NULL;
    if (accept(P, '[')) {
        idx = rwp_expr(P);
        if (!idx || !accept(P, ']')) return fail(P, "bad root index");
    }
    node *x = rwp_single(P);
    return idx ? rwp_fn(P, F_ROOT, x, idx) : rwp_fn(P, F_SQRT, x, NULL);
}

/* After an opening floor, ceiling or "|": the expression and its closer. */
static node *parse_delimited(parser *P, int open) {
    if (open == '|') {
        P->abs_depth++;
        node *x = rwp_expr(P);
        P->abs_depth--;
        if (x && !accept(P, '|')) return fail(P, "unclosed |");
        return rwp_fn(P, F_ABS, x, NULL);
    }
    node *x = rwp_expr(P);
    if (x && !accept(P, open == TK_LFLOOR ? TK_RFLOOR : TK_RCEIL)) return fail(P, "unclosed floor");
    return rwp_fn(P, open == TK_LFLOOR ? F_FLOOR : F_CEIL, x, NULL);
}

node *rwp_primary(parser *P) {
    if (!enter(P)) return NULL;
    token *t = peek(P);
    node *r = NULL;
    if (t->k == TK_END) return fail(P, "missing operand");
    P->i++;
    switch (t->k) {
    case TK_NUM: r = rwp_num_token(P, t); break; /* "3\frac{1}{2}" is parse_product's */
    case TK_ID: r = parse_symbol(P, t); break;
    case TK_TEXT: r = parse_word(P, t); break;
    case TK_FN: r = parse_function(P, t->id); break;
    case TK_CONST:
        r = rw_node(P->a, t->id >= C_REALS ? N_SPECIAL : N_CONST, 0);
        if (r) r->fn = t->id;
        break;
    case '(': case '[': r = parse_bracket(P, t->k); break;
    case '{': r = parse_brace(P); break;
    case TK_LSET: r = parse_set(P); break;
    case TK_FRAC: r = parse_frac(P); break;
    case TK_BINOM: {
        node *a = rwp_single(P);
        r = a ? rwp_fn(P, F_BINOM, a, rwp_single(P)) : NULL;
        break;
    }
    case TK_SQRT: r = parse_root(P); break;
    case TK_OPAQUE: r = rwp_bigop(P, t); break;
    case TK_LFLOOR: case TK_LCEIL: case '|': r = parse_delimited(P, t->k); break;
    case TK_BEGIN:
        if (!t->id) return fail(P, "unsupported environment");
        r = parse_matrix(P);
        if (r && t->id == 2) r = rwp_fn(P, F_DET, r, NULL);
        break;
    default: return fail(P, "unexpected token");
    }
    if (!r) return fail(P, "too large");
    P->depth--;
    return r;
}
