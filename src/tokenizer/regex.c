/* Split patterns through PCRE2. The tokenizer.json patterns use \p{L} and
 * \p{N}, which need PCRE2_UTF|PCRE2_UCP (\s, \w, \b and the other escapes
 * whose meaning differs are rewritten to mean what they mean to the
 * Oniguruma engine HF uses: onig_escapes). The JIT turns these patterns
 * into linear scans; std::regex-style backtracking is what made llama.cpp
 * take minutes on long runs of spaces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"
#include "tokenizer/unicode_new.h"

/* Oniguruma's word character, the one General_Category-ish class its \w,
 * \W, \b and \B are made of (src/make_unicode_property_data.py,
 * add_posix_props: Word = Alphabetic | Mark | Decimal_Number |
 * Connector_Punctuation). PCRE2's (10.42, UCP) is \p{L}, \p{N} and '_':
 * a combining mark (U+0301, a Devanagari vowel sign), a connector such as
 * U+203F or a circled letter (Alphabetic, So) is no word character to it,
 * a No number (U+2153) is. Outside a class Oniguruma asks
 * onigenc_unicode_is_code_ctype (src/unicode.c), which looks characters
 * below 256 up in its Latin-1 table instead, and that table marks the
 * superscripts and fractions U+00B2, U+00B3, U+00B9, U+00BC-00BE as word
 * characters; inside a class (add_ctype_to_cc) the range table alone
 * counts. \b and \B (regexec.c, OP_WORD_BOUNDARY) compare the characters
 * on either side by the table's reading, the text's edges counting as
 * non-word. */
#define WORD_ITEMS "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}"
#define WORD_LATIN1 "\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}"
#define WORD "[" WORD_ITEMS WORD_LATIN1 "]"

/* Oniguruma's POSIX brackets under Unicode, as the class items that mean
 * them to PCRE2. Oniguruma builds them from the Unicode data
 * (src/make_unicode_property_data.py, add_posix_props, the CR_Alpha ...
 * tables of unicode_property_data.c) and adds them to a class by those
 * range tables alone (regparse.c, add_ctype_to_cc), so the Latin-1 table
 * that widens \w outside a class plays no part:
 *   alnum  Alphabetic | Nd         alpha  Alphabetic
 *   ascii  U+0000-007F             blank  U+0009 | Zs
 *   cntrl  Cc                      digit  Nd
 *   graph  all but White_Space, Cc, Cs, Cn (which leaves L M N P S Cf Co)
 *   print  graph | Zs              lower  Lowercase    upper  Uppercase
 *   punct  P | S (6.9.9 on; P alone before, issue #268)
 *   space  White_Space             word   WORD_ITEMS
 *   xdigit 0-9 A-F a-f
 * PCRE2 10.42 with UCP reads alpha as L, alnum as L | N, word as L | N |
 * '_', lower and upper as Ll and Lu, blank as \h and space as \p{Xps}
 * (both with U+180E), graph and print without the private-use Co,
 * U+061C and U+2066-2069 (graph without U+180E too), punct as P and the
 * symbols below U+0100 (pcre2_compile.c, posix_substitutes; pcre2pattern). `isnt` is [:^name:] as items, where a
 * union of properties makes it; NULL where none does, and the class is
 * rewritten as one holding \W is. */
static const struct {
    const char *name, *is, *isnt;
} posix_brackets[] = {
    {"alnum", "\\p{Alphabetic}\\p{Nd}", NULL},
    {"alpha", "\\p{Alphabetic}", "\\P{Alphabetic}"},
    {"ascii", "\\p{ASCII}", "\\P{ASCII}"},
    {"blank", "\\x{09}\\p{Zs}", NULL},
    {"cntrl", "\\p{Cc}", "\\P{Cc}"},
    {"digit", "\\p{Nd}", "\\P{Nd}"},
    {"graph", "\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\p{Cf}\\p{Co}", "\\p{Z}\\p{Cc}\\p{Cs}\\p{Cn}"},
    {"lower", "\\p{Lowercase}", "\\P{Lowercase}"},
    {"print", "\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\p{Cf}\\p{Co}\\p{Zs}", "\\p{Zl}\\p{Zp}\\p{Cc}\\p{Cs}\\p{Cn}"},
    {"punct", "\\p{P}\\p{S}", "\\p{L}\\p{M}\\p{N}\\p{Z}\\p{C}"},
    {"space", "\\p{White_Space}", "\\P{White_Space}"},
    {"upper", "\\p{Uppercase}", "\\P{Uppercase}"},
    {"word", WORD_ITEMS, NULL},
    {"xdigit", "\\p{ASCII_Hex_Digit}", "\\P{ASCII_Hex_Digit}"},
};

typedef struct {
    char *p;
    size_t len, cap;
} strbuf;

static void put(strbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        b->p = pic_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
#define PUTS(b, s) put(b, s, strlen(s))

/* The characters a property gained after Unicode 14, PCRE2 10.42's version:
 * HF tokenizers 0.23.2's Oniguruma has Unicode 16's tables (as the
 * library itself splits), where U+1E5DC (Ol Onal, Unicode 16) is a
 * letter and "\U0001E5DC're" splits before the contraction; to PCRE2
 * 10.42 it is unassigned, and the contraction was split apart (found by
 * running tokenizers itself, tests/fixtures/tokenizers/difftest). NULL when
 * there are none (unicode_new.h: the properties whose sets grew). */
static const char *new_items(const char *name, size_t n) {
    for (size_t j = 0; j < sizeof unicode_new / sizeof *unicode_new; j++)
        if (strlen(unicode_new[j].name) == n && !memcmp(unicode_new[j].name, name, n)) return unicode_new[j].items;
    return NULL;
}

/* Copies s[0..n) to b, with the characters new_items gives added to each
 * property \p{X}, \P{X}, \pX or \PX it names: in a class \p{X} becomes
 * \p{X} and the items, outside one the class [\p{X}items] (\P{X}:
 * [^\p{X}items]). A \P{X} in a class, which a PCRE2 class cannot hold with
 * the items, goes into alts as "[^\p{X}items]|" (the class keeps \P{Any},
 * as for \W in onig_escapes); with no alts it stays as it is. Brackets in s
 * open and close classes (the rewrites of \w and \b hold whole ones). */
static void put_props(strbuf *b, const char *s, size_t n, bool in_class, strbuf *alts) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            if (s[i] == '[') in_class = true;
            else if (s[i] == ']') in_class = false;
            put(b, s + i, 1);
            continue;
        }
        bool neg = s[i + 1] == 'P';
        const char *name = s + i + 2, *items = NULL;
        size_t len = 0, whole = 2;
        if ((neg || s[i + 1] == 'p') && i + 2 < n) {
            if (*name == '{') {
                const char *end = memchr(name, '}', n - (i + 2));
                if (end) {
                    len = (size_t)(end - name - 1);
                    whole = (size_t)(end + 1 - (s + i));
                    name++;
                }
            } else {
                len = 1;
                whole = 3;
            }
            if (len) items = new_items(name, len);
        }
        if (!items || (neg && in_class && !alts)) {
            put(b, s + i, whole);
        } else if (in_class && neg) {
            PUTS(alts, "[^\\p{");
            put(alts, name, len);
            PUTS(alts, "}");
            PUTS(alts, items);
            PUTS(alts, "]|");
            PUTS(b, "\\P{Any}");
        } else {
            if (!in_class) PUTS(b, neg ? "[^" : "[");
            PUTS(b, "\\p{");
            put(b, name, len);
            PUTS(b, "}");
            PUTS(b, items);
            if (!in_class) PUTS(b, "]");
        }
        i += whole - 1;
    }
}
#define PUT_PROPS(b, s, in_class, alts) put_props(b, s, strlen(s), in_class, alts)

/* Oniguruma's escapes where PCRE2's mean something else, as what means the
 * same to PCRE2:
 *   \s \S  Oniguruma's Unicode space is White_Space (U+0009-000D, U+0085 and
 *         the Zs, Zl, Zp characters); PCRE2's \s with UCP adds \h and \v,
 *         and its \h holds U+180E MONGOLIAN VOWEL SEPARATOR (a space before
 *         Unicode 6.3, a format character since): " \u180Eb" split apart
 *         otherwise than HF splits it.
 *   \h \H  a hexadecimal digit in Oniguruma, horizontal space in PCRE2.
 *   \v     the vertical tab (U+000B) in Oniguruma; in PCRE2 any vertical
 *         space (\n, \f, \r, U+0085, U+2028, U+2029 too).
 *   \w \W  WORD above and its complement; in a class \w is WORD_ITEMS, and
 *         a class holding \W, which a PCRE2 class cannot hold, becomes a
 *         group: [X\W] is "not a word character, or [X]", [^X\W] "a
 *         character neither [X] nor \W matches" (\W is \P{Any}, matching
 *         nothing, in that [X], so a range beside it is still an error).
 *   \b \B  lookarounds over WORD (in a class \b is a backspace in both).
 * \d and \D are Decimal_Number in both (Oniguruma's CR_Digit, PCRE2's
 * \p{Nd}). A POSIX bracket becomes its posix_brackets items, and a
 * [:^name:] with no items for it counts as a complement, as \W does; a name
 * not in the table is refused (*bad, its offset; NULL returned). Everything
 * else is copied, escapes whole (so "\\s" stays an escaped backslash and
 * an s). Patterns with nested classes were refused before this runs, so a
 * class ends at its first unescaped ']' that is not a POSIX bracket's. */
static const char *rewrite(char e, bool in_class) {
    switch (e) {
    case 's': return "\\p{White_Space}";
    case 'S': return "\\P{White_Space}";
    case 'h': return "\\p{ASCII_Hex_Digit}";
    case 'H': return "\\P{ASCII_Hex_Digit}";
    case 'v': return "\\x{0B}";
    case 'w': return in_class ? WORD_ITEMS : WORD;
    case 'W': return in_class ? NULL : "[^" WORD_ITEMS WORD_LATIN1 "]"; /* in a class: onig_escapes */
    case 'b': return in_class ? NULL : "(?:(?<=" WORD ")(?!" WORD ")|(?<!" WORD ")(?=" WORD "))";
    case 'B': return in_class ? NULL : "(?:(?<=" WORD ")(?=" WORD ")|(?<!" WORD ")(?!" WORD "))";
    default: return NULL;
    }
}

/* The length of the escape at p (a backslash and what follows): a property
 * \p{X} or \P{X} whole, else 2. */
static size_t prop_len(const char *p, size_t n) {
    if (n > 2 && (p[1] == 'p' || p[1] == 'P') && p[2] == '{') {
        const char *end = memchr(p + 2, '}', n - 2);
        if (end) return (size_t)(end + 1 - p);
    }
    return n > 2 && (p[1] == 'p' || p[1] == 'P') ? 3 : 2;
}

static char *onig_escapes(const char *p, size_t n, size_t *out_len, long *bad) {
    strbuf out = {0}, cls = {0}, alts = {0};
    PUTS(&out, "");
    *bad = -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            const char *rep = rewrite(p[i + 1], false);
            size_t w = prop_len(p + i, n - i);
            if (rep) PUT_PROPS(&out, rep, false, NULL);
            else put_props(&out, p + i, w, false, NULL); /* the backslash, then what it escapes */
            i += w - 1;
            continue;
        }
        if (p[i] != '[') {
            put(&out, p + i, 1);
            continue;
        }
        /* a class: its items into cls, each complement in it (\W, a
         * [:^name:] that no union of properties makes) as "[^...]|" into
         * alts, then the class, or the group when there is one */
        size_t k = i + 1;
        bool neg = k < n && p[k] == '^';
        if (neg) k++;
        cls.len = alts.len = 0;
        PUTS(&cls, "");
        PUTS(&alts, "");
        if (k < n && p[k] == ']') put(&cls, p + k++, 1); /* a ']' first is one of the class */
        for (; k < n && p[k] != ']'; k++) {
            if (p[k] == '\\' && k + 1 < n) {
                const char *rep = rewrite(p[k + 1], true);
                size_t w = prop_len(p + k, n - k);
                if (p[k + 1] == 'W') {
                    PUT_PROPS(&alts, "[^" WORD_ITEMS "]|", false, NULL);
                    rep = "\\P{Any}"; /* matches nothing, keeps a range beside it an error */
                }
                if (rep) PUT_PROPS(&cls, rep, true, &alts);
                else put_props(&cls, p + k, w, true, &alts);
                k += w - 1;
            } else if (p[k] == '[' && k + 1 < n && p[k + 1] == ':') {
                /* [:name:] or [:^name:]; class_set_op saw its ":]" */
                size_t e = k + 2;
                while (e + 1 < n && !(p[e] == ':' && p[e + 1] == ']')) e++;
                bool negated = p[k + 2] == '^';
                const char *name = p + k + 2 + negated;
                size_t len = (size_t)(p + e - name), j = 0, nb = sizeof posix_brackets / sizeof *posix_brackets;
                while (j < nb && !(strlen(posix_brackets[j].name) == len && !memcmp(posix_brackets[j].name, name, len))) j++;
                if (j == nb || e + 1 >= n) {
                    *bad = (long)k;
                    break;
                }
                if (!negated) PUT_PROPS(&cls, posix_brackets[j].is, true, &alts);
                else if (posix_brackets[j].isnt) PUT_PROPS(&cls, posix_brackets[j].isnt, true, &alts);
                else {
                    PUTS(&alts, "[^");
                    PUT_PROPS(&alts, posix_brackets[j].is, true, NULL);
                    PUTS(&alts, "]|");
                    PUTS(&cls, "\\P{Any}");
                }
                k = e + 1;
            } else put(&cls, p + k, 1);
        }
        if (*bad >= 0) break;
        if (k >= n) { /* an unclosed class: as written, for PCRE2 to say so */
            put(&out, p + i, n - i);
            break;
        }
        /* a '^' first of the items would negate the class rebuilt below */
        const char *hat = cls.len && cls.p[0] == '^' ? "\\" : "";
        if (!alts.len) {
            PUTS(&out, neg ? "[^" : "[");
            put(&out, cls.p, cls.len);
            PUTS(&out, "]");
        } else {
            /* [X\W] is "a non-word character, or [X]"; [^X\W] is "a
             * character that is neither", any one, newlines too */
            PUTS(&out, neg ? "(?:(?!" : "(?:");
            put(&out, alts.p, alts.len);
            PUTS(&out, "[");
            PUTS(&out, hat);
            put(&out, cls.p, cls.len);
            PUTS(&out, neg ? "])(?s:.))" : "])");
        }
        i = k;
    }
    free(cls.p);
    free(alts.p);
    if (*bad >= 0) {
        free(out.p);
        return NULL;
    }
    *out_len = out.len;
    return out.p;
}

/* Oniguruma's character classes nest ([a-z[0-9]]) and intersect
 * ([\p{L}&&[^a-z]]); PCRE2 reads the inner '[' and the "&&" as characters of
 * the class, so such a pattern would match other text than HF's, silently.
 * The byte offset of the first one, or -1 when there is none. A POSIX
 * bracket ([[:alpha:]]) is no nested class; what it means differs between
 * the two engines under Unicode, and onig_escapes rewrites it. */
static long class_set_op(const char *p, size_t n) {
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\') {
            i++; /* what it escapes is no bracket */
            continue;
        }
        if (!in) {
            if (p[i] == '[') {
                in = true;
                if (i + 1 < n && p[i + 1] == '^') i++;
                if (i + 1 < n && p[i + 1] == ']') i++; /* a ']' first is one of the class */
            }
            continue;
        }
        if (p[i] == ']') in = false;
        else if (p[i] == '[' && i + 1 < n && p[i + 1] == ':') {
            const char *end = NULL;
            for (size_t k = i + 2; k + 1 < n && !end; k++)
                if (p[k] == ':' && p[k + 1] == ']') end = p + k + 1;
            if (!end) return (long)i;
            i = (size_t)(end - p);
        } else if (p[i] == '[' || (p[i] == '&' && i + 1 < n && p[i + 1] == '&')) return (long)i;
    }
    return -1;
}

/* An inline option group, (?imx-imx) or (?imx-imx:...), outside a class
 * that sets anything but i and x: the byte offset of its "(?", or -1.
 * Oniguruma's Ruby syntax (the onig crate's default) reads m as "dot
 * matches newline", PCRE2's s, and PCRE2 reads it as multiline anchors;
 * s and PCRE2's other letters are errors to Oniguruma. Patterns with
 * nested classes were refused before this runs. */
static long inline_option(const char *p, size_t n) {
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\') {
            i++;
            continue;
        }
        if (in) {
            if (p[i] == ']') in = false;
            continue;
        }
        if (p[i] == '[') {
            in = true;
            if (i + 1 < n && p[i + 1] == '^') i++;
            if (i + 1 < n && p[i + 1] == ']') i++;
            continue;
        }
        if (p[i] != '(' || i + 2 >= n || p[i + 1] != '?') continue;
        size_t k = i + 2;
        bool other = false;
        while (k < n && ((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z') || p[k] == '-' || p[k] == '^')) {
            if (p[k] != 'i' && p[k] != 'x' && p[k] != '-') other = true;
            k++;
        }
        if (k > i + 2 && k < n && (p[k] == ')' || p[k] == ':') && other) return (long)i;
    }
    return -1;
}

int tk_regex_compile(tk_regex *re, const char *pattern, size_t len, bool literal, char *err, size_t errsize) {
    re->code = NULL;
    long at = literal ? -1 : class_set_op(pattern, len);
    if (at >= 0) {
        snprintf(err, errsize,
                 "a character class inside a class or '&&' (Oniguruma's class set operations) at offset %ld: "
                 "not supported",
                 at);
        return -1;
    }
    at = literal ? -1 : inline_option(pattern, len);
    if (at >= 0) {
        snprintf(err, errsize,
                 "an inline option other than i and x at offset %ld (Oniguruma's m is PCRE2's s): not supported", at);
        return -1;
    }
    size_t tlen = len;
    long bad;
    char *translated = literal ? NULL : onig_escapes(pattern, len, &tlen, &bad);
    if (!literal && !translated) {
        /* Oniguruma refuses it too (ONIGERR_INVALID_POSIX_BRACKET_TYPE) */
        const char *end = memmem(pattern + bad, len - (size_t)bad, ":]", 2);
        int shown = end && end - (pattern + bad) < 40 ? (int)(end + 2 - (pattern + bad)) : 2;
        snprintf(err, errsize,
                 "an unknown POSIX bracket '%.*s' at offset %ld: Oniguruma knows alnum, alpha, ascii, blank, cntrl, "
                 "digit, graph, lower, print, punct, space, upper, word, xdigit (or [:^name:])",
                 shown, pattern + bad, bad);
        return -1;
    }
    int code;
    PCRE2_SIZE off;
    /* UCP is refused with LITERAL. Oniguruma's ^ and $ are line anchors
     * (the Ruby syntax sets no SINGLELINE option): ^ at the start and after
     * each '\n' but the last character, $ before each '\n' and at the end,
     * which is PCRE2's MULTILINE with LF as the only newline (also what '.'
     * does not match, in both). */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc || pcre2_set_newline(cc, PCRE2_NEWLINE_LF)) pic_die("tokenizer: out of memory");
    re->code = pcre2_compile((PCRE2_SPTR)(literal ? pattern : translated), tlen, opts, &code, &off, cc);
    free(translated);
    /* an error's offset is the file's: the pattern as written says it */
    if (!re->code && !literal) {
        pcre2_code *orig = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &code, &off, cc);
        if (orig) { /* only the rewritten one fails: name the pattern's start */
            pcre2_code_free(orig);
            off = 0;
        }
    }
    pcre2_compile_context_free(cc);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errsize, "bad regex at offset %zu: %s", (size_t)off, (const char *)msg);
        return -1;
    }
    /* Without a JIT (an unsupported CPU) the interpreter still runs in
     * bounded time on these patterns, only slower. */
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

int tk_regex_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t n, size_t start,
                  size_t *ms, size_t *me) {
    if (start > n) return 0;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, start, 0, md, NULL)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0) return 0; /* no match; resource limits cannot be hit by linear patterns */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

int tk_regex_iter_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t n, tk_regex_iter *it,
                       size_t *ms, size_t *me) {
    if (n == 0) return 0; /* HF's Pattern finds nothing in an empty string */
    for (;;) {
        if (it->last_end > n || !tk_regex_next(re, md, s, n, it->last_end, ms, me)) return 0;
        it->last_end = *me;
        if (*me > *ms) {
            it->skip_empty = true;
            return 1;
        }
        uint32_t cp;
        int l = *me < n ? pic_utf8_next(s, n, *me, &cp) : 1;
        it->last_end += (size_t)(l > 0 ? l : 1);
        if (!it->skip_empty) return 1;
        it->skip_empty = false;
    }
}
