/* Deciding whether a predicted answer tree equals the gold one, with
 * Math-Verify's rules (docs/reward.md lists where and why pic-reward differs). */
#ifndef PIC_REWARD_EQUIV_H
#define PIC_REWARD_EQUIV_H

#include "reward/ast.h"

typedef struct {
    int float_places; /* decimals kept when a float is compared with a rational (6) */
    bool strict;      /* variables must match by name (Math-Verify's strict=True) */
    bool set_relation; /* a gold relation may match a pred set (allow_set_relation_comp) */
    bool symbol_names; /* a lone symbol meets only names, as the grader's sympy_compare_symbols
                          (off to ask only whether two parses are one value) */
} rw_equiv_opts;

/* Temporary nodes (differences, unwrapped relations) go to a. */
bool rw_equiv(rw_arena *a, const node *gold, const node *pred, const rw_equiv_opts *o);

#endif
