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
