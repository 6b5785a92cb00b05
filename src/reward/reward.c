/* One check: extract both sides, then compare (reward.h). */
#include "reward/reward.h"
#include "reward/units.h"

#include "reward/choice.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "reward/lex.h"
#include "reward/normalize.h"
#include "reward/parse.h"
#include "reward/textsearch.h"

/* Room for two parsed answers and the comparison's temporaries. */
enum { ARENA_BYTES = 8u << 20 };

rw_opts rw_default_opts(void) {
    rw_opts o;
    o.pred = (rw_extract_opts){.boxed = true, .after_think = true, .whole = false, .plain = true,
                              .latex = true, .units = true};
    o.gold = (rw_extract_opts){.boxed = true, .after_think = false, .whole = true, .plain = true,
                              .latex = true, .whole_first = true, .units = true};
    o.eq = (rw_equiv_opts){.float_places = 6, .strict = true, .set_relation = false, .symbol_names = true};
    return o;
}

void rw_checker_init(rw_checker *c) { rw_arena_init(&c->arena, ARENA_BYTES); }
void rw_checker_free(rw_checker *c) { rw_arena_free(&c->arena); }

static bool plain_text(const char *s, size_t n) {
    return !rw_has_dollar(s, n) && !memmem(s, n, "\\boxed", 6) && !memmem(s, n, "\\fbox", 5) &&
           !memmem(s, n, "\\(", 2) && !memmem(s, n, "\\[", 2);
}

/* Words of sentences around an answer ("The answer is 3", "so x is 3"),
 * never a product of letters in one. */
static bool sentence_word(const char *w, size_t len) {
    static const char *const list[] = {
        "the", "is", "are", "was", "were", "be", "so", "thus", "hence", "therefore", "answer", "answers", "we",
        "get", "got", "it", "its", "equals", "value", "final", "solution", "result", "then", "which", "that",
        "this", "has", "have", "gives", "since", "because", "there", "here", "our",
    };
    for (size_t k = 0; k < sizeof list / sizeof *list; k++)
        if (strlen(list[k]) == len && strncasecmp(list[k], w, len) == 0) return true;
    return false;
}

/* A sentence, whose letters must not be read as a product of variables:
 * a word standing alone ("so the answer is 0", not "\\begin{bmatrix}") that
 * only sentences use, or of four letters or more that is no unit or other
 * word the lexer knows ("5 apples", not "90 degrees"), or one that labels
 * what follows ("Answer:"), outside braces. Math-Verify extracts the answer from such text;
 * a lone word ("Evelyn") is still read whole when nothing is extracted. */
static bool looks_like_prose(const char *s, size_t n) {
    int depth = 0; /* words in braces ("\\text{ right triangles}") are LaTeX's */
    for (size_t i = 0; i < n;) {
        depth += s[i] == '{' ? 1 : s[i] == '}' && depth > 0 ? -1 : 0;
        if (depth > 0) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) j++;
        bool alone = (i == 0 || s[i - 1] == ' ') && (j == n || strchr(" .,;:!?", s[j]));
        if (alone && j > i && (sentence_word(s + i, j - i) || (j - i >= 4 && !rw_known_word(s + i, j - i))))
            return true;
        /* "Answer: 42", "Solution: x = 3": a label, not a product of letters */
        if (j - i >= 4 && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '*') && j < n && s[j] == ':') return true;
        i = j > i ? j : i + 1;
    }
    return false;
}

/* A whole answer that is a number and a percent sign ("50%", "50\\%"):
 * Math-Verify reads it with its number pattern, whose fallback string is
 * the digits alone. Else n. */
static size_t number_str_len(const char *s, size_t n) {
    size_t j = 0;
    if (j < n && s[j] == '-') j++;
    size_t d = j;
    while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.')) j++;
    if (j == d) return n;
    size_t k = j;
    while (k < n && s[k] == ' ') k++;
    if (k < n && s[k] == '\\') k++;
    return k + 1 == n && s[k] == '%' ? j : n;
}

/* "1 000 000": thousands grouped by spaces, which Math-Verify's number
 * pattern reads as one number and LaTeX as a product; read by the
 * extractor, not whole. */
static bool space_grouped(const char *s, size_t n) {
    size_t j = s[0] == '-' ? 1 : 0, d = j;
    while (j < n && isdigit((unsigned char)s[j])) j++;
    if (j == d || j - d > 3 || s[d] == '0') return false;
    size_t groups = 0;
    while (j + 3 < n && s[j] == ' ' && isdigit((unsigned char)s[j + 1]) && isdigit((unsigned char)s[j + 2]) &&
           isdigit((unsigned char)s[j + 3]))
        j += 4, groups++;
    if (groups && j < n && s[j] == '.') {
        j++;
        while (j < n && isdigit((unsigned char)s[j])) j++;
    }
    return groups && j == n;
}

/* GSM8K's raw answer field, a worked solution ending "#### 18": verl's
 * gsm8k scorer reads the last "#### (\-?[0-9\.\,]+)" without its commas,
 * and its data preparation hands Math-Verify that number as the gold (for
 * Math-Verify's parse() of the whole text it is usually the last number,
 * but a number after the word "answer" comes first). That number into
 * buf (cap bytes), its length; 0 when there is none. */
static size_t gsm8k_answer(const char *s, size_t n, char *buf, size_t cap) {
    size_t m = 0;
    for (size_t p = 0; p + 5 < n; p++) {
        if (memcmp(s + p, "#### ", 5) != 0) continue;
        /* read into t: a later "####" without a number keeps the last one's */
        char t[64];
        size_t j = p + 5, k = 0, room = cap < sizeof t ? cap : sizeof t;
        if (s[j] == '-') t[k++] = s[j++];
        size_t neg = k;
        for (; j < n && (isdigit((unsigned char)s[j]) || s[j] == '.' || s[j] == ','); j++)
            if (s[j] != ',' && k < room - 1) t[k++] = s[j];
        /* a sentence's period ("#### 18."), which Math-Verify's number pattern leaves */
        if (k > neg + 1 && t[k - 1] == '.') k--;
        if (k > neg) m = k, memcpy(buf, t, k), buf[m] = 0;
    }
    return m;
}

/* A gold answer (or a one-shot --pred) is usually bare LaTeX ("\frac{1}{2}"): read it whole first,
 * and extract only when it is written like a response. A gold that fails
 * to parse whole is its text alone. */
static void read_side(rw_checker *c, const char *s, size_t n, const rw_extract_opts *o, bool gold, rw_answer *out) {
    *out = (rw_answer){0};
    char num[64];
    size_t nl = gold ? gsm8k_answer(s, n, num, sizeof num) : 0;
    if (nl) {
        const char *err;
        char *copy = rw_strndup(&c->arena, num, nl);
        if (copy) *out = (rw_answer){rw_parse(&c->arena, copy, nl, &err), copy, nl, "####", nl};
        return;
    }
    if (o->whole_first && n <= RW_MAX_ANSWER && plain_text(s, n) && !looks_like_prose(s, n) && !space_grouped(s, n)) {
        const char *err;
        char *copy = rw_strndup(&c->arena, s, n);
        if (!copy) return;
        /* the gold is normalized as a response's answer is: a final
         * period dropped, then Math-Verify's basic step and its units */
        bool padded = rw_space_before(s, n);
        size_t m = n;
        for (size_t w; (w = rw_space_before(copy, m));) m -= w;
        m = rw_normalize_basic(copy, rw_drop_sentence_end(copy, m));
        padded = padded || rw_space_before(copy, m);
        if (o->units) m = rw_strip_units(copy, m, padded);
        for (size_t w; (w = rw_space_before(copy, m));) m -= w;
        if (m > 0) n = m;
        copy[n] = 0;
        node *t = rw_parse(&c->arena, copy, n, &err);
        if (t) {
            *out = (rw_answer){t, copy, n, "whole", number_str_len(copy, n)};
            return;
        }
        /* Math-Verify reads a gold as one formula (verl boxes it): when
         * that fails, no number inside it is the answer ("0.\overline{3}"
         * is not 0), only its text */
        if (copy && gold) {
            *out = (rw_answer){NULL, copy, n, "whole", n};
            return;
        }
    }
    rw_extract(&c->arena, s, n, o, out);
}

/* Math-Verify's verify also compares the two sides' fallback strings: the
 * first text each extraction found, a plain number's without its percent
 * sign (so "50%" answers a gold 50, as "50" == "50"). */
static bool same_fallback(rw_arena *arena, const rw_answer *a, const rw_answer *b) {
    if (!a->text || !b->text || !a->fblen || !b->fblen) return false;
    if (a->fblen == b->fblen && memcmp(a->text, b->text, a->fblen) == 0) return true;
    /* Math-Verify's strings are normalized: "\dfrac{a}{b} \odot" is "\frac{a}{b} \odot" */
    char *x = rw_strndup(arena, a->text, a->fblen), *y = rw_strndup(arena, b->text, b->fblen);
    if (!x || !y) return false;
    size_t nx = rw_normalize_text(x, a->fblen), ny = rw_normalize_text(y, b->fblen);
    return nx == ny && memcmp(x, y, nx) == 0;
}

/* The letter a response chooses: the boxed answer's when there is a box
 * (a box is the answer, "the answer is C" before it is not), else as
 * lighteval's letter extraction finds it; 0 for none. */
static char choice_of(const char *s, size_t n, const rw_answer *found, const rw_extract_opts *o) {
    char l = 0;
    if (found->how && strcmp(found->how, "boxed") == 0)
        return found->text && rw_choice_boxed(found->text, found->len, &l) ? l : 0;
    /* the scratch work is no answer, its boxes included ("<think>...
     * \boxed{B}...</think> The answer is C" chooses C) */
    if (o->after_think) {
        const char *t = NULL;
        for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), "</think>", 8)); p += 8) t = p + 8;
        if (t) {
            n -= (size_t)(t - s);
            s = t;
        } else if (memmem(s, n, "<think>", 7)) {
            return 0;
        }
    }
    const char *box = NULL;
    for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), "\\boxed{", 7)); p += 7) box = p + 7;
    if (box) { /* a box whose content did not parse ("\boxed{C. 42}") */
        size_t depth = 1, k = 0, left = n - (size_t)(box - s);
        for (; k < left && depth; k++) depth += box[k] == '{' ? 1 : box[k] == '}' ? (size_t)-1 : 0;
        return !depth && rw_choice_boxed(box, k - 1, &l) ? l : 0;
    }
    return rw_choice(s, n, &l) != RW_CHOICE_NONE ? l : 0;
}

void rw_check(rw_checker *c, const char *gold, size_t gn, const char *pred, size_t pn, const rw_opts *o,
              rw_result *r) {
    rw_arena_reset(&c->arena);
    read_side(c, gold, gn, &o->gold, true, &r->gold);
    read_side(c, pred, pn, &o->pred, false, &r->pred);
    r->correct = false;
    if (r->gold.tree && r->pred.tree) r->correct = rw_equiv(&c->arena, r->gold.tree, r->pred.tree, &o->eq);
    /* Math-Verify also compares the extracted texts when parsing failed */
    if (!r->correct && same_fallback(&c->arena, &r->gold, &r->pred)) r->correct = true;
    char gl;
    r->choice = 0;
    if (!r->correct && rw_choice_gold(gold, gn, &gl)) {
        r->choice = choice_of(pred, pn, &r->pred, &o->pred);
        r->correct = r->choice == gl;
    }
}

void rw_extract_only(rw_checker *c, const char *s, size_t n, const rw_extract_opts *o, rw_answer *out) {
    rw_arena_reset(&c->arena);
    rw_extract(&c->arena, s, n, o, out);
}
