/* Sets of real numbers compared as sets (realset.c): intervals, finite sets
 * of numbers, R and the empty set, and their unions, intersections and
 * differences, as Math-Verify compares two sets with SymPy's
 * symmetric_difference(...).is_empty. */
#ifndef PIC_REWARD_REALSET_H
#define PIC_REWARD_REALSET_H

#include <stdbool.h>

#include "reward/ast.h"

/* 1 when a and b are the same set of reals, 0 when they are different ones,
 * -1 when either is not such a set with numeric bounds (a variable bound, a
 * tuple, a complex element, more than a few pieces). */
int rw_same_real_set(const node *a, const node *b);

#endif
