/* Parsing one answer (LaTeX or plain text) into an expression tree. */
#ifndef PIC_REWARD_PARSE_H
#define PIC_REWARD_PARSE_H

#include "reward/ast.h"

/* Parses s[0..n) into a tree allocated in a. Returns NULL with *err set when
 * the text is not math this parser understands, or when it would exceed a
 * bound (ast.h). Never reads past s+n; NUL bytes and invalid UTF-8 fail. */
node *rw_parse(rw_arena *a, const char *s, size_t n, const char **err);

/* The same for a list joined from parts read separately (chained math
 * environments, "$x=2$ or $2$"): the first part's assignment does not
 * take the others as its set, as it does within one formula. */
node *rw_parse_parts(rw_arena *a, const char *s, size_t n, const char **err);

/* A whole answer that is a number with thousands commas ("1,000",
 * "\$12{,}000"; "0,500" with a decimal comma), as latex2sympy reads it
 * before its grammar: its digits in the arena, *n updated. s itself when
 * it is no such number; NULL for a malformed one ("0,500,000"). */
const char *rw_comma_number(rw_arena *a, const char *s, size_t *n);

#endif
