/* pass@k and reflective-word counting for pic-eval (see metrics.h). */
#include "eval/metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/utf8.h"

double pic_pass_at_k(long long n, long long c, long long k) {
    if (k < 1 || k > n || c < 0 || c > n) return NAN;
    /* Every k-subset contains a correct sample when fewer than k are wrong. */
    if (n - c < k) return 1.0;
    if (c == 0) return 0.0;
    /* q = C(n-c, k)/C(n, k) has two exact product forms:
     *   prod_{j=0}^{k-1} (1 - c/(n-j))      (k factors)
     *   prod_{i=n-c+1}^{n} (1 - k/i)        (c factors)
     * Take the shorter. Every factor lies in (0, 1) here (n - c >= k), so
     * nothing overflows; summing log1p of the factors and answering
     * -expm1(log q) keeps the digits of a small pass@k, where 1 - q would
     * cancel (pass@1 of 1 in 1e6 came out 1.00000000003e-06). The relative
     * error stays near min(c, k) roundings. */
    double lq = 0.0;
    if (k <= c) {
        for (long long j = 0; j < k; j++) lq += log1p(-(double)c / (double)(n - j));
    } else {
        for (long long i = n - c + 1; i <= n; i++) lq += log1p(-(double)k / (double)i);
    }
    return -expm1(lq);
}

const char *const pic_reflect_default =
    "wait,alternatively,hmm,let's reconsider,let me reconsider,re-examine,double-check,"
    "recheck,on second thought";


/* Bytes that continue a word: ASCII letters and digits, '_', and every byte
 * of a multi-byte UTF-8 character (so "wait" does not match inside a word
 * written with accents), except the typographic apostrophe, handled apart. */
static bool word_byte(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

int pic_wordlist_parse(const char *spec, pic_wordlist *w, char *err, size_t errsize) {
    memset(w, 0, sizeof *w);
    pic_list l;
    if (pic_list_split(&l, spec, ",\n"))
        return pic_errf(err, errsize, "an empty word (two commas together, or one at an end)");
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *tok = l.items[i];
        /* Lowercase, collapse whitespace runs to one space (the ends are
         * trimmed already). */
        char *out = malloc(strlen(tok) + 1), *o = out;
        if (!out) {
            rc = pic_errf(err, errsize, "out of memory");
            break;
        }
        for (const char *s = tok; *s; s++) {
            unsigned char ch = (unsigned char)*s;
            if (isspace(ch)) {
                if (o > out && o[-1] != ' ') *o++ = ' ';
            } else {
                *o++ = (char)tolower(ch);
            }
        }
        *o = '\0';
        if (!word_byte((unsigned char)out[0]) || !word_byte((unsigned char)o[-1])) {
            rc = pic_errf(err, errsize, "'%s': a word must begin and end with a letter or digit", out);
            free(out);
            break;
        }
        /* "wait,Wait" counted each "wait" twice in 'reflect', and the JSON,
         * keyed by word, showed it once: a slip, as an empty word is */
        size_t j = 0;
        while (j < w->n && strcmp(w->words[j], out)) j++;
        if (j < w->n) {
            rc = pic_errf(err, errsize, "'%s' given twice", out);
            free(out);
            break;
        }
        if (w->n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nw = realloc(w->words, cap * sizeof *nw);
            if (!nw) {
                free(out);
                rc = pic_errf(err, errsize, "out of memory");
                break;
            }
            w->words = nw;
        }
        w->words[w->n++] = out;
    }
    pic_list_free(&l);
    if (rc) pic_wordlist_free(w);
    return rc;
}

void pic_wordlist_free(pic_wordlist *w) {
    for (size_t i = 0; i < w->n; i++) free(w->words[i]);
    free(w->words);
    memset(w, 0, sizeof *w);
}

/* The bytes of the whitespace character at text[t], or 0: Python's
 * str.isspace, which its re's \s matches in a str pattern (ASCII's six,
 * \x1c..\x1f, U+0085, the no-break space U+00A0, U+1680, U+2000..200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000). With ASCII's alone, "let's"
 * and "reconsider" apart by a no-break or a thin space were no phrase. */
static size_t space_at(const char *text, size_t len, size_t t) {
    unsigned char c = (unsigned char)text[t];
    if (c < 0x80) return isspace(c) || (c >= 0x1c && c <= 0x1f);
    uint32_t cp;
    int n = pic_utf8_next(text, len, t, &cp);
    bool space = cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
                 cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
    return n > 0 && space ? (size_t)n : 0;
}

/* Length of the match of phrase at text[i..], or 0. */
static size_t match_at(const char *text, size_t len, size_t i, const char *phrase) {
    size_t t = i;
    for (const char *p = phrase; *p; p++) {
        unsigned char pc = (unsigned char)*p;
        if (pc == ' ') {
            size_t start = t, n;
            while (t < len && (n = space_at(text, len, t))) t += n;
            if (t == start) return 0;
        } else if (pc == '\'') {
            if (t < len && text[t] == '\'') t++;
            else if (t + 2 < len && !memcmp(text + t, "\xe2\x80\x99", 3)) t += 3;
            else return 0;
        } else {
            if (t >= len || tolower((unsigned char)text[t]) != pc) return 0;
            t++;
        }
    }
    return t - i;
}

static bool in_ranges(long cp, const long (*r)[2], size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i][0] && cp <= r[i][1]) return true;
    return false;
}

/* Spaces, punctuation and symbols beyond ASCII, none of them \w to
 * Python's re, so a word boundary as \b finds it: Latin-1's (C1 controls,
 * no-break space, guillemets, inverted marks), the Ogham space mark, U+2000..206F (spaces, dashes, curly
 * quotes, ellipsis), currency signs, the arrows, mathematical operators,
 * technical, geometric and miscellaneous symbols and dingbats
 * (U+2190..2BFF), the supplemental punctuation, CJK's, the fullwidth forms,
 * and the emoji and pictograph blocks (U+1F000..1FAFF). Left out, as \w:
 * the enclosed and dingbat digits (U+2460..24FF, U+2776..2793,
 * U+1F100..1F10C) and U+2E2F, which str.isalnum calls alphanumeric. With
 * only U+2000..203F a reply that switched languages, "5。Wait，" or
 * "\u00a0wait", counted no wait; with no symbols, "Hmm🤔" or "∴wait" none. */
static bool punct_char(uint32_t cp) {
    static const long punct[][2] = {
        {0x0080, 0x00a9}, {0x00ab, 0x00b1}, {0x00b4, 0x00b4}, {0x00b6, 0x00b8}, {0x00bb, 0x00bb},
        {0x00bf, 0x00bf}, {0x00d7, 0x00d7}, {0x00f7, 0x00f7}, {0x1680, 0x1680}, {0x2000, 0x206f},
        {0x20a0, 0x20cf}, {0x2190, 0x245f}, {0x2500, 0x2775}, {0x2794, 0x2bff}, {0x2e00, 0x2e2e}, {0x2e30, 0x2e7f},
        {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030}, {0x3036, 0x3037}, {0x303d, 0x303f},
        {0xff01, 0xff0f}, {0xff1a, 0xff20}, {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0x1f000, 0x1f0ff},
        {0x1f10d, 0x1faff},
    };
    return in_ranges((long)cp, punct, sizeof punct / sizeof *punct);
}

static bool boundary_before(const char *text, size_t i) {
    if (i == 0 || !word_byte((unsigned char)text[i - 1])) return true;
    /* the character that ends at i: back over up to three continuation bytes */
    size_t s = i - 1;
    while (s > 0 && i - s < 4 && ((unsigned char)text[s] & 0xc0) == 0x80) s--;
    uint32_t cp;
    return pic_utf8_next(text, i, s, &cp) == (int)(i - s) && punct_char(cp);
}

static bool boundary_at(const char *text, size_t len, size_t i) {
    if (i >= len || !word_byte((unsigned char)text[i])) return true;
    uint32_t cp;
    return pic_utf8_next(text, len, i, &cp) > 1 && punct_char(cp);
}

size_t pic_count_phrase(const char *text, size_t len, const char *phrase) {
    size_t count = 0;
    if (!*phrase) return 0;
    for (size_t i = 0; i < len;) {
        size_t m = boundary_before(text, i) ? match_at(text, len, i, phrase) : 0;
        if (m && boundary_at(text, len, i + m)) {
            count++;
            i += m;
        } else {
            i++;
        }
    }
    return count;
}

size_t pic_display_width(const char *s) {
    /* Markus Kuhn's wcwidth ranges, the ones a dataset name may meet. */
    static const long zero[][2] = {
        {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a}, {0x064b, 0x065f},
        {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x0e47, 0x0e4e}, {0x1ab0, 0x1aff}, {0x1dc0, 0x1dff},
        {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064}, {0x20d0, 0x20ff}, {0xfe00, 0xfe0f},
        {0xfe20, 0xfe2f}, {0xfeff, 0xfeff}, {0xe0100, 0xe01ef},
    };
    static const long wide[][2] = {
        {0x1100, 0x115f}, {0x231a, 0x231b}, {0x2329, 0x232a}, {0x23e9, 0x23ec}, {0x2614, 0x2615},
        {0x2e80, 0x303e}, {0x3041, 0x33ff}, {0x3400, 0x4dbf}, {0x4e00, 0x9fff}, {0xa000, 0xa4cf},
        {0xa960, 0xa97f}, {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xfe10, 0xfe19}, {0xfe30, 0xfe6f},
        {0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x1f004, 0x1f004}, {0x1f300, 0x1f64f}, {0x1f680, 0x1f6ff},
        {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };
    size_t w = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = pic_utf8_next(s, n, i, &cp);
        i += len ? (size_t)len : 1;
        if (!len) w++; /* a stray byte: one column, as a terminal's U+FFFD */
        else if (!in_ranges(cp, zero, sizeof zero / sizeof *zero))
            w += in_ranges(cp, wide, sizeof wide / sizeof *wide) ? 2 : 1;
    }
    return w;
}
