/* Math-Verify's unit removal (units.h): latex2sympy2_extended's
 * math_normalization.py, its units step, after the basic step has made
 * \textbf, \textit, \textrm, \textnormal, \mathrm, \mathit and \mathbf
 * into \text. Two rules, each keeping the text when it would vanish:
 * - from the first \text{ or \mbox{ to the end, when the text ends with
 *   '}' and maybe ^d or {^d} ("12 \text{ apples}" is 12, "6 \text{ cm}^2"
 *   is 6), its unit_superscript_regex;
 * - twice, a word of its list (with s or es) closing the text after a
 *   digit, '}' or a space ("5 apples", "2h", "3 feet"), its units_regex.
 * Its list has odd members ("t", "c", "ab", "by", "more") and lacks
 * common ones ("dollar", "centimeter", "week"): both are kept, as the
 * answers Math-Verify reads. Linear in the text for each word. */
#include "reward/units.h"

#include "reward/textsearch.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* math_normalization.py's `units`, in its order ("integer" "point" is one
 * string there, two literals joined by Python) */
#define U(w) {w, sizeof w - 1}
static const struct {
    const char *w;
    size_t len;
} units[] = {
    U("integerpoint"), U("feet"), U("sue"), U("digit"), U("pound"), U("meal"), U("edge"), U("student"),
    U("children ticket"), U("multiple"), U("east"), U("degree"), U("mph"), U("kmph"), U("ft"), U("m square"),
    U(" m east"), U("sq m"), U("deg"), U("mile"), U("q ."), U("monkey"), U("prime"), U("ratio"),
    U("profit of rs"), U("rd"), U("o"), U("gm"), U("p . m"), U("lb"), U("tile"), U("per"), U("dm"), U("lt"),
    U("gain"), U("ab"), U("way"), U("west"), U("a ."), U("b ."), U("c ."), U("d ."), U("e ."), U("f ."),
    U("g ."), U("h ."), U("t"), U("h"), U("no change"), U("men"), U("soldier"), U("pie"), U("bc"), U("excess"),
    U("st"), U("inches"), U("noon"), U("cent"), U("by"), U("gal"), U("kmh"), U("c"), U("acre"), U("rise"),
    U("a . m"), U("th"), U("\xcf\x80 r 2"), U("sq"), U("mark"), U("l"), U("toy"), U("coin"), U("sq . m"),
    U("gallon"), U("\xc2\xb0 f"), U("profit"), U("minw"), U("yr"), U("women"), U("am"), U("pm"), U("hr"),
    U("cu cm"), U("square"), U("v \xc3\xa2 \xe2\x82\xac \xe2\x84\xa2"), U("are"), U("rupee"), U("rounds"),
    U("cubic"), U("cc"), U("mtr"), U("s"), U("ohm"), U("number"), U("day"), U("hour"), U("minute"), U("min"),
    U("second"), U("man"), U("woman"), U("sec"), U("cube"), U("mt"), U("sq inch"), U("mp"),
    U("\xe2\x88\x8f cm \xc2\xb3"), U("hectare"), U("more"), U("unit"), U("cu . m"), U("cm 2"), U("rs ."),
    U("rs"), U("kg"), U("g"), U("month"), U("km"), U("m"), U("cm"), U("mm"), U("apple"), U("liter"), U("loss"),
    U("yard"), U("pure"), U("year"), U("increase"), U("decrease"), U("d"), U("less"), U("Surface"), U("litre"),
    U("pi sq m"), U("s ."), U("metre"), U("meter"), U("inch"),
};
#undef U

/* k moved back over whitespace and "\ " (a backslash before a space, not
 * a row's "\\" before one), which the basic step has made a space before
 * the units step runs: "5\ \text{cm}" is 5. */
static size_t back_over_space(const char *t, size_t n, size_t k) {
    for (;;) {
        size_t w = rw_space_before(t, k);
        if (w) k -= w;
        else if (k > 0 && t[k - 1] == '\\' && rw_space_at(t, n, k) && !(k >= 2 && t[k - 2] == '\\')) k--;
        else return k;
    }
}

static bool starts(const char *t, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && memcmp(t + i, w, l) == 0;
}

/* Whether t[b+1, ...) up to its '}' is only a word the basic step
 * replaced before the units step: "and" and "or" (a comma), "percent",
 * "pct" and "percentage" (a '%'), or nothing (removed). */
static bool replaced_word(const char *t, size_t n, size_t b) {
    static const char *const words[] = {"", "and", "or", "percent", "pct", "percentage"};
    size_t i = b + 1, j;
    for (size_t l; (l = rw_space_at(t, n, i));) i += l;
    for (j = i; j < n && isalpha((unsigned char)t[j]); j++) {}
    size_t w = j - i;
    for (size_t l; (l = rw_space_at(t, n, j));) j += l;
    if (j >= n || t[j] != '}') return false;
    for (size_t k = 0; k < sizeof words / sizeof *words; k++)
        if (strlen(words[k]) == w && memcmp(t + i, words[k], w) == 0) return k <= 2 || (i == b + 1 && j == i + w);
    return false;
}

/* \text{...} (or a command the basic step turns into it) opening at i:
 * the index of its '{', or 0. */
static size_t text_open(const char *t, size_t n, size_t i) {
    static const char *const cmds[] = {"\\text{", "\\mbox{", "\\textbf{", "\\textit{", "\\textrm{",
                                       "\\textnormal{", "\\mathrm{", "\\mathit{", "\\mathbf{"};
    for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++) {
        if (!starts(t, n, i, cmds[k])) continue;
        size_t b = i + strlen(cmds[k]) - 1;
        return replaced_word(t, n, b) ? 0 : b;
    }
    return 0;
}

/* unit_superscript_regex, (\\(?:text|mbox){.*?})(\^\d|\{\^\d\})?$: its
 * leftmost match starts at the first \text{ that a '}' after its brace
 * closes at the end (or before a final ^d). */
static size_t strip_text(const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '\\') continue;
        size_t b = text_open(t, n, i);
        if (!b) continue;
        bool closes = (n - 1 > b && t[n - 1] == '}') ||
                      (n >= 3 && n - 3 > b && t[n - 3] == '}' && t[n - 2] == '^' && isdigit((unsigned char)t[n - 1]));
        if (!closes) return n;
        size_t k = back_over_space(t, n, i);
        return k > 0 ? k : n;
    }
    return n;
}

/* units_regex, (\d|\}|\s)\s*(?:UNIT)(?:s|es)?\s*$, replaced by its first
 * group: the text up to the leftmost such group. */
static size_t strip_unit_word(const char *t, size_t n) {
    size_t e = n;
    for (size_t w; (w = rw_space_before(t, e));) e -= w;
    size_t best = n, keep = n;
    /* the suffixes that can close the text: none, "s", "es" */
    size_t sufs[3], ns = 0;
    sufs[ns++] = 0;
    if (e >= 1 && t[e - 1] == 's') sufs[ns++] = 1;
    if (e >= 2 && t[e - 1] == 's' && t[e - 2] == 'e') sufs[ns++] = 2;
    for (size_t k = 0; k < sizeof units / sizeof *units; k++) {
        size_t u = units[k].len;
        for (size_t j = 0; j < ns; j++) {
            size_t sl = sufs[j];
            if (e < u + sl || t[e - sl - 1] != units[k].w[u - 1] || memcmp(t + e - sl - u, units[k].w, u) != 0)
                continue;
            size_t q = e - sl - u, p = back_over_space(t, n, q);
            size_t at, w = 1;
            if (p > 0 && (isdigit((unsigned char)t[p - 1]) || t[p - 1] == '}')) at = p - 1;
            else if (p < q) at = p, w = t[p] == '\\' ? 1 : rw_space_at(t, n, p); /* a space is the group itself */
            else continue;
            if (at < best) best = at, keep = at + w;
        }
    }
    return keep < n ? keep : n;
}

size_t rw_strip_units(const char *t, size_t len, bool padded) {
    size_t n = padded ? len : strip_text(t, len);
    for (int pass = 0; pass < 2; pass++) {
        size_t m = strip_unit_word(t, n);
        /* a group that is only spaces leaves nothing: the text stays */
        if (back_over_space(t, n, m) > 0) n = m;
    }
    return n;
}
