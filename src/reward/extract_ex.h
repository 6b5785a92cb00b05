/* What the answer extractors share (internal to src/reward): one
 * extraction's state, and the steps both extract.c's rules and
 * extract_boxed.c's boxed patterns take to try a text as the answer; the
 * candidates of extract_env.c (math environments) and extract_plain.c
 * (plain numbers), and the anchored phrases of extract_anchored.c. */
#ifndef PIC_REWARD_EXTRACT_EX_H
#define PIC_REWARD_EXTRACT_EX_H

#include <stdbool.h>
#include <stddef.h>

#include "reward/extract.h"

enum {
    MAX_CANDIDATES = 32, /* matches kept by a rule, formulas remembered as failed */
    MAX_CHAIN = 6,       /* a math environment and the five Math-Verify chains to it */
};

typedef struct {
    rw_arena *a;
    const char *s;
    size_t n;
    rw_answer *out;
    bool plain, latex, units;
    bool joined; /* the text tried is chained parts joined by commas (rw_parse_parts) */
    /* formulas that failed to parse: no rule takes a number out of them
     * (Math-Verify's failed_latex_spans) */
    size_t failed_lo[MAX_CANDIDATES], failed_hi[MAX_CANDIDATES];
    int nfailed;
} ex;

typedef struct {
    size_t start, end;  /* the whole match, for ordering and overlap */
    size_t c0, c1;      /* the content */
    bool latex, percent;
    bool arith; /* a plain candidate that may be arithmetic (not inside a failed expression) */
    int chain;  /* an environment's place in its match: 0 opens one, k the kth chained to it */
} cand;

/* Where an opener of each kind ($$, \[, $, \( ) was last found unclosed:
 * no other opener of its kind in [from, until) closes either (until is the
 * end of the text, or of the line for $ and \(, which close on their
 * line), so a text full of anchors and openers is read in linear time. */
typedef struct {
    size_t from, until;
} unclosed;
typedef struct {
    unclosed display, bracket, inline_, paren;
} openers;

/* s[lo, hi) held a formula that failed to parse: no later rule takes a
 * number out of it. */
void ex_note_failed(ex *X, size_t lo, size_t hi);
/* Whether s[lo, hi) overlaps a formula that failed to parse. */
bool ex_in_failed(const ex *X, size_t lo, size_t hi);
/* t[0, len) as the answer, trimmed: true when it parses (then X->out holds
 * it); the first text tried is kept either way, for comparison as text. */
bool ex_try_text(ex *X, const char *t, size_t len, const char *how);
/* The parts of one match (chained environments) as the answer: one list
 * when each parses, else the first alone (Math-Verify's extract_latex). */
bool ex_try_parts(ex *X, char *const t[], const size_t len[], int m, const char *how);
/* The same for math environments whose first had a percent sign after it,
 * appended to its text: the fallback string leaves it out. */
bool ex_try_env_parts(ex *X, char *const t[], const size_t len[], int m, bool pct0, const char *how);
/* Math-Verify's join of two math environments at s[k]: the index after it,
 * or n when there is none; *sep_end where its trailing whitespace begins. */
size_t ex_chain_sep(const char *s, size_t n, size_t k, size_t *sep_end);
/* latex2sympy2_extended's extract_boxed_content over s[0, n): the boxes'
 * contents, joined by commas, in the arena (NULL when there is no box);
 * all: every box, else the last and those close before it. */
char *ex_box_contents(rw_arena *a, const char *s, size_t n, bool all, size_t *len);
/* Math-Verify's boxed priority (extract_boxed.c). */
bool ex_try_boxed(ex *X);

/* Math environments (extract_env.c). */
/* The end of a bare "\frac{-1}{2.5}" of plain numbers at s[i], else 0. */
size_t ex_bare_frac(const char *s, size_t n, size_t i);
/* A math environment starting exactly at i, into *c. */
bool ex_env_at(const char *s, size_t n, size_t i, cand *c);
/* Whether a percent sign or word follows an answer ending at s[i]
 * ("\%" too after a math environment, latex). */
bool ex_percent_after(const char *s, size_t n, size_t i, bool latex);
/* The m joined environments c[0..m) as the answer; a formula that fails is
 * remembered. */
bool ex_try_env_list(ex *X, const cand *c, int m, const char *how);
/* A math environment, with those chained to it, starting in s[from..to]
 * (o remembers the unclosed openers): their count, or 0. */
int ex_env_within(const ex *X, openers *o, size_t from, size_t to, cand c[MAX_CHAIN]);

/* Plain numbers and arithmetic (extract_plain.c). */
/* Arithmetic opening with a parenthesis at s[i]: its first digit, or 0. */
size_t ex_paren_start(const char *s, size_t n, size_t i);
/* A plain number or arithmetic at i, its normalized text in buf: its end,
 * or 0; *span where Math-Verify's expression pattern's match ends. */
size_t ex_plain_at(const char *s, size_t n, size_t i, char *buf, size_t cap, size_t *blen, bool arith,
                   size_t *span);
/* Whether Math-Verify's prefix of a plain number stands before s[i]. */
bool ex_anchored(const char *s, size_t i);
/* The plain value at i as the answer (whole: not when an expression that
 * does not parse holds it). */
bool ex_try_plain(ex *X, size_t i, bool arith, bool whole, const char *how);
/* The number after a prefix character at q: its start, or -1. */
size_t ex_number_after_prefix(const ex *X, size_t q);
/* Whether "\s*=" follows s[e]. */
bool ex_equals_after(const ex *X, size_t e);
/* Where the plain value at j ends (its expression, when longer), or 0. */
size_t ex_plain_end(const ex *X, size_t j);

/* The anchored phrases (extract_anchored.c). */
/* "final answer ... is X": Math-Verify's priority 50. */
bool ex_try_final(ex *X);
/* "answer: X" (colon, priority 100), else "answer X" (200). */
bool ex_try_answer(ex *X, bool colon);

#endif
