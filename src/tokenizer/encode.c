/* The encoding pipeline, in HF's order: added tokens matched in the raw
 * text; each stretch between them normalized; "normalized" added tokens
 * matched in that; the rest pre-tokenized into pieces and each piece run
 * through the model; then the post-processor's special tokens. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

tk_state *tk_state_new(const pic_tokenizer *t) {
    (void)t;
    tk_state *st = pic_calloc(1, sizeof *st);
    st->md = pcre2_match_data_create(1, NULL);
    if (!st->md) pic_die("tokenizer: out of memory");
    pic_strmap_init(&st->cache, 1024);
    st->use_cache = true;
    return st;
}

void tk_state_free(tk_state *st) {
    if (!st) return;
    pcre2_match_data_free(st->md);
    pic_strmap_free(&st->cache);
    free(st->cache_at);
    free(st->cache_ids.v);
    free(st);
}

static void encode_text(const pic_tokenizer *t, tk_state *st, const char *s, size_t n, size_t first_len,
                        tk_ids *out) {
    tk_str buf = {0};
    tk_span *pieces = NULL;
    size_t np = 0;
    tk_pretokenize(t, st, s, n, first_len, &buf, &pieces, &np);
    for (size_t i = 0; i < np; i++) tk_bpe_word(t, st, buf.s + pieces[i].off, pieces[i].len, out);
    free(pieces);
    free(buf.s);
}

static void encode_all(const pic_tokenizer *t, tk_state *st, const char *text, size_t len, tk_ids *out) {
    tk_segment *raw = NULL, *norm = NULL;
    size_t nraw = 0, craw = 0, nnorm = 0, cnorm = 0;
    tk_str ns = {0};
    tk_added_split(&t->added_raw, text, len, &raw, &nraw, &craw);
    /* the normalized bytes that come from the text's first character (HF
     * aligns what a normalizer makes of a character to that character):
     * Metaspace's "first" marks every piece that begins there */
    size_t first_len = 0;
    if (nraw && raw[0].id < 0 && len) {
        uint32_t cp;
        int l = pic_utf8_next(text, len, 0, &cp);
        tk_normalize(t, st, text, l > 0 ? (size_t)l : 1, &ns);
        first_len = ns.len;
    }
    for (size_t i = 0; i < nraw; i++) {
        if (raw[i].id >= 0) {
            tk_ids_add(out, raw[i].id);
            continue;
        }
        tk_normalize(t, st, text + raw[i].off, raw[i].len, &ns);
        nnorm = 0;
        tk_added_split(&t->added_norm, ns.s, ns.len, &norm, &nnorm, &cnorm);
        for (size_t k = 0; k < nnorm; k++) {
            if (norm[k].id >= 0) tk_ids_add(out, norm[k].id);
            else encode_text(t, st, ns.s + norm[k].off, norm[k].len,
                             raw[i].off == 0 && norm[k].off < first_len ? first_len - norm[k].off : 0, out);
        }
    }
    free(raw);
    free(norm);
    free(ns.s);
}

int pic_tokenizer_encode(const pic_tokenizer *t, const char *text, size_t len, bool add_special,
                         int32_t **ids, size_t *n) {
    size_t ok = pic_utf8_valid_prefix(text, len);
    if (ok != len) {
        *ids = NULL;
        *n = ok;
        return -1;
    }
    pic_tokenizer *mt = (pic_tokenizer *)t; /* only the lock and the cache change */
    tk_state *st = NULL;
    bool locked = pthread_mutex_trylock(&mt->mu) == 0;
    if (locked) st = mt->state;
    else st = tk_state_new(t); /* another thread holds the shared state */

    tk_ids out = {0};
    if (add_special)
        for (size_t i = 0; i < t->n_prefix; i++) tk_ids_add(&out, t->prefix[i]);
    encode_all(t, st, text, len, &out);
    if (add_special)
        for (size_t i = 0; i < t->n_suffix; i++) tk_ids_add(&out, t->suffix[i]);

    if (locked) pthread_mutex_unlock(&mt->mu);
    else tk_state_free(st);
    if (!out.v) out.v = pic_malloc(sizeof *out.v); /* callers may free an empty result */
    *ids = out.v;
    *n = out.n;
    return 0;
}

int pic_tokenizer_count(const pic_tokenizer *t, const char *text, size_t len, bool add_special, size_t *n) {
    int32_t *ids;
    int rc = pic_tokenizer_encode(t, text, len, add_special, &ids, n);
    free(ids);
    return rc;
}
