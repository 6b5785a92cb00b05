/* The anchored answer phrases (extract_ex.h): "final answer ... is X"
 * (Math-Verify's priority 50), "answer: X" (100) and "answer X" (200), each
 * priority's matches tried in Math-Verify's order. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reward/extract_ex.h"
#include "reward/textsearch.h"

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
    *m = (amatch){.start = start, .end = ex_plain_end(X, num), .num = num};
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
        if (m->nenv ? ex_try_env_list(X, m->env, m->nenv, how)
                    : !ex_in_failed(X, m->num, m->num + 1) && ex_try_plain(X, m->num, true, true, how))
            return true;
    }
    return false;
}

/* "final answer.{0,100}?\s+is\:?" then a value (Math-Verify's priority 50).
 * The LaTeX pattern (DOTALL) takes, after the first "is" that has one, a
 * math environment behind any whitespace; the expression pattern's '.'
 * stops at a line break, and its value needs one space or '=' before it.
 * Every "final answer" is tried, the match ending last first. */
bool ex_try_final(ex *X) {
    const char *s = X->s;
    size_t n = X->n;
    amatches A = {0};
    openers o = {0};
    for (size_t p = 0; p + 12 <= n; p++) {
        if (strncasecmp(s + p, "final answer", 12) != 0) continue;
        size_t i = p + 12, lim = rw_chars_ahead(s, n, i, 100), eol = i;
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
            int nenv = latex ? ex_env_within(X, &o, v, v, c) : 0;
            if (nenv) {
                am_env(&A, p, c, nenv);
                latex = false;
            }
            size_t num = plain && j <= eol ? ex_number_after_prefix(X, k) : (size_t)-1;
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
 * first math environment starting within 50 characters (across lines), with
 * those chained to it. The expression one,
 * answer(?:.{0,100}=\s*|.{0,50}?)VALUE(?!\s*=) without DOTALL, takes the
 * value after an '=' within 100 characters of the line, the last first, when
 * whitespace stands between them (the '=' is taken, and VALUE needs a
 * space or '=' before it: "x=5" has none), else the first value within 50
 * characters of the line after a space or '='; a value followed by '=' is none.
 * Every answer word is tried, the match ending last first, so "Answer: 2\nSome
 * note $5$" is 5 and "The answer is 12. ... I hope this answer helps" 12. */
bool ex_try_answer(ex *X, bool colon) {
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
        /* the windows count characters, as Python's '.' matches them */
        size_t lim50 = rw_chars_ahead(s, n, i, 50), lim100 = rw_chars_ahead(s, n, i, 100);
        int nenv = p >= A.latex_next ? ex_env_within(X, &o, i, lim50, env) : 0;
        if (nenv) am_env(&A, p, env, nenv);
        if (!X->plain || p < A.expr_next) continue;
        size_t num = (size_t)-1, line = i;
        while (line < n && line <= lim100 && s[line] != '\n') line++;
        for (size_t eq = line; num == (size_t)-1 && eq-- > i;) {
            if (s[eq] != '=' || !rw_space_at(s, n, eq + 1)) continue;
            size_t q = eq + 1;
            for (size_t l; (l = rw_space_at(s, n, q)) && rw_space_at(s, n, q + l);) q += l;
            size_t v = ex_number_after_prefix(X, q);
            if (v != (size_t)-1 && !ex_equals_after(X, ex_plain_end(X, v))) num = v;
        }
        for (size_t q = i; num == (size_t)-1 && q < n && q <= lim50; q++) {
            size_t v = ex_number_after_prefix(X, q);
            if (v != (size_t)-1 && !ex_equals_after(X, ex_plain_end(X, v))) num = v;
            if (s[q] == '\n') break; /* the '.' before the prefix stops at a line break */
        }
        if (num != (size_t)-1) am_num(&A, X, p, num);
    }
    return am_try(X, &A, "answer");
}
