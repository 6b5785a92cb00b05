/* Math-Verify's unit removal: latex2sympy2_extended's normalize_latex with
 * units on, as Math-Verify's LaTeX extraction runs it on every answer. */
#ifndef PIC_REWARD_UNITS_H
#define PIC_REWARD_UNITS_H

#include <stddef.h>

/* The length of t[0, len) once a trailing \text{...} and trailing unit
 * words are dropped (never 0: a text that would vanish is kept whole). */
size_t rw_strip_units(const char *t, size_t len);

#endif
