/* Countdown answers (pic-reward --task countdown; docs/reward.md): the
 * final expression of a response, read with a small parser of its own and
 * evaluated exactly (GMP rationals), is correct when it uses each given
 * number exactly once (TinyZero's validate_equation) and equals the target.
 * Work is bounded for any input: linear scans, at most CD_MAX_TEXT bytes
 * parsed, CD_MAX_DEPTH nesting, as many number literals as were given. */
#ifndef PIC_REWARD_COUNTDOWN_H
#define PIC_REWARD_COUNTDOWN_H

#include <stdbool.h>
#include <stddef.h>

enum { CD_MAX_NUMBERS = 32, CD_MAX_TEXT = 1024, CD_MAX_DEPTH = 64 };
#define CD_MAX_VALUE 1000000000LL /* largest given number or literal */

typedef enum {
    CD_CORRECT,       /* each number once, value = target */
    CD_WRONG_VALUE,   /* each number once, another value */
    CD_WRONG_NUMBERS, /* a number missing, repeated or not given */
    CD_DIV_ZERO,      /* each number once, but a division by zero */
    CD_UNPARSABLE,    /* extracted, but not an expression of numbers and + - * / */
    CD_NO_ANSWER,     /* nothing extracted */
} cd_verdict;

extern const char *const cd_verdict_names[];

typedef struct {
    bool boxed;       /* look for \boxed{} first (--no-boxed turns it off) */
    bool after_think; /* read only what follows </think>; an unclosed <think> has no answer */
} cd_opts;

typedef struct {
    const char *text; /* the extracted expression, pointing into the response */
    size_t len;
    const char *how;  /* "boxed", "answer tag", "answer", "last line" */
    cd_verdict verdict;
} cd_result;

/* The final expression of s[0..n): the last \boxed{} (or \fbox{}), else the
 * last closed <answer>...</answer> (TinyZero's format), else what follows the last
 * "answer is" / "answer:" on its line that parses (a later "I hope this
 * answer helps" is passed over), else the last non-blank line; math
 * delimiters ($, \( \)), a final period and Markdown's ** and ` marks
 * around it are trimmed. */
bool cd_extract(const char *s, size_t n, const cd_opts *o, const char **text, size_t *len, const char **how);

/* Checks the response against the numbers and the target. */
void cd_check(const char *s, size_t n, const long long *numbers, int count, long long target, const cd_opts *o,
              cd_result *r);

/* The verdict for one expression text alone (no extraction). */
cd_verdict cd_judge(const char *expr, size_t len, const long long *numbers, int count, long long target);

#endif
