/* Plain numbers and arithmetic as answer candidates (extract_ex.h):
 * Math-Verify's ExprExtractionConfig forms, the prefix a number needs and
 * where the expression its pattern takes ends. */
#include <ctype.h>
#include <string.h>

#include "reward/extract_ex.h"
#include "reward/textsearch.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

/* Arithmetic that opens with a parenthesis, as Math-Verify's expression
 * pattern allows it to start (-?\(?-?\d with the parenthesis): "(1+2)*3",
 * "-(2+3)", "(-1+4)/3". The index of its first digit, or 0. */
size_t ex_paren_start(const char *s, size_t n, size_t i) {
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

/* A plain number at i (Math-Verify's ExprExtractionConfig forms): "1,000.5",
 * "1 000", "1000,99" (decimal comma), ".5", "-3", a mixed number "4 4/9",
 * and arithmetic like "1/3" (when arith is set). Writes its normalized text
 * to buf. *span is where the arithmetic Math-Verify's expression pattern
 * would consume ends, also when that text is no expression ("11\n5/6"):
 * no other expression starts inside it. */
size_t ex_plain_at(const char *s, size_t n, size_t i, char *buf, size_t cap, size_t *blen, bool arith,
                   size_t *span) {
    size_t j = i, m = 0;
    if (span) *span = i;
    /* a parenthesis first: arithmetic or nothing (an interval or a tuple
     * holds a comma, which no expression does) */
    size_t lead = ex_paren_start(s, n, i);
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
    bool groups = false, comma_groups = false;
    if (hl >= 1 && hl <= 3 && s[head] != '0') {
        /* Math-Verify's (?:[ ,]\d{3})+ has no lookahead: a group takes
         * three digits of a longer run, so "1,2345" is 1234 there (its
         * number_re, parser.py lazy_expr_regex), not the decimal 1.2345 */
        while (j + 3 < n && (s[j] == ',' || s[j] == ' ') && is_digit(s[j + 1]) && is_digit(s[j + 2]) &&
               is_digit(s[j + 3]) && m < cap - 8) {
            memcpy(buf + m, s + j + 1, 3);
            m += 3;
            comma_groups = comma_groups || s[j] == ',';
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
     * "**" and holds no comma: "$18**", "1,200**" are its number pattern's;
     * spaces it holds, so "1 000 + 3" is its expression, which Python's
     * parser rejects */
    if (!arith || comma_groups || comma || currency_before(s, i)) return j;
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
bool ex_anchored(const char *s, size_t i) {
    size_t k = i - currency_before(s, i);
    if (k >= 2 && s[k - 1] == '*' && s[k - 2] == '*') k -= 2;
    return k == 0 || rw_space_before(s, k) || s[k - 1] == '=';
}

/* A plain value; with whole, arithmetic after the number that Math-Verify's
 * expression pattern takes but cannot parse ("12 (3 rows", "3 \u00d7 4")
 * gives nothing, as at its anchored priorities the pattern's match is the
 * expression, not the number in it. */
bool ex_try_plain(ex *X, size_t i, bool arith, bool whole, const char *how) {
    char buf[512];
    size_t blen = 0, span;
    size_t e = ex_plain_at(X->s, X->n, i, buf, sizeof buf - 8, &blen, arith, &span);
    if (!e || (whole && span > e)) return false;
    bool pct = ex_percent_after(X->s, X->n, e, false);
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
    return (is_digit(s[j]) || (s[j] == '-' && j + 1 < X->n && is_digit(s[j + 1])) || ex_paren_start(s, X->n, j)) &&
           ex_anchored(s, j);
}

/* The number after a prefix character at q (Math-Verify's
 * (?:^|\s|=)(?:\*\*)?[currency]?): its start, or -1. */
size_t ex_number_after_prefix(const ex *X, size_t q) {
    const char *s = X->s;
    size_t n = X->n;
    if (q >= n) return (size_t)-1; /* before s[q]: a text ending in "final answer is" */
    size_t j = q + (s[q] == '=' ? 1 : rw_space_at(s, n, q));
    if (j == q) return (size_t)-1;
    if (j + 1 < n && s[j] == '*' && s[j + 1] == '*') j += 2;
    if (j < n && number_start(X, j)) return j;
    /* a currency sign of 1 to 3 bytes (ex_anchored() knows which) */
    for (size_t c = 1; c <= 3 && j + c < n; c++)
        if (currency_before(s, j + c) == c && number_start(X, j + c)) return j + c;
    return (size_t)-1;
}

/* Whether "\s*=" follows s[e]: Math-Verify's (?!\s*=) after an answer's
 * value, which is then no answer ("the answer is 2x = 10"). */
bool ex_equals_after(const ex *X, size_t e) {
    for (size_t w; (w = rw_space_at(X->s, X->n, e));) e += w;
    return e < X->n && X->s[e] == '=';
}

/* A plain value at j and where it ends (the expression Math-Verify's
 * pattern takes, when longer), or 0. */
size_t ex_plain_end(const ex *X, size_t j) {
    char buf[512];
    size_t blen, span, e = ex_plain_at(X->s, X->n, j, buf, sizeof buf - 8, &blen, true, &span);
    return e && span > e ? span : e;
}
