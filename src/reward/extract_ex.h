/* What the answer extractors share (internal to src/reward): one
 * extraction's state, and the steps both extract.c's rules and
 * extract_boxed.c's boxed patterns take to try a text as the answer. */
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

/* s[lo, hi) held a formula that failed to parse: no later rule takes a
 * number out of it. */
void ex_note_failed(ex *X, size_t lo, size_t hi);
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

#endif
