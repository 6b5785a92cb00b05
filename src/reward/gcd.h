/* gcd and lcm with symbolic arguments, rewritten after parsing (gcd.c). */
#ifndef PIC_REWARD_GCD_H
#define PIC_REWARD_GCD_H

#include "reward/ast.h"

/* x with every gcd/lcm of symbolic arguments replaced by the product SymPy
 * gives (gcd(125, 50x) = 25, lcm(x, y) = xy); numeric ones stay for eval.c.
 * Shares unchanged subtrees with x; returns x when nothing changed. */
node *rw_gcd_rewrite(rw_arena *a, node *x);

#endif
