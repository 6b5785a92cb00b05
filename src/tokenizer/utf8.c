/* Byte strings, id arrays, UTF-8 and GPT-2's byte-level alphabet. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

void tk_str_add(tk_str *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = pic_realloc(b->s, b->cap);
    }
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void tk_str_addc(tk_str *b, char c) { tk_str_add(b, &c, 1); }

void tk_ids_add(tk_ids *a, int32_t id) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = pic_realloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
}

/* How many bytes of an ill-formed sequence at s[i] form one "maximal
 * subpart" (Unicode 3.9, U+FFFD substitution), which is what Rust replaces
 * with a single U+FFFD. */
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

void tk_utf8_lossy(tk_str *out, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        int l = s[i] < 0x80 ? 1 : pic_utf8_next(str, n, i, &cp);
        if (l) {
            i += (size_t)l;
            continue;
        }
        tk_str_add(out, str + run, i - run);
        tk_str_add(out, "\xEF\xBF\xBD", 3);
        i += maximal_subpart(s, n, i);
        run = i;
    }
    tk_str_add(out, str + run, n - run);
}

bool tk_is_whitespace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

char tk_byte_char[256][3];
uint8_t tk_byte_char_len[256];
static int16_t char_byte[324]; /* characters U+0000..U+0143 -> byte, or -1 */
static pthread_once_t bytelevel_once = PTHREAD_ONCE_INIT;

/* GPT-2 keeps printable Latin-1 bytes as themselves and moves the others
 * (controls, space, DEL, NBSP, soft hyphen) to U+0100 upwards, in byte order,
 * so that every byte is a visible character. */
static void bytelevel_build(void) {
    int next = 256;
    for (int i = 0; i < 324; i++) char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = keep ? b : next++;
        char_byte[cp] = (int16_t)b;
        if (cp < 0x80) {
            tk_byte_char[b][0] = (char)cp;
            tk_byte_char_len[b] = 1;
        } else {
            tk_byte_char[b][0] = (char)(0xC0 | (cp >> 6));
            tk_byte_char[b][1] = (char)(0x80 | (cp & 0x3F));
            tk_byte_char_len[b] = 2;
        }
    }
}

void tk_bytelevel_init(void) { pthread_once(&bytelevel_once, bytelevel_build); }

int tk_char_byte(uint32_t cp) { return cp < 324 ? char_byte[cp] : -1; }
