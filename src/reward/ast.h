/* The expression tree pic-reward parses answers into.
 *
 * Nodes live in a per-check arena with hard caps on count and text, so that
 * no input can make a check allocate or recurse without bound: a parse that
 * would exceed a cap fails and the answer counts as unparsable. */
#ifndef PIC_REWARD_AST_H
#define PIC_REWARD_AST_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds on one parsed answer (docs/reward.md, "Bounded work"). */
enum {
    RW_MAX_NODES = 4096,    /* nodes per answer */
    RW_MAX_DEPTH = 96,      /* parser recursion */
    RW_MAX_ANSWER = 8192,   /* bytes of one extracted answer */
    RW_MAX_DIGITS = 400,    /* digits of one numeric literal */
};

typedef enum {
    N_NUM,      /* exact decimal literal: digits * 10^-scale */
    N_SYM,      /* a variable or a word: name */
    N_CONST,    /* pi, e, i, infinity: cval */
    N_ADD,      /* n-ary sum */
    N_MUL,      /* n-ary product */
    N_NEG,
    N_DIV,      /* a / b */
    N_POW,      /* a ^ b */
    N_FUNC,     /* a known function: fn, kids are its arguments */
    N_UFUNC,    /* an unknown function f(x): name, kids */
    N_OPAQUE,   /* integrals, limits, ...: compared by their text only */
    N_REL,      /* a chain a op b op c: kids, rel[] */
    N_SET,      /* {a, b}: unordered */
    N_TUPLE,    /* (a, b, c): ordered */
    N_INTERVAL, /* (a, b], with lopen/ropen; "(a, b)" may also be a tuple */
    N_SETOP,    /* union / intersection / difference: fn */
    N_SPECIAL,  /* R, Q, C, Z, N, the empty set: cval */
    N_MATRIX,   /* rows x cols, kids row-major */
} node_kind;

typedef enum { C_PI, C_E, C_I, C_INF, C_REALS, C_RATIONALS, C_COMPLEXES, C_INTEGERS,
               C_NATURALS, C_EMPTY } const_id;

typedef enum { R_EQ, R_NE, R_LT, R_LE, R_GT, R_GE, R_IN } rel_id;

typedef enum {
    F_SQRT, F_ROOT, F_EXP, F_LN, F_LOG, /* LOG: base in kid 1 (base 10 if one kid) */
    F_SIN, F_COS, F_TAN, F_COT, F_SEC, F_CSC,
    F_ASIN, F_ACOS, F_ATAN, F_ACOT, F_ASEC, F_ACSC,
    F_SINH, F_COSH, F_TANH, F_COTH, F_SECH, F_CSCH,
    F_ASINH, F_ACOSH, F_ATANH,
    F_ABS, F_FLOOR, F_CEIL, F_FACT, F_BINOM, F_GCD, F_LCM, F_MAX, F_MIN, F_MOD,
    F_DET,    /* \det of a matrix, or a vmatrix: latex2sympy computes it while parsing */
    F_PM,     /* a \pm b (kid 0 NULL for unary); expanded into a set after parsing */
    F_UNION, F_INTER, F_MINUS, /* for N_SETOP */
    F_COUNT
} func_id;

typedef struct node node;
struct node {
    node_kind kind;
    int n;          /* number of kids */
    node **kid;
    const char *name; /* N_SYM, N_UFUNC, N_OPAQUE; N_NUM: the digits */
    int scale;      /* N_NUM: decimal places */
    int fn;         /* func_id, const_id */
    bool floaty;    /* N_NUM written with a decimal point: Math-Verify's Float */
    bool percent;   /* value was divided by 100 because of a % sign */
    bool text;      /* N_SYM written as \text{...}: a word, not a variable */
    bool lopen, ropen, paren; /* N_INTERVAL; paren: written "(a, b)" */
    bool builder;   /* N_REL written as a set, {x | x > 3}: the set it describes */
    int rows, cols; /* N_MATRIX */
    rel_id *rel;    /* N_REL: n-1 operators */
};

/* A bump allocator for one check; everything is freed at once. */
typedef struct {
    char *buf;
    size_t used, cap;
    int nodes;
    bool full; /* a cap was hit: the parse fails */
} rw_arena;

void rw_arena_init(rw_arena *a, size_t cap);
void rw_arena_reset(rw_arena *a);
void rw_arena_free(rw_arena *a);
void *rw_alloc(rw_arena *a, size_t n); /* NULL (and full) when over the cap */
char *rw_strndup(rw_arena *a, const char *s, size_t n);

node *rw_node(rw_arena *a, node_kind k, int nkids);
node *rw_node2(rw_arena *a, node_kind k, node *x, node *y);
node *rw_num_int(rw_arena *a, long v);

/* A canonical text for a tree: equal text means the same tree. Writes at
 * most cap-1 bytes; returns false if it did not fit. */
bool rw_print(const node *x, char *out, size_t cap);

#endif
