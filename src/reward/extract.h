/* Finding the final answer in a model response, in Math-Verify's order:
 * \boxed{} / \fbox{} first, then "final answer is ...", then "answer: ...",
 * then the rightmost LaTeX math or plain number that parses. */
#ifndef PIC_REWARD_EXTRACT_H
#define PIC_REWARD_EXTRACT_H

#include "reward/ast.h"

typedef struct {
    bool boxed;       /* look for \boxed{} first (Math-Verify's boxed_match_priority=0) */
    bool after_think; /* with a </think>, read only what follows it; an unclosed <think> has no answer */
    bool whole;       /* when nothing is found, parse the whole text as one answer */
    bool plain;       /* plain numbers and arithmetic, outside LaTeX (ExprExtractionConfig) */
    bool latex;       /* math environments and bare \frac{1}{2} (LatexExtractionConfig) */
    bool whole_first; /* parse the whole text first when it has no math delimiters (gold answers) */
    bool units;       /* drop trailing units as Math-Verify's normalization does (units.h) */
} rw_extract_opts;

typedef struct {
    node *tree;       /* the parsed answer, or NULL */
    const char *text; /* the extracted text (NUL-terminated, in the arena), or NULL */
    size_t len;
    const char *how;  /* which rule found it: "boxed", "final answer", ... */
    size_t fblen;     /* of text, what Math-Verify's fallback string holds: a plain
                         number's digits without its percent sign */
} rw_answer;

/* Reads s[0..n) (any bytes; bounded work for any n). Returns true when some
 * text was extracted; out->tree is set when it also parsed. */
bool rw_extract(rw_arena *a, const char *s, size_t n, const rw_extract_opts *o, rw_answer *out);

/* t[0, len) without the sentence's end written inside the delimiters
 * ("$\frac{1}{3}.$", "$x,$"), as Math-Verify reads a trailing period; an
 * ellipsis ("1, 2, ...") stays. */
size_t rw_drop_sentence_end(const char *t, size_t len);

#endif
