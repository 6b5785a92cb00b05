/* Decoding: ids -> token strings -> the decoder chain -> one string, as HF's
 * Tokenizer.decode does (each decoder maps the list of token strings to a new
 * list; the result is their concatenation). */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

typedef struct {
    tk_str *v;
    size_t n, cap;
} toks;

static void toks_push(toks *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = pic_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = (tk_str){0};
    tk_str_add(&l->v[l->n++], s, n);
}

static void toks_free(toks *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].s);
    free(l->v);
    *l = (toks){0};
}

/* Every token's characters mapped back to bytes (a token with a character
 * outside the alphabet, such as an added token, contributes its own UTF-8),
 * then the whole byte string read as UTF-8 with U+FFFD for bad sequences. */
static void dec_bytelevel(toks *l) {
    tk_str bytes = {0};
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i].s;
        size_t n = l->v[i].len, start = bytes.len, k = 0;
        bool all = true;
        while (k < n) {
            uint32_t cp;
            int len = pic_utf8_next(s, n, k, &cp);
            int b = len > 0 ? tk_char_byte(cp) : -1;
            if (b < 0) {
                all = false;
                break;
            }
            tk_str_addc(&bytes, (char)b);
            k += (size_t)len;
        }
        if (!all) {
            bytes.len = start;
            tk_str_add(&bytes, s, n);
        }
    }
    size_t len;
    char *text = pic_utf8_lossy(bytes.s ? bytes.s : "", bytes.len, &len);
    toks_free(l);
    toks_push(l, text, len);
    free(bytes.s);
    free(text);
}

static void replace_all(tk_str *t, const char *pat, size_t plen, const char *with, size_t wlen) {
    if (!plen) return;
    tk_str out = {0};
    size_t i = 0, run = 0;
    while (i + plen <= t->len) {
        if (memcmp(t->s + i, pat, plen) == 0) {
            tk_str_add(&out, t->s + run, i - run);
            tk_str_add(&out, with, wlen);
            i += plen;
            run = i;
        } else i++;
    }
    tk_str_add(&out, t->s + run, t->len - run);
    free(t->s);
    *t = out;
}

/* HF drops every replacement character of the first token (not only a
 * leading one) when a prefix was prepended; the others become spaces. */
static void dec_metaspace(const tk_dec *d, toks *l) {
    for (size_t i = 0; i < l->n; i++)
        replace_all(&l->v[i], d->repl, d->repl_len, i == 0 && d->prepend != PREPEND_NEVER ? "" : " ",
                    i == 0 && d->prepend != PREPEND_NEVER ? 0 : 1);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Runs of <0xXX> tokens become the string they spell when it is valid UTF-8,
 * else one U+FFFD per byte. */
static void dec_bytefallback(toks *l) {
    toks out = {0};
    tk_str run = {0};
    size_t run_n = 0;
    for (size_t i = 0; i <= l->n; i++) {
        const tk_str *t = i < l->n ? &l->v[i] : NULL;
        if (t && t->len == 6 && memcmp(t->s, "<0x", 3) == 0 && t->s[5] == '>' && hexval(t->s[3]) >= 0 &&
            hexval(t->s[4]) >= 0) {
            tk_str_addc(&run, (char)(hexval(t->s[3]) * 16 + hexval(t->s[4])));
            run_n++;
            continue;
        }
        if (run_n) {
            if (pic_utf8_valid_prefix(run.s, run.len) == run.len) toks_push(&out, run.s, run.len);
            else
                for (size_t k = 0; k < run_n; k++) toks_push(&out, "\xEF\xBF\xBD", 3);
            run.len = 0;
            run_n = 0;
        }
        if (t) toks_push(&out, t->s, t->len);
    }
    free(run.s);
    toks_free(l);
    *l = out;
}

static void dec_fuse(toks *l) {
    tk_str all = {0};
    for (size_t i = 0; i < l->n; i++) tk_str_add(&all, l->v[i].s, l->v[i].len);
    toks_free(l);
    toks_push(l, all.s ? all.s : "", all.len);
    free(all.s);
}

static void dec_strip(const tk_dec *d, toks *l) {
    for (size_t i = 0; i < l->n; i++) {
        tk_str *t = &l->v[i];
        size_t a = 0, b = t->len;
        for (int k = 0; k < d->start && b - a >= d->content_len && memcmp(t->s + a, d->content, d->content_len) == 0; k++)
            a += d->content_len;
        for (int k = 0; k < d->stop && b - a >= d->content_len &&
                        memcmp(t->s + b - d->content_len, d->content, d->content_len) == 0; k++)
            b -= d->content_len;
        memmove(t->s, t->s + a, b - a);
        t->len = b - a;
        t->s[t->len] = 0;
    }
}

int pic_tokenizer_decode(const pic_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                         char **text, size_t *len) {
    toks l = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->tok[id]) {
            if (id >= 0 && id < t->model_vocab) continue; /* a model row without a token: no text, as in transformers */
            toks_free(&l);
            *text = NULL;
            *len = i;
            return -1;
        }
        if (skip_special && (t->tok_flags[id] & TOK_SPECIAL)) continue;
        toks_push(&l, t->tok[id], t->tok_len[id]);
    }
    tk_str out = {0};
    if (!t->has_decoder) { /* HF joins with spaces when there is no decoder */
        for (size_t i = 0; i < l.n; i++) {
            if (i) tk_str_addc(&out, ' ');
            tk_str_add(&out, l.v[i].s, l.v[i].len);
        }
    } else {
        for (int k = 0; k < t->n_dec; k++) {
            const tk_dec *d = &t->dec[k];
            switch (d->kind) {
            case DEC_BYTELEVEL: dec_bytelevel(&l); break;
            case DEC_METASPACE: dec_metaspace(d, &l); break;
            case DEC_REPLACE:
                for (size_t i = 0; i < l.n; i++) replace_all(&l.v[i], d->pattern, d->pattern_len, d->content, d->content_len);
                break;
            case DEC_BYTEFALLBACK: dec_bytefallback(&l); break;
            case DEC_FUSE: dec_fuse(&l); break;
            case DEC_STRIP: dec_strip(d, &l); break;
            }
        }
        for (size_t i = 0; i < l.n; i++) tk_str_add(&out, l.v[i].s, l.v[i].len);
    }
    toks_free(&l);
    if (!out.s) tk_str_add(&out, "", 0);
    *text = out.s;
    *len = out.len;
    return 0;
}
