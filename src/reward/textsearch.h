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
/* Python's whitespace, which Math-Verify's regular expressions (\s) and
 * str.strip() take: ASCII's \t \n \v \f \r and space, \x1c to \x1f, and
 * in UTF-8 U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000. The bytes of the one at s[i] of s[0, n), or of the
 * one ending at s[i); 0 when there is none. */
size_t rw_space_at(const char *s, size_t n, size_t i);
size_t rw_space_before(const char *s, size_t i);
/* The index k characters (UTF-8 code points, as Python's str counts them)
 * after s[i], at most n: the end of Math-Verify's .{0,k} windows, which
 * count characters, not bytes ("Janet\u2019s" is 7 there, 9 bytes). */
size_t rw_chars_ahead(const char *s, size_t n, size_t i, size_t k);

#endif
