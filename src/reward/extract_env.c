/* Math environments as answer candidates (extract_ex.h): $..$, $$..$$,
 * \(..\), \[..\], " [..] " and a bare fraction of plain numbers, the
 * environments chained to one, and the search for one in a window. */
#include <ctype.h>
#include <string.h>

#include "reward/extract_ex.h"
#include "reward/textsearch.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The end of "\frac{-1}{2.5}" at s[i] (an optional '-' first): a fraction of
 * two plain numbers, which Math-Verify takes as LaTeX without delimiters;
 * else 0. */
size_t ex_bare_frac(const char *s, size_t n, size_t i) {
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
bool ex_env_at(const char *s, size_t n, size_t i, cand *c) {
    const char *close;
    size_t open;
    bool line = false;
    size_t fe = s[i] == '\\' || s[i] == '-' ? ex_bare_frac(s, n, i) : 0;
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
bool ex_percent_after(const char *s, size_t n, size_t i, bool latex) {
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
        if (v >= n || !ex_env_at(s, n, v, &c[m])) break;
        m++;
    }
    return m;
}

/* Joined environments as the answer: one list when each parses, else the
 * first alone (Math-Verify's extract_latex); a percent word after each
 * counts. A formula that fails is remembered, so no number is taken out of
 * it. */
bool ex_try_env_list(ex *X, const cand *c, int m, const char *how) {
    char *t[MAX_CHAIN] = {0};
    size_t len[MAX_CHAIN] = {0};
    bool pct0 = false;
    for (int k = 0; k < m; k++) {
        len[k] = c[k].c1 - c[k].c0;
        if (len[k] > RW_MAX_ANSWER || !(t[k] = rw_alloc(X->a, len[k] + 1))) return false;
        memcpy(t[k], X->s + c[k].c0, len[k]);
        bool pct = ex_percent_after(X->s, X->n, c[k].end, true);
        if (pct) t[k][len[k]++] = '%';
        if (k == 0) pct0 = pct;
    }
    if (ex_try_env_parts(X, t, len, m, pct0, how)) return true;
    ex_note_failed(X, c[0].start, c[0].end);
    return false;
}

static bool env_at_seen(const ex *X, openers *o, size_t j, cand *c) {
    const char *s = X->s;
    size_t n = X->n;
    unclosed *u;
    if (j + 1 < n && s[j] == '$' && s[j + 1] == '$') u = &o->display;
    else if (s[j] == '$') u = &o->inline_;
    else if (j + 1 < n && s[j] == '\\' && s[j + 1] == '[') u = &o->bracket;
    else if (j + 1 < n && s[j] == '\\' && s[j + 1] == '(') u = &o->paren;
    else return ex_env_at(s, n, j, c); /* a bare fraction: as long as its digits */
    if (u->from <= j && j < u->until) return false;
    if (ex_env_at(s, n, j, c)) return true;
    const char *eol = u == &o->inline_ || u == &o->paren ? memchr(s + j, '\n', n - j) : NULL;
    *u = (unclosed){j, eol ? (size_t)(eol - s) : n};
    return false;
}

/* A math environment (with those chained to it) starting in s[from..to]. */
int ex_env_within(const ex *X, openers *o, size_t from, size_t to, cand c[MAX_CHAIN]) {
    const char *s = X->s;
    for (size_t j = from; X->latex && j < X->n && j <= to; j++)
        if ((s[j] == '$' || s[j] == '\\' || s[j] == '-' || s[j] == '[') && env_at_seen(X, o, j, &c[0]))
            return env_chain(s, X->n, c);
    return 0;
}
