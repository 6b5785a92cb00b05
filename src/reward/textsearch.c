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
