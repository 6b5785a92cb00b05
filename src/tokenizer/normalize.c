/* Normalizers. Unicode normal forms come from utf8proc: NFC is a table
 * problem (composition exclusions, singletons such as U+2001 -> U+2003), and
 * utf8proc carries the tables for the Unicode version HF's Rust crate uses. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

static void unicode_form(tk_norm_kind kind, tk_str *io) {
    size_t i = 0;
    while (i < io->len && (unsigned char)io->s[i] < 0x80) i++;
    if (i == io->len) return; /* ASCII is invariant under every normal form */
    int opts = UTF8PROC_STABLE;
    switch (kind) {
    case NORM_NFC: opts |= UTF8PROC_COMPOSE; break;
    case NORM_NFD: opts |= UTF8PROC_DECOMPOSE; break;
    case NORM_NFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)io->s, (utf8proc_ssize_t)io->len, &dst,
                                      (utf8proc_option_t)opts);
    if (r < 0) /* the input was validated, so only memory can fail here */
        pic_die("tokenizer: normalization failed: %s", utf8proc_errmsg(r));
    io->len = 0;
    tk_str_add(io, (const char *)dst, (size_t)r);
    free(dst);
}

/* NormalizedString::replace: every match, an empty one too (it inserts
 * the content there), becomes the content. */
static void replace(const pic_tokenizer *t, tk_state *st, const tk_norm *nm, tk_str *io) {
    const tk_regex *re = &t->regex[nm->regex];
    tk_str out = {0};
    size_t pos = 0, ms, me;
    tk_regex_iter it = {0};
    while (tk_regex_iter_next(re, st->md, io->s, io->len, &it, &ms, &me)) {
        tk_str_add(&out, io->s + pos, ms - pos);
        tk_str_add(&out, nm->str, nm->str_len);
        pos = me;
    }
    tk_str_add(&out, io->s + pos, io->len - pos);
    free(io->s);
    *io = out;
}

void tk_normalize(const pic_tokenizer *t, tk_state *st, const char *s, size_t n, tk_str *out) {
    out->len = 0;
    tk_str_add(out, s, n);
    for (int k = 0; k < t->n_norm; k++) {
        const tk_norm *nm = &t->norm[k];
        switch (nm->kind) {
        case NORM_PREPEND:
            if (out->len) {
                tk_str tmp = {0};
                tk_str_add(&tmp, nm->str, nm->str_len);
                tk_str_add(&tmp, out->s, out->len);
                free(out->s);
                *out = tmp;
            }
            break;
        case NORM_REPLACE:
            replace(t, st, nm, out);
            break;
        default:
            unicode_form(nm->kind, out);
            break;
        }
    }
}
