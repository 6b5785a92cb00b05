/* The parser's state and the helpers that parse.c shares with bigop.c
 * (integrals, sums, products, limits). Internal to src/reward. */
#ifndef PIC_REWARD_PARSER_H
#define PIC_REWARD_PARSER_H

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

/* parse.c */
node *rwp_expr(parser *P);    /* a + b - c */
node *rwp_term(parser *P);    /* a * b / c, with juxtaposed factors */
node *rwp_postfix(parser *P); /* a primary with ^ _ ! % after it */
node *rwp_single(parser *P);  /* the argument of ^ _ \frac \sqrt, braced or one token */
bool rwp_starts_primary(parser *P);

/* bigop.c: \int, \sum, \prod, \lim after their token t */
node *rwp_bigop(parser *P, token *t);

#endif
