/* Math-Verify's boxed priority (extract_ex.h): its two patterns, a math
 * environment holding a box and the bare \boxed{.+}, and
 * latex2sympy2_extended's reading of a box's contents. Linear scans, as in
 * extract.c. */
#include <ctype.h>
#include <string.h>

#include "reward/extract_ex.h"
#include "reward/textsearch.h"

/* Index of the '}' closing the '{' at i, or n. Braces are counted raw, so
 * "\{1\}" balances as in Math-Verify. */
static size_t close_brace(const char *s, size_t n, size_t i) {
    int d = 0;
    for (; i < n; i++) {
        if (s[i] == '{') d++;
        else if (s[i] == '}' && --d == 0) return i;
    }
    return n;
}

/* Math-Verify's separator between two boxes: \b(and|or)\b, ',' or ';'. */
static bool word_byte(char c) { return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80; }

static bool has_separator(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' || s[i] == ';') return true;
        size_t w = i + 3 <= n && memcmp(s + i, "and", 3) == 0 ? 3 : i + 2 <= n && memcmp(s + i, "or", 2) == 0 ? 2 : 0;
        if (w && (i == 0 || !word_byte(s[i - 1])) && (i + w == n || !word_byte(s[i + w]))) return true;
    }
    return false;
}

static void strip(const char *s, size_t *lo, size_t *hi) {
    for (size_t w; *lo < *hi && (w = rw_space_at(s, *hi, *lo));) *lo += w;
    for (size_t w; *hi > *lo && (w = rw_space_before(s, *hi));) *hi -= w;
}

/* latex2sympy2_extended's extract_boxed_content over s[0, n): the boxes'
 * contents read from the right, joined by commas. With all, every box (a
 * math environment's); without, the last and those close before it
 * ("\boxed{1} and \boxed{2}" is 1,2; the rule of the bare \boxed{.+}
 * match). A box that does not close before the next one ends the list;
 * when it is the last, its unbalanced rest is the answer, which fails. */
/* Characters, not bytes, in s[0, n): Python's len() of the text between
 * boxes, which extract_boxed_content measures ("，所以答案为" is 6). */
static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

char *ex_box_contents(rw_arena *a, const char *s, size_t n, bool all, size_t *len) {
    enum { MAX_LISTED = 64 };
    size_t lo[MAX_LISTED], hi[MAX_LISTED];
    int k = 0;
    size_t next_at = n, none = (size_t)-1;
    /* each search goes on from the box before: linear in n */
    size_t b = rw_rfind(s, n, "\\boxed"), f = rw_rfind(s, n, "\\fbox");
    for (;;) {
        size_t p = b == (size_t)-1 ? f : f == (size_t)-1 ? b : (b > f ? b : f);
        if (p == (size_t)-1) break;
        size_t j = p + (p == b ? 6 : 5);
        for (size_t w; (w = rw_space_at(s, next_at, j));) j += w;
        if (j >= next_at) break;
        size_t e = s[j] == '{' ? close_brace(s, next_at, j) : next_at;
        if (e >= next_at) {
            if (k == 0) lo[0] = j, hi[0] = n, k = 1;
            break;
        }
        size_t c0 = j + 1, c1 = e;
        strip(s, &c0, &c1);
        bool same = k && c1 - c0 == hi[k - 1] - lo[k - 1] && memcmp(s + c0, s + lo[k - 1], c1 - c0) == 0;
        if (!all && k) {
            size_t gap = next_at - e - 1, chars = utf8_chars(s + e + 1, gap);
            if (!(chars < 10 || (!same && chars < 70 && has_separator(s + e + 1, gap)))) break;
        }
        if (!same) {
            if (k == MAX_LISTED) return NULL;
            lo[k] = c0, hi[k++] = c1;
        }
        next_at = p;
        if (b != none && b + 6 > p) b = rw_rfind(s, p, "\\boxed");
        if (f != none && f + 5 > p) f = rw_rfind(s, p, "\\fbox");
    }
    if (k == 0) return NULL;
    size_t total = 0;
    for (int i = 0; i < k; i++) total += hi[i] - lo[i] + 1;
    if (total > RW_MAX_ANSWER) return NULL;
    char *buf = rw_alloc(a, total + 2);
    if (!buf) return NULL;
    size_t m = 0;
    for (int i = k - 1; i >= 0; i--) {
        memcpy(buf + m, s + lo[i], hi[i] - lo[i]);
        m += hi[i] - lo[i];
        if (i) buf[m++] = ',';
    }
    *len = m;
    return buf;
}

/* Whether s[c0, c1) holds "\boxed{", a byte and a '}' (the \boxed{.+?} of
 * Math-Verify's boxed environments). */
static bool holds_box(const char *s, size_t c0, size_t c1) {
    if (c1 < c0 + 9) return false;
    const char *p = memmem(s + c0, c1 - c0, "\\boxed{", 7);
    size_t q = p ? (size_t)(p - s) + 8 : c1;
    return q < c1 && memchr(s + q, '}', c1 - q);
}

/* The first "$$" or "\]" at or after i not closing, or n. */
static size_t find2(const char *s, size_t n, size_t i, const char *w) {
    const char *p = i < n ? memmem(s + i, n - i, w, 2) : NULL;
    return p ? (size_t)(p - s) : n;
}

enum { ENV_DISPLAY, ENV_BRACKET, ENV_DOLLAR, ENV_PAREN, ENV_SQUARE, ENV_TYPES };

/* A math environment at s[i] holding a box, as Math-Verify's boxed pattern
 * (make_latex_env_pattern, context "boxed") matches one: $$..$$, \[..\],
 * $..$ (one line, not after a digit), \(..\) (one line), " [..] " (one
 * line), tried in that order. Its content and end. An opener of a type
 * before until[type] needs no look: the closer that ended an earlier one
 * ends it too, and no box lies before that closer. */
static bool box_env_at(const char *s, size_t n, size_t i, size_t until[ENV_TYPES], size_t *c0, size_t *c1,
                       size_t *end) {
    bool esc = i > 0 && s[i - 1] == '\\';
    static const char *const display[2][2] = {{"$$", "$$"}, {"\\[", "\\]"}};
    for (int t = ENV_DISPLAY; t <= ENV_BRACKET; t++) {
        if (esc || i + 1 >= n || memcmp(s + i, display[t][0], 2) != 0 || i < until[t]) continue;
        /* multi-line, to the first closer; one after a backslash ends nothing */
        size_t j = find2(s, n, i + 2, display[t][1]);
        if (j < n && !(s[j - 1] == '\\' && j - 1 >= i + 2) && holds_box(s, i + 2, j))
            return *c0 = i + 2, *c1 = j, *end = j + 2, true;
        until[t] = j;
    }
    if (s[i] == '$' && !(i + 1 < n && s[i + 1] == '$') && !(i > 0 && (esc || isdigit((unsigned char)s[i - 1]))) &&
        i >= until[ENV_DOLLAR]) {
        size_t j = i + 1;
        while (j < n && s[j] != '\n' && s[j] != '$') j += s[j] == '\\' && j + 1 < n && s[j + 1] == '$' ? 2 : 1;
        if (j < n && s[j] == '$' && holds_box(s, i + 1, j)) return *c0 = i + 1, *c1 = j, *end = j + 1, true;
        until[ENV_DOLLAR] = j;
    }
    if (s[i] == '\\' && i + 1 < n && s[i + 1] == '(' && !esc && i >= until[ENV_PAREN]) {
        size_t j = i + 2;
        while (j < n && s[j] != '\n' && !(s[j] == '\\' && j + 1 < n && s[j + 1] == ')')) j++;
        if (j < n && s[j] == '\\' && s[j - 1] != '\\' && holds_box(s, i + 2, j))
            return *c0 = i + 2, *c1 = j, *end = j + 2, true;
        until[ENV_PAREN] = j;
    }
    size_t sp = rw_space_at(s, n, i);
    if (sp && i + sp < n && s[i + sp] == '[' && i >= until[ENV_SQUARE]) {
        size_t j = i + sp + 1;
        while (j < n && s[j] != '\n' && s[j] != '[' && s[j] != ']') j++;
        if (j + 1 < n && s[j] == ']' && rw_space_at(s, n, j + 1) && holds_box(s, i + sp + 1, j))
            return *c0 = i + sp + 1, *c1 = j, *end = j + 1 + rw_space_at(s, n, j + 1), true;
        size_t b = rw_space_before(s, j);
        until[ENV_SQUARE] = j - (b ? b : j > 0); /* a '[' at j opens from the space before it */
    }
    return false;
}

/* After an environment: "\s*(\\?%|[Pp]ercent|[Pp]ct)", Math-Verify's percent
 * group, so the answer is a percentage; the end of what it takes. */
static size_t percent_group(const char *s, size_t n, size_t i, bool *pct) {
    size_t j = i;
    for (size_t l; (l = rw_space_at(s, n, j));) j += l;
    size_t w = j < n && s[j] == '%'                                                          ? 1
               : j + 1 < n && s[j] == '\\' && s[j + 1] == '%'                                ? 2
               : j + 7 <= n && (s[j] == 'p' || s[j] == 'P') && !memcmp(s + j + 1, "ercent", 6) ? 7
               : j + 3 <= n && (s[j] == 'p' || s[j] == 'P') && !memcmp(s + j + 1, "ct", 2)     ? 3
                                                                                             : 0;
    *pct = w > 0;
    return w ? j + w : i;
}

/* One match of Math-Verify's boxed-environment pattern: an environment
 * holding a box and up to five more after ",", "and", "or" (",and", ",or"). */
typedef struct {
    size_t start, end;
    int n;
    size_t c0[MAX_CHAIN], c1[MAX_CHAIN];
    bool pct[MAX_CHAIN];
} box_match;

static bool box_match_at(const char *s, size_t n, size_t i, size_t until[ENV_TYPES], box_match *m) {
    size_t e;
    if (!box_env_at(s, n, i, until, &m->c0[0], &m->c1[0], &e)) return false;
    m->start = i;
    m->n = 1;
    m->end = percent_group(s, n, e, &m->pct[0]);
    while (m->n < MAX_CHAIN) {
        size_t w, v = ex_chain_sep(s, n, m->end, &w);
        if (v >= n) break;
        /* " [..] " takes its leading space from the gap */
        size_t at = v > w && s[v] == '[' ? v - 1 : v;
        if (!box_env_at(s, n, at, until, &m->c0[m->n], &m->c1[m->n], &e)) break;
        m->end = percent_group(s, n, e, &m->pct[m->n]);
        m->n++;
    }
    return true;
}

/* A boxed environment's answer: its boxes, all of them. */
static bool try_box_match(ex *X, const box_match *m) {
    char *t[MAX_CHAIN] = {0};
    size_t len[MAX_CHAIN] = {0};
    for (int k = 0; k < m->n; k++) {
        t[k] = ex_box_contents(X->a, X->s + m->c0[k], m->c1[k] - m->c0[k], true, &len[k]);
        if (!t[k]) return false;
        if (m->pct[k]) t[k][len[k]++] = '%';
    }
    return ex_try_env_parts(X, t, len, m->n, m->pct[0], "boxed");
}

/* Math-Verify's boxed priority has two patterns, and their matches are
 * tried by where they end, the later first: a math environment holding a
 * box (with the environments chained to it), and a bare \boxed{.+} that
 * runs from the first "\boxed{" to the text's last '}', whose last box is
 * the answer. So "$a = \boxed{2}$, and then $b = \boxed{3}$." answers 3
 * (the environment closes after the last '}', and "and then" chains
 * nothing), while "\boxed{2}, and then \boxed{3}" answers 2,3. A formula
 * that fails is remembered, as the other rules' are. */
bool ex_try_boxed(ex *X) {
    const char *s = X->s;
    size_t n = X->n;
    const char *first = memmem(s, n, "\\boxed{", 7);
    if (!first) return false;
    box_match ms[MAX_CANDIDATES];
    size_t nm = 0, until[ENV_TYPES] = {0};
    for (size_t i = 0; i < n;) {
        box_match m;
        if ((s[i] == '$' || s[i] == '\\' || rw_space_at(s, n, i)) && box_match_at(s, n, i, until, &m)) {
            ms[nm++ % MAX_CANDIDATES] = m;
            i = m.end;
        } else {
            i++;
        }
    }
    size_t bare = (size_t)(first - s), last = n;
    while (last > bare + 8 && s[last - 1] != '}') last--;
    bool have_bare = last > bare + 8;
    int k = (int)(nm < MAX_CANDIDATES ? nm : MAX_CANDIDATES);
    for (int j = k - 1;; j--) {
        const box_match *m = j >= 0 ? &ms[(nm - (size_t)k + (size_t)j) % MAX_CANDIDATES] : NULL;
        /* the bare match first where it ends later, or as late and starts earlier */
        if (have_bare && (!m || last > m->end || (last == m->end && bare <= m->start))) {
            have_bare = false;
            size_t len;
            char *t = ex_box_contents(X->a, s + bare, last - bare, false, &len);
            if (t && ex_try_text(X, t, len, "boxed")) return true;
            ex_note_failed(X, bare, last);
        }
        if (!m) return false;
        if (try_box_match(X, m)) return true;
        ex_note_failed(X, m->c0[0], m->c1[0]);
    }
}
