/* UTF-8 validity, one definition for every program (utf8.h). */
#include "common/utf8.h"

#include <string.h>

#include "common/cli.h"

int pic_utf8_next(const char *str, size_t n, size_t i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (i + (size_t)len > n) return 0;
    for (int k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

size_t pic_utf8_valid_prefix(const char *s, size_t n) {
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) { /* most text: no decoding */
            i++;
            continue;
        }
        int l = pic_utf8_next(s, n, i, &cp);
        if (!l) break;
        i += (size_t)l;
    }
    return i;
}

size_t pic_utf8_bad_line(const char *s, size_t n, size_t *byte, unsigned char *value) {
    size_t ok = pic_utf8_valid_prefix(s, n), line = 1, bol = 0;
    if (ok == n) return 0;
    for (size_t i = 0; i < ok; i++)
        if (s[i] == '\n') line++, bol = i + 1;
    *byte = ok - bol + 1;
    *value = (unsigned char)s[ok];
    return line;
}

/* How many bytes of an ill-formed sequence at s[i] form one maximal
 * subpart: the longest start of a well-formed sequence there, or 1. */
static size_t maximal_subpart(const unsigned char *s, size_t n, size_t i) {
    unsigned c = s[i];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    size_t k = 1;
    if (i + 1 < n && s[i + 1] >= lo && s[i + 1] <= hi) {
        k = 2;
        while (k <= need && i + k < n && (s[i + k] & 0xC0) == 0x80) k++;
    }
    return k;
}

char *pic_utf8_lossy(const char *str, size_t n, size_t *len) {
    const unsigned char *s = (const unsigned char *)str;
    char *out = pic_malloc(3 * n + 1); /* a byte becomes at most U+FFFD's three */
    size_t i = 0, m = 0;
    while (i < n) {
        uint32_t cp;
        int l = s[i] < 0x80 ? 1 : pic_utf8_next(str, n, i, &cp);
        if (l) {
            memcpy(out + m, str + i, (size_t)l), m += (size_t)l, i += (size_t)l;
            continue;
        }
        memcpy(out + m, "\xEF\xBF\xBD", 3), m += 3;
        i += maximal_subpart(s, n, i);
    }
    out[m] = 0;
    *len = m;
    return out;
}

size_t pic_utf8_bom(const char *s, size_t n) { return n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0; }
