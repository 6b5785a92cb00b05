/* latex2sympy2_extended's basic normalization, the steps pic runs as text
 * (normalize.h), in normalize_latex's order. The rest of that step (\left
 * and \right, \displaystyle, \dfrac, "and"/"or", ...) the lexer reads
 * token by token. Each replacement writes no more than it reads, so the
 * text is rewritten in place, left to right, as re.sub scans. */
#include "reward/normalize.h"

#include <stdbool.h>
#include <string.h>

static bool at(const char *t, size_t len, size_t i, const char *w) {
    size_t n = strlen(w);
    return i + n <= len && memcmp(t + i, w, n) == 0;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

size_t rw_normalize_basic(char *t, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len;) { /* text.replace(r'\mathrm{d}', 'd').replace(r'{\rm d}', 'd') */
        size_t skip = at(t, len, i, "\\mathrm{d}") ? 10 : at(t, len, i, "{\\rm d}") ? 7 : 0;
        if (skip) t[o++] = 'd', i += skip;
        else t[o++] = t[i++];
    }
    len = o, o = 0;
    for (size_t i = 0; i < len;) { /* to_remove_regex's dollar signs and quotes, \\\$|\$|(?<!\\)["'] -> "" */
        if (t[i] == '$' || ((t[i] == '"' || t[i] == '\'') && !(i > 0 && t[i - 1] == '\\'))) i++;
        else if (t[i] == '\\' && i + 1 < len && t[i + 1] == '$') i += 2;
        else t[o++] = t[i++];
    }
    len = o, o = 0;
    for (size_t i = 0; i < len;) { /* to_replace_regex's "dot": ,?(\\ldots) -> " " */
        size_t skip = at(t, len, i, ",\\ldots") ? 7 : at(t, len, i, "\\ldots") ? 6 : 0;
        if (skip) t[o++] = ' ', i += skip;
        else t[o++] = t[i++];
    }
    len = o, o = 0;
    for (size_t i = 0; i + 6 <= len; i++) /* command_slash_fix_regex runs only without "matrix" */
        if (memcmp(t + i, "matrix", 6) == 0) return len;
    for (size_t i = 0; i < len;) { /* \\\\(?=[a-zA-Z]) -> \\ */
        if (t[i] == '\\' && i + 2 < len && t[i + 1] == '\\' && is_alpha(t[i + 2])) i++;
        t[o++] = t[i++];
    }
    return o;
}

/* r_left and r_right's delimiters, after "\\left" or "\\right" ("\\mleft" too) */
static size_t delimiter_at(const char *t, size_t len, size_t i) {
    static const char *const d[] = {"\\{", "{", "\\|", "|", "[", "(", "\\}", "}", "]", ")", "\\rbracl", "\\lgroup",
                                    "\\rgroup", "\\lbrace", "\\rbrace", "\\lbrack", "\\rbrack", "\\vert", "\\lvert",
                                    "\\rvert", "\\lceil", "\\rceil", "\\lfloor", "\\rfloor", "\\langle", "\\rangle",
                                    "\\llcorner", "\\lrcorner", "\\ulcorner", "\\urcorner"};
    for (size_t k = 0; k < sizeof d / sizeof *d; k++)
        if (at(t, len, i, d[k])) return strlen(d[k]);
    return 0;
}

size_t rw_normalize_text(char *t, size_t len) {
    static const struct {
        const char *from, *to;
    } words[] = {{"\\dfrac", "\\frac"},   {"\\tfrac", "\\frac"},   {"\\cfrac", "\\frac"},
                 {"\\mathrm", "\\text"},  {"\\mathit", "\\text"},  {"\\mathbf", "\\text"},
                 {"\\textnormal", "\\text"}, {"\\textbf", "\\text"}, {"\\textit", "\\text"},
                 {"\\textrm", "\\text"},  {"\\displaystyle", ""}};
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t w = 0, k;
        for (k = 0; k < sizeof words / sizeof *words && !w; k++)
            if (at(t, len, i, words[k].from)) w = strlen(words[k].from);
        if (w) {
            const char *to = words[k - 1].to;
            memcpy(t + o, to, strlen(to));
            o += strlen(to), i += w;
            continue;
        }
        size_t lr = at(t, len, i, "\\left") ? 5 : at(t, len, i, "\\mleft") ? 6 : at(t, len, i, "\\right") ? 6
                  : at(t, len, i, "\\mright") ? 7 : 0;
        if (lr && delimiter_at(t, len, i + lr)) {
            i += lr; /* the delimiter is copied as it stands */
            continue;
        }
        t[o++] = t[i++];
    }
    return o;
}
