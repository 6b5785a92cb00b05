/* Tokens of an answer: LaTeX and plain text read by one lexer, so that
 * "\frac{1}{2}" and "1/2" reach the same parser. */
#ifndef PIC_REWARD_LEX_H
#define PIC_REWARD_LEX_H

#include "reward/ast.h"

/* Single-character tokens use the character itself ('+', '(', ...). */
enum {
    TK_END = 256,
    TK_NUM,    /* s/len: digits with at most one '.', thousands separators removed */
    TK_ID,     /* a letter, a Greek letter or a decorated symbol: s/len is its name */
    TK_TEXT,   /* \text{...}: s/len is the trimmed content */
    TK_FN,     /* id: func_id */
    TK_CONST,  /* id: const_id (also the special sets) */
    TK_REL,    /* id: rel_id */
    TK_SETOP,  /* id: F_UNION, F_INTER, F_MINUS */
    TK_LSET, TK_RSET, /* \{ \} */
    TK_PM, TK_MP, TK_TIMES, TK_DIV, TK_MOD,
    TK_ROWSEP, /* \\ */
    TK_BEGIN, TK_ENDENV, /* id: 1 for a matrix environment, 0 otherwise */
    TK_FRAC, TK_BINOM, TK_CHOOSE, TK_SQRT,
    TK_OPAQUE, /* \int, \sum, \prod, \lim: s/len is the command */
    TK_DEGREE, /* ^\circ, ° */
    TK_LFLOOR, TK_RFLOOR, TK_LCEIL, TK_RCEIL,
    TK_SEP,    /* "and", "or", \text{ and }: a list separator */
    TK_ARROW,  /* \to, \rightarrow: only in a limit's subscript */
};

typedef struct {
    int k;
    int id;
    const char *s;
    int len;
    bool space_before; /* whitespace preceded it (for "1 000" style numbers) */
} token;

typedef struct {
    token *t;
    int n;
} tokens;

/* Tokenizes s[0..n). Fails (returns false) on an unknown command, an
 * unbalanced \text{ or a cap. Tokens point into s or the arena. */
bool rw_lex(rw_arena *a, const char *s, size_t n, tokens *out, const char **err);

/* Whether a plain word (letters only) is one the lexer reads as what it
 * names: a unit ("cm", "degrees"), "and"/"or", "pi", "sin", "percent", ... */
bool rw_known_word(const char *w, size_t len);

#endif
