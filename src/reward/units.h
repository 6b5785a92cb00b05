/* Math-Verify's unit removal: latex2sympy2_extended's normalize_latex with
 * units on, as Math-Verify's LaTeX extraction runs it on every answer. */
#ifndef PIC_REWARD_UNITS_H
#define PIC_REWARD_UNITS_H

#include <stdbool.h>
#include <stddef.h>

/* The length of t[0, len) once a trailing \text{...} and trailing unit
 * words are dropped (never 0: a text that would vanish is kept whole).
 * padded: the text came with whitespace after it (a math environment's
 * "\[ 12 \text{ apples} \]"), which the \text rule's pattern, anchored
 * at the end, does not reach past; the unit words' pattern does. */
size_t rw_strip_units(const char *t, size_t len, bool padded);

#endif
