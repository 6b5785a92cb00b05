/* The steps of latex2sympy2_extended's basic normalization (normalize_latex,
 * basic_latex) that change what the unit removal and the parser see, run
 * on the text before them as Math-Verify runs them. */
#ifndef PIC_REWARD_NORMALIZE_H
#define PIC_REWARD_NORMALIZE_H

#include <stddef.h>

/* Rewrites t[0, len) in place and returns its new length (never longer):
 * - "\mathrm{d}" and "{\rm d}" become "d" (the differential of an integral,
 *   which the unit step would otherwise read as a unit);
 * - "$", "\$" and a quote not after a backslash vanish (its
 *   to_remove_regex), so a box holding its own dollars loses its unit,
 *   "\boxed{$5\text{ cm}$}" is 5, and feet are a number, "\boxed{5'}" 5;
 * - ",\ldots" and "\ldots" become a space, so "1, 2, \ldots, 9" keeps an
 *   empty element and fails to parse, while "1,2,\ldots,9" is 1, 2, 9;
 * - "\\" before a letter is one backslash ("108^{\\circ}", a doubled
 *   backslash), unless the text holds "matrix", whose rows end in "\\". */
size_t rw_normalize_basic(char *t, size_t len);

/* The rest of that step's rewrites that leave a formula's text otherwise
 * alone, for comparing two answers that did not parse as Math-Verify
 * compares its normalized strings: \dfrac, \tfrac and \cfrac are \frac,
 * \left and \right before a delimiter vanish, so does \displaystyle, and
 * \mathrm, \mathit, \mathbf, \textnormal, \textbf, \textit, \textrm are
 * \text. In place; returns the new length. */
size_t rw_normalize_text(char *t, size_t len);

#endif
