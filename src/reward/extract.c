/* Answer extraction (extract.h). Hand-written scanners instead of regular
 * expressions: each pass is linear in the response, so a 10 MB response or
 * 10^5 unbalanced braces costs milliseconds, not a backtracking blow-up.
 * Here the rules' order, a text tried as the answer and the rightmost
 * fallback; the candidates are extract_env.c's and extract_plain.c's, the
 * anchored phrases extract_anchored.c's, the boxes extract_boxed.c's. */
#include "reward/extract.h"

#include <ctype.h>
#include <string.h>

#include "reward/extract_ex.h"
#include "reward/normalize.h"
#include "reward/parse.h"
#include "reward/textsearch.h"
#include "reward/units.h"

void ex_note_failed(ex *X, size_t lo, size_t hi) {
    if (X->nfailed < MAX_CANDIDATES) X->failed_lo[X->nfailed] = lo, X->failed_hi[X->nfailed++] = hi;
}

bool ex_in_failed(const ex *X, size_t lo, size_t hi) {
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

/* "$21, 16$ or $11$": environments joined by Math-Verify's separators are
 * one match, which starts at the first of them; c[k] is its last. */
static bool try_env(ex *X, const cand *c, int k) {
    int first = k - c[k].chain > 0 ? k - c[k].chain : 0;
    if (ex_try_env_list(X, c + first, k - first + 1, "latex")) return true;
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
        bool short_env = X->latex && (s[i] == '[' || ((s[i] == '\\' || s[i] == '-') && ex_bare_frac(s, n, i)));
        if (short_env && ex_env_at(s, n, i, &c)) {
            push_env(s, n, envs, &ne, &c);
            i = c.end;
            continue;
        }
        if ((dollar && !(display && no_display)) || (bracket && !no_bracket) || (paren && !no_paren)) {
            if (ex_env_at(s, n, i, &c)) {
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
             (s[i] == '.' && i + 1 < n && is_digit(s[i + 1])) || ex_paren_start(s, n, i)) && ex_anchored(s, i)) {
            char buf[512];
            size_t blen, span, e = ex_plain_at(s, n, i, buf, sizeof buf - 8, &blen, i >= no_arith_until, &span);
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
            bool inside = ex_in_failed(X, n2[b].start, n2[b].end);
            if (!inside && X->plain && ex_try_plain(X, n2[b].start, n2[b].arith, false, "number")) return true;
            /* arithmetic that does not parse ("3**." of "**3**."): its
             * number alone, which Math-Verify's number pattern also found */
            if (!inside && X->plain && n2[b].arith && ex_try_plain(X, n2[b].start, false, false, "number")) return true;
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
        if ((last == (size_t)-1 || fa > last) && ex_try_final(&X)) return true;
    }
    if (o->boxed && ex_try_boxed(&X)) return true;
    if (ex_try_final(&X) || ex_try_answer(&X, true) || ex_try_answer(&X, false) || try_rightmost(&X)) return true;
    if (o->whole && n <= RW_MAX_ANSWER && !rw_has_dollar(s, n)) {
        if (ex_try_text(&X, s, n, "whole")) return true;
    }
    return out->text != NULL;
}
