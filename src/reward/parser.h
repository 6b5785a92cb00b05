/* The parser's state and the helpers shared by parse.c (operators),
 * primary.c (operands) and bigop.c (integrals, sums, products, limits).
 * Internal to src/reward. */
#ifndef PIC_REWARD_PARSER_H
#define PIC_REWARD_PARSER_H

#include <ctype.h>

#include "reward/ast.h"
#include "reward/lex.h"

typedef struct {
    rw_arena *a;
    token *t;
    int n, i;
    int depth, abs_depth;
    bool in_limit; /* inside \lim_{...}: "^+" is a side, not a power */
    int lim_side;  /* the side found there: +1, -1, or 0 for none */
    bool bars_nest; /* inside |...|, a bar before an operand opens |...| */
    bool parts;     /* a list joined from separately read parts (rw_parse_parts) */
    const char *err;
} parser;

/* The first error wins: it names the real cause, not its consequences. */
static inline node *fail(parser *P, const char *msg) {
    if (!P->err) P->err = msg;
    return NULL;
}

static inline token *peek(parser *P) { return &P->t[P->i]; }
static inline int tk(parser *P) { return P->t[P->i].k; }
static inline bool accept(parser *P, int k) {
    if (tk(P) != k) return false;
    P->i++;
    return true;
}

/* Counts recursion; every parse_* that recurses calls it (RW_MAX_DEPTH). */
static inline bool enter(parser *P) {
    if (++P->depth > RW_MAX_DEPTH) {
        fail(P, "nested too deeply");
        return false;
    }
    return true;
}

static inline node *mk1(parser *P, node_kind k, node *x) {
    if (!x) return NULL;
    node *r = rw_node(P->a, k, 1);
    if (!r) return fail(P, "too large");
    r->kid[0] = x;
    return r;
}

static inline node *mk2(parser *P, node_kind k, node *x, node *y) {
    if (!x || !y) return NULL;
    node *r = rw_node2(P->a, k, x, y);
    return r ? r : fail(P, "too large");
}

static inline bool rwp_is_int(const node *x) { return x && x->kind == N_NUM && x->scale == 0 && !x->floaty; }

/* latex2sympy2_extended's default ConversionConfig (Math-Verify's call)
 * has lowercase_symbols on: get_symbol folds a symbol's whole name, its
 * subscript included, so A is a, x_A is x_a and \Pi is \pi. Function
 * names keep their case (sympy.Function of the text). */
static inline char *rwp_fold_case(char *nm) {
    for (char *c = nm; c && *c; c++) *c = (char)tolower((unsigned char)*c);
    return nm;
}

/* A growable list of nodes in the arena. */
typedef struct {
    node **v;
    int n, cap;
} nlist;

/* parse.c: operators, loosest first, and the building blocks of nodes */
bool rwp_push(parser *P, nlist *l, node *x);
node *rwp_from_list(parser *P, node_kind k, nlist *l);
node *rwp_fn(parser *P, int fn, node *x, node *y);         /* N_FUNC fn of x (and y) */
node *rwp_join(parser *P, node_kind k, node *x, node *y);  /* x + y or x * y, flattened */
bool rwp_elems(parser *P, nlist *out, bool semicolons);    /* a, b and c */
node *rwp_list_elem(parser *P);                            /* one element: a relation chain */
node *rwp_mul_chain(parser *P, node *l, node *(*next)(parser *)); /* l * b / c \mod d */
node *rwp_expr(parser *P);    /* a + b - c */
node *rwp_term(parser *P);    /* a * b / c, with juxtaposed factors */
node *rwp_postfix(parser *P); /* a primary with ^ _ ! % after it */
bool rwp_starts_primary(parser *P);

/* primary.c: numbers, names, words, functions, fractions, roots, groups,
 * sets, matrices, |x|, floors and ceilings */
node *rwp_primary(parser *P);
node *rwp_single(parser *P);  /* the argument of ^ _ \frac \sqrt, braced or one token */
node *rwp_num_token(parser *P, token *t); /* one numeric token, E exponent included */

/* bigop.c: \int, \sum, \prod, \lim after their token t */
node *rwp_bigop(parser *P, token *t);

#endif
