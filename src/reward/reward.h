/* pic-reward's library: one (gold, response) check from text to verdict.
 * Everything a check allocates lives in the checker's arena, reset per check. */
#ifndef PIC_REWARD_REWARD_H
#define PIC_REWARD_REWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "reward/ast.h"
#include "reward/equiv.h"
#include "reward/extract.h"

typedef struct {
    rw_extract_opts pred;  /* how answers are found in responses */
    rw_extract_opts gold;  /* and in gold answers */
    rw_equiv_opts eq;
} rw_opts;

/* Math-Verify's defaults as pic-reward applies them (docs/reward.md). */
rw_opts rw_default_opts(void);

typedef struct {
    rw_answer gold, pred;
    bool correct;
    char choice; /* when the gold is a choice letter, the one the response chose (0: none) */
} rw_result;

typedef struct {
    rw_arena arena;
} rw_checker;

void rw_checker_init(rw_checker *c);
void rw_checker_free(rw_checker *c);

/* Checks one response against one gold answer. The result points into the
 * checker's arena: valid until the next call. */
void rw_check(rw_checker *c, const char *gold, size_t gn, const char *pred, size_t pn, const rw_opts *o,
              rw_result *r);

/* Only extraction (for --extract). */
void rw_extract_only(rw_checker *c, const char *s, size_t n, const rw_extract_opts *o, rw_answer *out);

#endif
