/* Backward searches (textsearch.h), shared by the math and countdown extractors. */
#include "reward/textsearch.h"

#include <ctype.h>
#include <string.h>

size_t rw_rfind(const char *s, size_t end, const char *w) {
    size_t wl = strlen(w);
    if (end < wl) return (size_t)-1;
    for (size_t i = end - wl + 1; i-- > 0;)
        if (s[i] == w[0] && memcmp(s + i, w, wl) == 0) return i;
    return (size_t)-1;
}

size_t rw_rfind_ci(const char *s, size_t end, const char *w) {
    size_t wl = strlen(w);
    if (end < wl) return (size_t)-1;
    for (size_t i = end - wl + 1; i-- > 0;) {
        size_t k = 0;
        while (k < wl && tolower((unsigned char)s[i + k]) == w[k]) k++;
        if (k == wl) return i;
    }
    return (size_t)-1;
}

bool rw_has_dollar(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '$') return true;
    }
    return false;
}

/* The bytes of the whitespace character that u[0, left) starts with (and
 * ends with, when left is its length), or 0. */
static size_t space_len(const unsigned char *u, size_t left) {
    if (!left) return 0;
    if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r') || (u[0] >= 0x1c && u[0] <= 0x1f)) return 1;
    if (left >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) return 2;
    if (left < 3) return 0;
    if (u[0] == 0xe1) return u[1] == 0x9a && u[2] == 0x80 ? 3 : 0;
    if (u[0] == 0xe3) return u[1] == 0x80 && u[2] == 0x80 ? 3 : 0;
    if (u[0] != 0xe2) return 0;
    if (u[1] == 0x81) return u[2] == 0x9f ? 3 : 0;
    return u[1] == 0x80 && ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf) ? 3 : 0;
}

size_t rw_space_at(const char *s, size_t n, size_t i) {
    return i < n ? space_len((const unsigned char *)s + i, n - i) : 0;
}

size_t rw_space_before(const char *s, size_t i) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t w = 1; w <= 3 && w <= i; w++)
        if (space_len(u + i - w, w) == w) return w;
    return 0;
}

size_t rw_chars_ahead(const char *s, size_t n, size_t i, size_t k) {
    for (; k > 0 && i < n; k--)
        for (i++; i < n && ((unsigned char)s[i] & 0xc0) == 0x80;) i++;
    return i;
}
