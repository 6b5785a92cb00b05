/* Backward searches in a byte buffer, shared by the answer extractors: the
 * last occurrence of a word before an end, exact or ASCII case-insensitive
 * (the word given in lower case). (size_t)-1 when there is none. Linear in
 * end for the short words the extractors look for. */
#ifndef PIC_REWARD_TEXTSEARCH_H
#define PIC_REWARD_TEXTSEARCH_H

#include <stdbool.h>
#include <stddef.h>

size_t rw_rfind(const char *s, size_t end, const char *w);
size_t rw_rfind_ci(const char *s, size_t end, const char *w);
/* Whether s[0..n) holds a '$' that a backslash does not escape ("\\$10" is
 * money written in LaTeX, no math delimiter). */
bool rw_has_dollar(const char *s, size_t n);

#endif
