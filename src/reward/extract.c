/* Answer extraction (extract.h). Hand-written scanners instead of regular
 * expressions: each pass is linear in the response, so a 10 MB response or
 * 10^5 unbalanced braces costs milliseconds, not a backtracking blow-up. */
#include "reward/extract.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reward/extract_ex.h"
#include "reward/normalize.h"
#include "reward/parse.h"
#include "reward/textsearch.h"
#include "reward/units.h"

typedef struct {
    size_t start, end;  /* the whole match, for ordering and overlap */
    size_t c0, c1;      /* the content */
    bool latex, percent;
    bool arith; /* a plain candidate that may be arithmetic (not inside a failed expression) */
    int chain;  /* an environment's place in its match: 0 opens one, k the kth chained to it */
} cand;

void ex_note_failed(ex *X, size_t lo, size_t hi) {
    if (X->nfailed < MAX_CANDIDATES) X->failed_lo[X->nfailed] = lo, X->failed_hi[X->nfailed++] = hi;
}

static bool in_failed(const ex *X, size_t lo, size_t hi) {
    for (int f = 0; f < X->nfailed; f++)
        if (lo < X->failed_hi[f] && hi > X->failed_lo[f]) return true;
    return false;
}

/* Whether t[len - 1] is escaped: an odd run of backslashes before it. */
static bool escaped(const char *t, size_t len) {
    size_t k = len - 1, b = 0;
    while (k > 0 && t[k - 1] == '\\') k--, b++;
    return b % 2 == 1;
}

/* Trailing whitespace, except the space of a "\ " spacing command. */
static size_t trim_end(const char *t, size_t len) {
    size_t orig = len;
    for (size_t w; (w = rw_space_before(t, len));) len -= w;
    if (len < orig && escaped(t, len + 1)) len += rw_space_at(t, orig, len);
    return len;
}

/* Sentence punctuation written inside the delimiters ("$\frac{1}{3}.$",
 * "$x,$") ends the sentence, not the answer; an ellipsis ("1, 2, ...")
 * is part of it, and so is the comma of the thin space "\,". */
size_t rw_drop_sentence_end(const char *t, size_t len) {
    if (len >= 2 && (t[len - 1] == '.' || t[len - 1] == ',') && t[len - 2] != '.' && !escaped(t, len))
        len = trim_end(t, len - 1);
    return len;
}

bool ex_try_text(ex *X, const char *t, size_t len, const char *how) {
    for (size_t w; (w = rw_space_at(t, len, 0));) t += w, len -= w;
    bool padded = rw_space_before(t, len);
    len = trim_end(t, len);
    len = rw_drop_sentence_end(t, len);
    if (len == 0 || len > RW_MAX_ANSWER) return false;
    /* normalize_latex takes a formula's boxes out first ("$\boxed{a + b + c}$"
     * is normalized, units and all, as its box is) */
    if (memmem(t, len, "\\boxed", 6) || memmem(t, len, "\\fbox", 5)) {
        size_t bl;
        const char *b = ex_box_contents(X->a, t, len, true, &bl);
        if (b) t = b, len = bl;
        if (len == 0) return false;
    }
    const char *err;
    char *copy = rw_strndup(X->a, t, len);
    if (!copy) return false;
    len = rw_normalize_basic(copy, len);
    padded = padded || rw_space_before(copy, len);
    len = trim_end(copy, len);
    if (X->units) len = trim_end(copy, rw_strip_units(copy, len, padded));
    copy[len] = 0;
    if (!X->out->text) {
        /* the first text found is what Math-Verify falls back to comparing */
        X->out->text = copy;
        X->out->len = X->out->fblen = len;
        X->out->how = how;
    }
    node *r = X->joined ? rw_parse_parts(X->a, copy, len, &err) : rw_parse(X->a, copy, len, &err);
    if (!r) return false;
    X->out->tree = r;
    X->out->text = copy;
    X->out->len = X->out->fblen = len;
    X->out->how = how;
    return true;
}

/* Math-Verify's join of two math environments, \s*(?:,?and|,?or|,)\s*
 * (",and" but not ", and", whose comma is taken alone): the index after it
 * at k, or n when there is none; *sep_end where its whitespace begins. */
size_t ex_chain_sep(const char *s, size_t n, size_t k, size_t *sep_end) {
    for (size_t w; (w = rw_space_at(s, n, k));) k += w;
    bool comma = k < n && s[k] == ',';
    size_t w = k + comma;
    if (w + 3 <= n && !memcmp(s + w, "and", 3)) w += 3;
    else if (w + 2 <= n && !memcmp(s + w, "or", 2)) w += 2;
    else if (!comma) return n;
    *sep_end = w;
    for (size_t l; (l = rw_space_at(s, n, w));) w += l;
    return w;
}

static bool parses(ex *X, const char *t, size_t len) {
    const char *err;
    char *copy = rw_strndup(X->a, t, len);
    return copy && rw_parse(X->a, copy, len, &err);
}

/* The parts of one match (chained environments) as the answer: one list
 * when each parses, else the first alone (Math-Verify's extract_latex). */
bool ex_try_parts(ex *X, char *const t_in[], const size_t len_in[], int m, const char *how) {
    size_t total = 0, len[MAX_CHAIN];
    char *t2[MAX_CHAIN];
    char *const *t = t2;
    bool all_parse = m > 1;
    for (int k = 0; k < m; k++) t2[k] = t_in[k];
    for (int k = 0; k < m; k++) {
        len[k] = len_in[k];
        /* each environment is normalized alone, its units dropped before
         * the list is joined ("$5 \text{ cm}$ and $7 \text{ cm}$" is 5, 7) */
        if (m > 1) {
            bool padded = rw_space_before(t[k], len[k]);
            if (!(t2[k] = rw_strndup(X->a, t[k], len[k]))) return false;
            len[k] = rw_normalize_basic(t2[k], len[k]);
            padded = padded || rw_space_before(t[k], len[k]);
            len[k] = trim_end(t[k], len[k]);
            if (X->units) len[k] = trim_end(t[k], rw_strip_units(t[k], len[k], padded));
        }
        /* and read alone, so "$1,000$ and $2$" is 1000, 2 */
        if (m > 1) {
            size_t l = len[k];
            const char *w = rw_comma_number(X->a, t[k], &l);
            if (w && w != t[k]) t2[k] = (char *)w, len[k] = l;
        }
        total += len[k] + 1;
        if (all_parse) all_parse = parses(X, t[k], len[k]);
    }
    if (all_parse && total <= RW_MAX_ANSWER) {
        char *buf = rw_alloc(X->a, total);
        if (!buf) return false;
        size_t at = 0;
        for (int k = 0; k < m; k++) {
            memcpy(buf + at, t[k], len[k]);
            at += len[k];
            if (k + 1 < m) buf[at++] = ',';
        }
        X->joined = true;
        bool ok = ex_try_text(X, buf, at, how);
        X->joined = false;
        if (ok) return true;
    }
    return ex_try_text(X, t_in[0], len_in[0], how);
}

/* ex_try_parts for math environments, a percent sign after the first
 * appended to its text: Math-Verify's fallback string is the environment's
 * text alone ("$\boxed{25}$%" is 25% and falls back to "25"). */
bool ex_try_env_parts(ex *X, char *const t[], const size_t len[], int m, bool pct0, const char *how) {
    const char *before = X->out->text;
    bool ok = ex_try_parts(X, t, len, m, how);
    if (pct0 && !before && X->out->text && X->out->fblen > 0 && X->out->text[X->out->fblen - 1] == '%')
        X->out->fblen--;
    return ok;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The end of "\frac{-1}{2.5}" at s[i] (an optional '-' first): a fraction of
 * two plain numbers, which Math-Verify takes as LaTeX without delimiters;
 * else 0. */
static size_t bare_frac(const char *s, size_t n, size_t i) {
    if (s[i] == '-') i++;
    if (i + 6 > n || memcmp(s + i, "\\frac{", 6) != 0) return 0;
    i += 6;
    for (int part = 0; part < 2; part++) {
        if (part && (i >= n || s[i++] != '{')) return 0;
        if (i < n && s[i] == '-') i++;
        size_t d = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == d) return 0;
        if (i + 1 < n && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1])) {
            i++;
            while (i < n && is_digit(s[i])) i++;
        }
        if (i >= n || s[i++] != '}') return 0;
    }
    return i;
}

/* " [2, 5] ": Math-Verify's fifth environment, \s\[([^\n\]\[]+?)\]\s, square
 * brackets with whitespace on both sides and neither bracket nor line break
 * inside. */
static bool inline_bracket_at(const char *s, size_t n, size_t i, cand *c) {
    if (!rw_space_before(s, i)) return false;
    size_t k = i + 1;
    while (k < n && s[k] != ']' && s[k] != '[' && s[k] != '\n') k++;
    if (k >= n || s[k] != ']' || k == i + 1 || !rw_space_at(s, n, k + 1)) return false;
    *c = (cand){i, k + 1, i + 1, k, true, false, false, 0};
    return true;
}

/* A math environment starting exactly at i: $..$, $$..$$, \(..\), \[..\], " [..] ",
 * or a bare fraction of plain numbers, which Math-Verify's LaTeX pattern
 * takes as one more environment (its latexFraction). */
static bool env_at(const char *s, size_t n, size_t i, cand *c) {
    const char *close;
    size_t open;
    bool line = false;
    size_t fe = s[i] == '\\' || s[i] == '-' ? bare_frac(s, n, i) : 0;
    if (fe) {
        *c = (cand){i, fe, i, fe, true, false, false, 0};
        return true;
    }
    if (i + 1 < n && s[i] == '$' && s[i + 1] == '$') open = 2, close = "$$";
    else if (s[i] == '$') open = 1, close = "$", line = true;
    else if (i + 1 < n && s[i] == '\\' && s[i + 1] == '[') open = 2, close = "\\]";
    else if (i + 1 < n && s[i] == '\\' && s[i + 1] == '(') open = 2, close = "\\)", line = true;
    else if (s[i] == '[') return inline_bracket_at(s, n, i, c);
    else return false;
    size_t cl = strlen(close);
    for (size_t j = i + open; j + cl <= n; j++) {
        if (line && s[j] == '\n') return false;
        if (s[j] == '\\' && close[0] == '$' && j + 1 < n && s[j + 1] == '$') {
            j++;
            continue;
        }
        if (memcmp(s + j, close, cl) == 0) {
            *c = (cand){i, j + cl, i + open, j, true, false, false, 0};
            return true;
        }
    }
    return false;
}

/* "%", "\%" (after a math environment only: the number pattern's percent
 * group has no backslash), "percent", "percentage", "pct" (any
 * first-letter case, as Math-Verify's [Pp]ercent) right after an answer
 * make it a percentage. */
static bool percent_after(const char *s, size_t n, size_t i, bool latex) {
    while (i < n && s[i] == ' ') i++;
    if ((i < n && s[i] == '%') || (latex && i + 1 < n && s[i] == '\\' && s[i + 1] == '%')) return true;
    if (i + 3 > n || (s[i] != 'p' && s[i] != 'P')) return false;
    size_t w = memcmp(s + i + 1, "ct", 2) == 0 ? 3 : i + 7 <= n && memcmp(s + i + 1, "ercent", 6) == 0 ? 7 : 0;
    return w && (i + w >= n || !isalpha((unsigned char)s[i + w]) ||
                 (i + w + 3 <= n && memcmp(s + i + w, "age", 3) == 0));
}

/* The environments chained to c[0] (Math-Verify's latex_envs_re: up to
 * five more after ex_chain_sep), into c[1..]; their count. */
static int env_chain(const char *s, size_t n, cand c[MAX_CHAIN]) {
    int m = 1;
    while (m < MAX_CHAIN) {
        size_t w, v = ex_chain_sep(s, n, c[m - 1].end, &w);
        if (v >= n || !env_at(s, n, v, &c[m])) break;
        m++;
    }
    return m;
}

/* Joined environments as the answer: one list when each parses, else the
 * first alone (Math-Verify's extract_latex); a percent word after each
 * counts. A formula that fails is remembered, so no number is taken out of
 * it. */
static bool try_env_list(ex *X, const cand *c, int m, const char *how) {
    char *t[MAX_CHAIN] = {0};
    size_t len[MAX_CHAIN] = {0};
    bool pct0 = false;
    for (int k = 0; k < m; k++) {
        len[k] = c[k].c1 - c[k].c0;
        if (len[k] > RW_MAX_ANSWER || !(t[k] = rw_alloc(X->a, len[k] + 1))) return false;
        memcpy(t[k], X->s + c[k].c0, len[k]);
        bool pct = percent_after(X->s, X->n, c[k].end, true);
        if (pct) t[k][len[k]++] = '%';
        if (k == 0) pct0 = pct;
    }
    if (ex_try_env_parts(X, t, len, m, pct0, how)) return true;
    ex_note_failed(X, c[0].start, c[0].end);
    return false;
}

/* "4 4/9", "-1 000 4/9", "+11 5/6" at i: a whole number, one space and a
 * fraction, as Math-Verify's expression extraction reads mixed numbers. A
 * proper fraction (numerator below a nonzero denominator) makes the value
 * "(W+N/D)", negated with the sign; any other ("11 6/6", "4 4/0") is a
 * malformed number, kept as a word that equals nothing but itself. Not one
 * when the whole is a decimal or a fraction, the space is a line break, or
 * another number follows ("4 4/9 2"). Returns the end, or 0. */
static size_t mixed_at(const char *s, size_t n, size_t i, char *buf, size_t cap, size_t *blen) {
    size_t j = i;
    bool neg = j < n && s[j] == '-';
    if (j < n && (s[j] == '-' || s[j] == '+')) j++;
    size_t w0 = j;
    while (j < n && is_digit(s[j])) j++;
    if (j == w0) return 0;
    /* thousands groups of the whole, each followed by the next part */
    while (j + 4 < n && s[j] == ' ' && is_digit(s[j + 1]) && is_digit(s[j + 2]) && is_digit(s[j + 3]) && s[j + 4] == ' ')
        j += 4;
    size_t w1 = j;
    if (j >= n || s[j] != ' ') return 0;
    size_t n0 = ++j;
    while (j < n && is_digit(s[j])) j++;
    size_t n1 = j;
    if (n1 == n0 || j >= n || s[j] != '/') return 0;
    size_t d0 = ++j;
    while (j < n && is_digit(s[j])) j++;
    size_t d1 = j;
    if (d1 == d0) return 0;
    if (j < n && (s[j] == '/' || s[j] == '^' || (s[j] == '.' && j + 1 < n && is_digit(s[j + 1])))) return 0;
    if (j + 1 < n && s[j] == ' ' && is_digit(s[j + 1])) return 0;
    if ((w1 - w0) + (n1 - n0) + (d1 - d0) + 16 > cap) return 0;
    /* proper: the numerator, as a number, below the denominator */
    size_t nz = n0, dz = d0;
    while (nz + 1 < n1 && s[nz] == '0') nz++;
    while (dz + 1 < d1 && s[dz] == '0') dz++;
    bool zero_den = d1 - dz == 1 && s[dz] == '0';
    bool proper = !zero_den && ((n1 - nz) < (d1 - dz) || ((n1 - nz) == (d1 - dz) && memcmp(s + nz, s + dz, n1 - nz) < 0));
    size_t m = 0;
    if (proper) {
        if (neg) buf[m++] = '-';
        buf[m++] = '(';
        for (size_t k = w0; k < w1; k++)
            if (s[k] != ' ') buf[m++] = s[k];
        buf[m++] = '+';
    } else {
        memcpy(buf + m, "\\text{", 6);
        m += 6;
        if (neg) buf[m++] = '-';
        memcpy(buf + m, s + w0, w1 - w0);
        m += w1 - w0;
        buf[m++] = ' ';
    }
    memcpy(buf + m, s + n0, n1 - n0);
    m += n1 - n0;
    buf[m++] = '/';
    memcpy(buf + m, s + d0, d1 - d0);
    m += d1 - d0;
    buf[m++] = proper ? ')' : '}';
    *blen = m;
    return j;
}

/* Two numbers side by side with only whitespace between ("4 4/9 2",
 * "11\n5/6", "(1/2) (3)"): an expression Python's parser (Math-Verify's
 * parse_expr) rejects. */
static bool juxtaposed(const char *s, size_t from, size_t to) {
    for (size_t q = from; q + 1 < to; q++) {
        if (!(is_digit(s[q]) || s[q] == ')' || s[q] == '.') || !isspace((unsigned char)s[q + 1])) continue;
        size_t r = q + 1;
        while (r < to && isspace((unsigned char)s[r])) r++;
        if (r < to && (is_digit(s[r]) || s[r] == '(' || s[r] == '.')) return true;
    }
    return false;
}

/* A plain number at i (Math-Verify's ExprExtractionConfig forms): "1,000.5",
 * "1 000", "1000,99" (decimal comma), ".5", "-3", a mixed number "4 4/9",
 * and arithmetic like "1/3" (when arith is set). Writes its normalized text
 * to buf. *span is where the arithmetic Math-Verify's expression pattern
 * would consume ends, also when that text is no expression ("11\n5/6"):
 * no other expression starts inside it. */
/* Arithmetic that opens with a parenthesis, as Math-Verify's expression
 * pattern allows it to start (-?\(?-?\d with the parenthesis): "(1+2)*3",
 * "-(2+3)", "(-1+4)/3". The index of its first digit, or 0. */
static size_t paren_start(const char *s, size_t n, size_t i) {
    size_t j = i;
    if (j < n && s[j] == '-') j++;
    if (j >= n || s[j] != '(') return 0;
    j++;
    if (j < n && s[j] == '-') j++;
    return j < n && is_digit(s[j]) ? j : 0;
}

/* The bytes of a currency sign of Math-Verify's list ($, pound, yen, baht,
 * U+20A1..U+20BF) ending at s[i], or 0. */
static size_t currency_before(const char *s, size_t i) {
    const unsigned char *u = (const unsigned char *)s;
    if (i >= 1 && u[i - 1] == '$') return 1;
    if (i >= 2 && u[i - 2] == 0xc2 && (u[i - 1] == 0xa3 || u[i - 1] == 0xa5)) return 2;
    if (i >= 3 && u[i - 3] == 0xe2 && u[i - 2] == 0x82 && u[i - 1] >= 0xa1 && u[i - 1] <= 0xbf) return 3;
    if (i >= 3 && u[i - 3] == 0xe0 && u[i - 2] == 0xb8 && u[i - 1] == 0xbf) return 3;
    return 0;
}

/* Whether Math-Verify's expression suffix (?:\*\*)?(?:\.|,|:|\s|\)|\$|$)
 * can start at s[k]. */
static bool expr_suffix_at(const char *s, size_t n, size_t k) {
    if (k + 1 < n && s[k] == '*' && s[k + 1] == '*') k += 2;
    return k >= n || (s[k] && strchr(".,:)$", s[k])) || rw_space_at(s, n, k);
}

static size_t plain_at(const char *s, size_t n, size_t i, char *buf, size_t cap, size_t *blen, bool arith,
                       size_t *span) {
    size_t j = i, m = 0;
    if (span) *span = i;
    /* a parenthesis first: arithmetic or nothing (an interval or a tuple
     * holds a comma, which no expression does) */
    size_t lead = paren_start(s, n, i);
    if (lead) {
        if (!arith) return 0;
        goto arithmetic;
    }
    size_t mixed = arith ? mixed_at(s, n, i, buf, cap, blen) : 0;
    if (mixed) {
        if (span) *span = mixed;
        return mixed;
    }
    if (j < n && s[j] == '-') buf[m++] = '-', j++;
    if (j >= n || !(is_digit(s[j]) || (s[j] == '.' && j + 1 < n && is_digit(s[j + 1])))) return 0;
    size_t head = j;
    while (j < n && is_digit(s[j]) && m < cap - 8) buf[m++] = s[j++];
    size_t hl = j - head;
    bool groups = false;
    if (hl >= 1 && hl <= 3 && s[head] != '0') {
        while (j + 3 < n + 0 && (s[j] == ',' || s[j] == ' ') && is_digit(s[j + 1]) && is_digit(s[j + 2]) &&
               is_digit(s[j + 3]) && (j + 4 >= n || !is_digit(s[j + 4])) && m < cap - 8) {
            memcpy(buf + m, s + j + 1, 3);
            m += 3;
            j += 4;
            groups = true;
        }
    }
    bool comma = false;
    if (j + 1 < n && (s[j] == '.' || (s[j] == ',' && !groups)) && is_digit(s[j + 1])) {
        comma = s[j] == ',';
        buf[m++] = '.';
        j++;
        while (j < n && is_digit(s[j]) && m < cap - 8) buf[m++] = s[j++];
    }
    *blen = m;
    /* Math-Verify's expression starts at a digit after a space, '=' or
     * "**" and holds no comma: "$18**", "1,200**" are its number pattern's */
    if (!arith || groups || comma || currency_before(s, i)) return j;
arithmetic:;
    /* "1/3", "2^10": arithmetic directly after the number; an operator
     * after the first digit when a parenthesis opens it */
    size_t k = j;
    bool op = false, python = true; /* whether Python's parser (parse_expr) reads it */
    for (;;) {
        /* Math-Verify's operators: + - * / ^ ( ) and the signs x and / */
        size_t w = k + 1 < n && (unsigned char)s[k] == 0xc3 &&
                           ((unsigned char)s[k + 1] == 0x97 || (unsigned char)s[k + 1] == 0xb7)
                       ? 2
                       : 0;
        if (w) python = false;
        else if (k < n && s[k] && strchr("0123456789.+-*/^() \t\r\n", s[k])) w = 1;
        else if ((w = rw_space_at(s, n, k))) python = false; /* \s, which Python's tokenizer rejects (U+00A0) */
        else break;
        k += w;
        /* where the suffix can follow a character this far on, the
         * expression ends there or later: too long for buf, so no
         * expression (and "1 2 3 ..." is not read to its end from each
         * of its numbers) */
        if (k - i >= cap - 8 && !rw_space_before(s, k) && expr_suffix_at(s, n, k)) return lead ? 0 : j;
    }
    /* the pattern's expression ends where its suffix can follow: the
     * longest run of its characters before ".,:)$", a space or the end,
     * maybe after "**" ("7**" of a bold "**7**" is the expression, which
     * Python's parser rejects) */
    while (k > j && !expr_suffix_at(s, n, k)) k--;
    /* an operator with something after it ("5)" alone is no expression);
     * "(-3)." takes its period, which Python's parser rejects after ')' */
    for (size_t o = lead ? lead + 1 : j; o + 1 < k; o++) {
        op = op || strchr("+-*/^()", s[o]) || (unsigned char)s[o] == 0xc3;
        if (s[o] == ')' && s[o + 1] == '.') python = false;
    }
    /* a trailing operator ("7 +", "7**") is no Python expression */
    for (size_t w; k > j && (w = rw_space_before(s, k));) k -= w;
    if (k > j && (strchr("+-*/^(", s[k - 1]) || (k >= 2 && (unsigned char)s[k - 2] == 0xc3))) python = false;
    /* "3(4)", "(1+2)(3)": Python reads a call of a number, which SymPy's
     * parse_expr rejects (no implicit multiplication) */
    for (size_t o = i + 1; o < k; o++) {
        if (s[o] != '(') continue;
        size_t q = o;
        while (q > i && s[q - 1] == ' ') q--;
        if (q > i && (is_digit(s[q - 1]) || s[q - 1] == ')' || s[q - 1] == '.')) python = false;
    }
    if (op && k > j && (k >= n || strchr(".,:) $*\n", s[k]) || rw_space_at(s, n, k)) && k - i < cap - 8) {
        if (span) *span = k;
        if (!python || juxtaposed(s, i, k)) return lead ? 0 : j;
        int depth = 0;
        bool bal = true;
        for (size_t q = i; q < k; q++) {
            depth += s[q] == '(' ? 1 : s[q] == ')' ? -1 : 0;
            if (depth < 0) bal = false;
        }
        if (bal && depth == 0) {
            size_t b = 0;
            for (size_t q = i; q < k; q++) {
                if (s[q] == '*' && q + 1 < k && s[q + 1] == '*') { /* Python's power */
                    buf[b++] = '^';
                    q++;
                    continue;
                }
                buf[b++] = isspace((unsigned char)s[q]) ? ' ' : s[q];
            }
            *blen = b;
            return k;
        }
    }
    return lead ? 0 : j;
}

/* What may stand right before a plain number: Math-Verify's prefix
 * (?:^|\s|=)(?:\*\*)?[currency]?. A Unicode minus ("\u2212 7") or an
 * escaped dollar ("\\$100") does not, so no number is read there. */
static bool anchored(const char *s, size_t i) {
    size_t k = i - currency_before(s, i);
    if (k >= 2 && s[k - 1] == '*' && s[k - 2] == '*') k -= 2;
    return k == 0 || rw_space_before(s, k) || s[k - 1] == '=';
}

/* A plain value; with whole, arithmetic after the number that Math-Verify's
 * expression pattern takes but cannot parse ("12 (3 rows", "3 \u00d7 4")
 * gives nothing, as at its anchored priorities the pattern's match is the
 * expression, not the number in it. */
static bool try_plain(ex *X, size_t i, bool arith, bool whole, const char *how) {
    char buf[512];
    size_t blen = 0, span;
    size_t e = plain_at(X->s, X->n, i, buf, sizeof buf - 8, &blen, arith, &span);
    if (!e || (whole && span > e)) return false;
    bool pct = percent_after(X->s, X->n, e, false);
    if (pct) buf[blen++] = '%';
    const char *before = X->out->text;
    bool ok = ex_try_text(X, buf, blen, how);
    /* Math-Verify's fallback string for a number is its number_str, the
     * digits without the percent sign: "50%" falls back to "50" */
    if (pct && X->out->text != before && X->out->fblen > 0) X->out->fblen--;
    return ok;
}

static bool number_start(const ex *X, size_t j) {
    const char *s = X->s;
    return (is_digit(s[j]) || (s[j] == '-' && j + 1 < X->n && is_digit(s[j + 1])) || paren_start(s, X->n, j)) &&
           anchored(s, j);
}

/* The number after a prefix character at q (Math-Verify's
 * (?:^|\s|=)(?:\*\*)?[currency]?): its start, or -1. */
static size_t number_after_prefix(const ex *X, size_t q) {
    const char *s = X->s;
    size_t n = X->n, j = q + (s[q] == '=' ? 1 : rw_space_at(s, n, q));
    if (q >= n || j == q) return (size_t)-1;
    if (j + 1 < n && s[j] == '*' && s[j + 1] == '*') j += 2;
    if (j < n && number_start(X, j)) return j;
    /* a currency sign of 1 to 3 bytes (anchored() knows which) */
    for (size_t c = 1; c <= 3 && j + c < n; c++)
        if (currency_before(s, j + c) == c && number_start(X, j + c)) return j + c;
    return (size_t)-1;
}

/* Whether "\s*=" follows s[e]: Math-Verify's (?!\s*=) after an answer's
 * value, which is then no answer ("the answer is 2x = 10"). */
static bool equals_after(const ex *X, size_t e) {
    for (size_t w; (w = rw_space_at(X->s, X->n, e));) e += w;
    return e < X->n && X->s[e] == '=';
}

/* A plain value at j and where it ends (the expression Math-Verify's
 * pattern takes, when longer), or 0. */
static size_t plain_end(const ex *X, size_t j) {
    char buf[512];
    size_t blen, span, e = plain_at(X->s, X->n, j, buf, sizeof buf - 8, &blen, true, &span);
    return e && span > e ? span : e;
}

/* One match of an anchored pattern: the LaTeX one's environments (nenv of
 * them, chained) or the expression one's plain value at num. */
typedef struct {
    size_t start, end;
    cand env[MAX_CHAIN];
    int nenv;
    size_t num;
} amatch;

/* The matches of one priority, the last MAX_CANDIDATES kept. Each pattern's
 * matches do not overlap (Python's finditer): `next` is where its last one
 * ended. */
typedef struct {
    amatch m[MAX_CANDIDATES];
    size_t n;
    size_t latex_next, expr_next;
} amatches;

static void am_env(amatches *A, size_t start, const cand *c, int nenv) {
    amatch *m = &A->m[A->n++ % MAX_CANDIDATES];
    *m = (amatch){.start = start, .end = c[nenv - 1].end, .nenv = nenv};
    memcpy(m->env, c, sizeof(cand) * (size_t)nenv);
    A->latex_next = m->end;
}

static void am_num(amatches *A, const ex *X, size_t start, size_t num) {
    amatch *m = &A->m[A->n++ % MAX_CANDIDATES];
    *m = (amatch){.start = start, .end = plain_end(X, num), .num = num};
    A->expr_next = m->end;
}

/* Math-Verify's order within a priority: the match ending last first, then
 * the one starting first; the two patterns' matches of one anchor that end
 * together, the one whose value starts first. */
static int am_order(const void *pa, const void *pb) {
    const amatch *a = *(const amatch *const *)pa, *b = *(const amatch *const *)pb;
    if (a->end != b->end) return a->end > b->end ? -1 : 1;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    size_t va = a->nenv ? a->env[0].start : a->num, vb = b->nenv ? b->env[0].start : b->num;
    return va < vb ? -1 : va > vb;
}

/* Tries the matches in that order: the first that parses is the answer.
 * A formula that fails is remembered, so no plain value inside it counts. */
static bool am_try(ex *X, amatches *A, const char *how) {
    const amatch *order[MAX_CANDIDATES];
    size_t k = A->n < MAX_CANDIDATES ? A->n : MAX_CANDIDATES;
    for (size_t j = 0; j < k; j++) order[j] = &A->m[(A->n - k + j) % MAX_CANDIDATES];
    qsort(order, k, sizeof *order, am_order);
    for (size_t j = 0; j < k; j++) {
        const amatch *m = order[j];
        if (m->nenv ? try_env_list(X, m->env, m->nenv, how)
                    : !in_failed(X, m->num, m->num + 1) && try_plain(X, m->num, true, true, how))
            return true;
    }
    return false;
}

/* Where an opener of each kind ($$, \[, $, \( ) was last found unclosed:
 * no other opener of its kind in [from, until) closes either (until is the
 * end of the text, or of the line for $ and \(, which close on their
 * line), so a text full of anchors and openers is read in linear time. */
typedef struct {
    size_t from, until;
} unclosed;
typedef struct {
    unclosed display, bracket, inline_, paren;
} openers;

static bool env_at_seen(const ex *X, openers *o, size_t j, cand *c) {
    const char *s = X->s;
    size_t n = X->n;
    unclosed *u;
    if (j + 1 < n && s[j] == '$' && s[j + 1] == '$') u = &o->display;
    else if (s[j] == '$') u = &o->inline_;
    else if (j + 1 < n && s[j] == '\\' && s[j + 1] == '[') u = &o->bracket;
    else if (j + 1 < n && s[j] == '\\' && s[j + 1] == '(') u = &o->paren;
    else return env_at(s, n, j, c); /* a bare fraction: as long as its digits */
    if (u->from <= j && j < u->until) return false;
    if (env_at(s, n, j, c)) return true;
    const char *eol = u == &o->inline_ || u == &o->paren ? memchr(s + j, '\n', n - j) : NULL;
    *u = (unclosed){j, eol ? (size_t)(eol - s) : n};
    return false;
}

/* A math environment (with those chained to it) starting in s[from..to]. */
static int env_within(const ex *X, openers *o, size_t from, size_t to, cand c[MAX_CHAIN]) {
    const char *s = X->s;
    for (size_t j = from; X->latex && j < X->n && j <= to; j++)
        if ((s[j] == '$' || s[j] == '\\' || s[j] == '-' || s[j] == '[') && env_at_seen(X, o, j, &c[0]))
            return env_chain(s, X->n, c);
    return 0;
}

/* "final answer.{0,100}?\s+is\:?" then a value (Math-Verify's priority 50).
 * The LaTeX pattern (DOTALL) takes, after the first "is" that has one, a
 * math environment behind any whitespace; the expression pattern's '.'
 * stops at a line break, and its value needs one space or '=' before it.
 * Every "final answer" is tried, the match ending last first. */
static bool try_final(ex *X) {
    const char *s = X->s;
    size_t n = X->n;
    amatches A = {0};
    openers o = {0};
    for (size_t p = 0; p + 12 <= n; p++) {
        if (strncasecmp(s + p, "final answer", 12) != 0) continue;
        size_t i = p + 12, lim = i + 100 < n ? i + 100 : n, eol = i;
        while (eol < lim && s[eol] != '\n') eol++;
        bool latex = X->latex && p >= A.latex_next, plain = X->plain && p >= A.expr_next;
        for (size_t j = i; j <= lim && j < n && (latex || plain); j++) {
            if (!rw_space_at(s, n, j)) continue;
            size_t w = j;
            for (size_t l; (l = rw_space_at(s, n, w));) w += l;
            if (!(w + 2 <= n && s[w] == 'i' && s[w + 1] == 's')) {
                j = w - 1; /* the run's other spaces reach the same w */
                continue;
            }
            size_t k = w + 2;
            if (k < n && s[k] == ':') k++;
            cand c[MAX_CHAIN];
            size_t v = k;
            for (size_t l; (l = rw_space_at(s, n, v));) v += l;
            int nenv = latex ? env_within(X, &o, v, v, c) : 0;
            if (nenv) {
                am_env(&A, p, c, nenv);
                latex = false;
            }
            size_t num = plain && j <= eol ? number_after_prefix(X, k) : (size_t)-1;
            if (num != (size_t)-1) {
                am_num(&A, X, p, num);
                plain = false;
            }
        }
    }
    return am_try(X, &A, "final answer");
}

/* An answer word (any case) at s[i], followed by a colon when colon is
 * set: its length, or 0. */
static size_t answer_word_at(const char *s, size_t n, size_t i, bool colon) {
    /* the word in the languages lighteval's multilingual tests use */
    static const char *const words[] = {"answer", "r\xc3\xa9ponse", "respuesta", "antwort"};
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        size_t l = strlen(words[w]);
        if (i + l <= n && strncasecmp(s + i, words[w], l) == 0 && (!colon || (i + l < n && s[i + l] == ':')))
            return l;
    }
    return 0;
}

/* "Answer: ... X" (Math-Verify's priority 100) before "answer ... X" (200).
 * At each priority Math-Verify has two patterns. The LaTeX one takes the
 * first math environment starting within 50 bytes (across lines), with
 * those chained to it. The expression one,
 * answer(?:.{0,100}=\s*|.{0,50}?)VALUE(?!\s*=) without DOTALL, takes the
 * value after an '=' within 100 bytes of the line, the last first, when
 * whitespace stands between them (the '=' is taken, and VALUE needs a
 * space or '=' before it: "x=5" has none), else the first value within 50
 * bytes of the line after a space or '='; a value followed by '=' is none.
 * Every answer word is tried, the match ending last first, so "Answer: 2\nSome
 * note $5$" is 5 and "The answer is 12. ... I hope this answer helps" 12. */
static bool try_answer(ex *X, bool colon) {
    const char *s = X->s;
    size_t n = X->n;
    amatches A = {0};
    openers o = {0};
    for (size_t p = 0; p < n; p++) {
        char c0 = (char)tolower((unsigned char)s[p]);
        size_t wl = c0 == 'a' || c0 == 'r' ? answer_word_at(s, n, p, colon) : 0;
        if (!wl) continue;
        size_t i = p + wl;
        if (i < n && s[i] == ':') i++;
        cand env[MAX_CHAIN];
        int nenv = p >= A.latex_next ? env_within(X, &o, i, i + 50, env) : 0;
        if (nenv) am_env(&A, p, env, nenv);
        if (!X->plain || p < A.expr_next) continue;
        size_t num = (size_t)-1, line = i;
        while (line < n && line < i + 101 && s[line] != '\n') line++;
        for (size_t eq = line; num == (size_t)-1 && eq-- > i;) {
            if (s[eq] != '=' || !rw_space_at(s, n, eq + 1)) continue;
            size_t q = eq + 1;
            for (size_t l; (l = rw_space_at(s, n, q)) && rw_space_at(s, n, q + l);) q += l;
            size_t v = number_after_prefix(X, q);
            if (v != (size_t)-1 && !equals_after(X, plain_end(X, v))) num = v;
        }
        for (size_t q = i; num == (size_t)-1 && q < n && q <= i + 50; q++) {
            size_t v = number_after_prefix(X, q);
            if (v != (size_t)-1 && !equals_after(X, plain_end(X, v))) num = v;
            if (s[q] == '\n') break; /* the '.' before the prefix stops at a line break */
        }
        if (num != (size_t)-1) am_num(&A, X, p, num);
    }
    return am_try(X, &A, "answer");
}

/* "$21, 16$ or $11$": environments joined by Math-Verify's separators are
 * one match, which starts at the first of them; c[k] is its last. */
static bool try_env(ex *X, const cand *c, int k) {
    int first = k - c[k].chain > 0 ? k - c[k].chain : 0;
    if (try_env_list(X, c + first, k - first + 1, "latex")) return true;
    /* the list failed with its first formula: the number of a later one
     * (" $42$") is still a match of the expression pattern, which ends
     * before the list does (test_same_priority_and_multiple_latex_groups) */
    return first < k && ex_try_text(X, X->s + c[k].c0, c[k].c1 - c[k].c0, "latex");
}

/* Keeps c, the latest of the environments in envs (a ring of the last
 * MAX_CANDIDATES): Python's finditer chains them from the left, each match
 * the first and up to five more, so seven in a row are six and one, the
 * last alone ("$1$, ..., $7$" is 7). */
static void push_env(const char *s, size_t n, cand envs[MAX_CANDIDATES], size_t *ne, cand *c) {
    const cand *prev = *ne ? &envs[(*ne - 1) % MAX_CANDIDATES] : NULL;
    size_t w;
    c->chain = prev && prev->chain < MAX_CHAIN - 1 && ex_chain_sep(s, n, prev->end, &w) == c->start ? prev->chain + 1 : 0;
    envs[(*ne)++ % MAX_CANDIDATES] = *c;
}

/* The rightmost math environment or plain number that parses. One forward
 * pass keeps the last MAX_CANDIDATES of each; they are tried by end
 * position, right to left, skipping numbers inside a formula that failed. */
static bool try_rightmost(ex *X) {
    const char *s = X->s;
    size_t n = X->n;
    cand envs[MAX_CANDIDATES], nums[MAX_CANDIDATES];
    size_t ne = 0, nn = 0;
    bool no_display = false, no_bracket = false, no_paren = false;
    size_t no_arith_until = 0;
    for (size_t i = 0; i < n;) {
        cand c;
        bool dollar = X->latex && s[i] == '$' && (i == 0 || (s[i - 1] != '\\' && !is_digit(s[i - 1])));
        bool display = dollar && i + 1 < n && s[i + 1] == '$';
        bool bracket = X->latex && s[i] == '\\' && i + 1 < n && s[i + 1] == '[';
        bool paren = X->latex && s[i] == '\\' && i + 1 < n && s[i + 1] == '(';
        /* a bare fraction or " [..] ", each bounded by its own text */
        bool short_env = X->latex && (s[i] == '[' || ((s[i] == '\\' || s[i] == '-') && bare_frac(s, n, i)));
        if (short_env && env_at(s, n, i, &c)) {
            push_env(s, n, envs, &ne, &c);
            i = c.end;
            continue;
        }
        if ((dollar && !(display && no_display)) || (bracket && !no_bracket) || (paren && !no_paren)) {
            if (env_at(s, n, i, &c)) {
                push_env(s, n, envs, &ne, &c);
                i = c.end;
                continue;
            }
            /* an unclosed opener stays unclosed: never search for it again */
            if (display) no_display = true;
            if (bracket) no_bracket = true;
            if (paren) no_paren = true;
            if (dollar && !display) {
                /* no '$' closes it on this line, so none opens another there
                 * either: go on reading ("$1,000.99" is money, its number
                 * still counts), and the scans stay linear */
                i++;
                continue;
            }
            i += 2;
            continue;
        }
        if ((is_digit(s[i]) || ((s[i] == '-' || s[i] == '+') && i + 1 < n && is_digit(s[i + 1])) ||
             (s[i] == '.' && i + 1 < n && is_digit(s[i + 1])) || paren_start(s, n, i)) && anchored(s, i)) {
            char buf[512];
            size_t blen, span, e = plain_at(s, n, i, buf, sizeof buf - 8, &blen, i >= no_arith_until, &span);
            /* inside an expression that does not parse, its numbers still count */
            if (span > e) no_arith_until = span;
            if (e > i) {
                nums[nn++ % MAX_CANDIDATES] = (cand){i, e, i, e, false, false, i >= no_arith_until || span > e, 0};
                i = e;
                continue;
            }
        }
        /* skip the rest of a word or number that is not anchored */
        if (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == ',') {
            while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == ',')) i++;
            continue;
        }
        i++;
    }
    /* the kept candidates in order of position */
    cand e2[MAX_CANDIDATES], n2[MAX_CANDIDATES];
    int ke = (int)(ne < MAX_CANDIDATES ? ne : MAX_CANDIDATES), kn = (int)(nn < MAX_CANDIDATES ? nn : MAX_CANDIDATES);
    for (int j = 0; j < ke; j++) e2[j] = envs[(ne - (size_t)ke + (size_t)j) % MAX_CANDIDATES];
    for (int j = 0; j < kn; j++) n2[j] = nums[(nn - (size_t)kn + (size_t)j) % MAX_CANDIDATES];
    int a = ke - 1, b = kn - 1;
    while (a >= 0 || b >= 0) {
        if (a >= 0 && (b < 0 || e2[a].end >= n2[b].end)) {
            /* one chained to a later environment was tried with it */
            if (a + 1 < ke && e2[a + 1].chain > 0) {
                a--;
                continue;
            }
            if (try_env(X, e2, a)) return true;
            ex_note_failed(X, e2[a].start, e2[a].end);
            a--;
        } else {
            bool inside = in_failed(X, n2[b].start, n2[b].end);
            if (!inside && X->plain && try_plain(X, n2[b].start, n2[b].arith, false, "number")) return true;
            /* arithmetic that does not parse ("3**." of "**3**."): its
             * number alone, which Math-Verify's number pattern also found */
            if (!inside && X->plain && n2[b].arith && try_plain(X, n2[b].start, false, false, "number")) return true;
            b--;
        }
    }
    return false;
}

bool rw_extract(rw_arena *a, const char *s, size_t n, const rw_extract_opts *o, rw_answer *out) {
    *out = (rw_answer){0};
    if (o->after_think) {
        size_t t = rw_rfind(s, n, "</think>");
        if (t != (size_t)-1) {
            s += t + 8;
            n -= t + 8;
        } else if (rw_rfind(s, n, "<think>") != (size_t)-1) {
            return false; /* still thinking: no answer yet */
        }
    }
    ex X = {.a = a, .s = s, .n = n, .out = out, .plain = o->plain, .latex = o->latex, .units = o->units};
    /* "final answer is X. I hope..." ranks with \\boxed{}: the later one wins */
    size_t fa = rw_rfind_ci(s, n, "final answer is");
    if (o->boxed && fa != (size_t)-1 && memmem(s + fa, n - fa < 300 ? n - fa : 300, "I hope", 6)) {
        size_t b = rw_rfind(s, n, "\\boxed"), f = rw_rfind(s, n, "\\fbox");
        size_t last = b == (size_t)-1 ? f : f == (size_t)-1 ? b : (b > f ? b : f);
        if ((last == (size_t)-1 || fa > last) && try_final(&X)) return true;
    }
    if (o->boxed && ex_try_boxed(&X)) return true;
    if (try_final(&X) || try_answer(&X, true) || try_answer(&X, false) || try_rightmost(&X)) return true;
    if (o->whole && n <= RW_MAX_ANSWER && !rw_has_dollar(s, n)) {
        if (ex_try_text(&X, s, n, "whole")) return true;
    }
    return out->text != NULL;
}
