/* Pre-tokenizers: each step turns the list of pieces into a finer (or
 * rewritten) list, as HF's PreTokenizedString.split does. Pieces are spans
 * of one buffer; steps that rewrite text (ByteLevel, Metaspace) build a new
 * buffer. Empty pieces are dropped, as in HF. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

typedef struct {
    tk_str buf;
    tk_span *p;
    size_t n, cap;
} plist;

typedef struct {
    size_t s, e;
    bool match;
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
} segs;

static void plist_push(plist *l, size_t off, size_t len) {
    if (!len) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->p = pic_realloc(l->p, l->cap * sizeof *l->p);
    }
    l->p[l->n++] = (tk_span){off, len};
}

static void segs_push(segs *v, size_t s, size_t e, bool m) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->v = pic_realloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = (seg){s, e, m};
}

/* Matches and the gaps between them, covering s[0..n), as HF's Pattern
 * for a regex lists them (empty matches included: they matter to the
 * merging behaviours). */
static void find_matches(const tk_regex *re, pcre2_match_data *md, const char *s, size_t n, segs *out) {
    out->n = 0;
    size_t prev = 0, ms, me;
    tk_regex_iter it = {0};
    while (tk_regex_iter_next(re, md, s, n, &it, &ms, &me)) {
        if (ms > prev) segs_push(out, prev, ms, false);
        segs_push(out, ms, me, true);
        prev = me;
    }
    if (prev < n) segs_push(out, prev, n, false);
}

/* HF's SplitDelimiterBehavior, applied in place. */
static void apply_behavior(segs *v, tk_split_behavior b, bool invert) {
    if (invert)
        for (size_t i = 0; i < v->n; i++) v->v[i].match = !v->v[i].match;
    size_t k = 0;
    bool prev = false;
    switch (b) {
    case SPLIT_ISOLATED:
        return;
    case SPLIT_REMOVED:
        for (size_t i = 0; i < v->n; i++)
            if (!v->v[i].match) v->v[k++] = v->v[i];
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < v->n; i++) {
            seg g = v->v[i];
            if (g.match && !prev && k) v->v[k - 1].e = g.e;
            else v->v[k++] = g;
            prev = g.match;
        }
        break;
    case SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < v->n; i++) {
            seg g = v->v[i];
            if (g.match == prev && k) v->v[k - 1].e = g.e;
            else v->v[k++] = g;
            prev = g.match;
        }
        break;
    case SPLIT_MERGED_NEXT: { /* the mirror image of MergedWithPrevious */
        size_t w = v->n;
        for (size_t i = v->n; i-- > 0;) {
            seg g = v->v[i];
            if (g.match && !prev && w < v->n) v->v[w].s = g.s;
            else v->v[--w] = g;
            prev = g.match;
        }
        for (size_t i = w; i < v->n; i++) v->v[k++] = v->v[i];
        break;
    }
    }
    v->n = k;
}

static void step_split(const pic_tokenizer *t, tk_state *st, const tk_pre *p, const plist *in, plist *out,
                       segs *tmp) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->buf.s + in->p[i].off;
        find_matches(&t->regex[p->regex], st->md, s, in->p[i].len, tmp);
        apply_behavior(tmp, p->behavior, p->invert);
        for (size_t k = 0; k < tmp->n; k++)
            plist_push(out, in->p[i].off + tmp->v[k].s, tmp->v[k].e - tmp->v[k].s);
    }
}

static void bytelevel_map(plist *out, const char *s, size_t n) {
    size_t off = out->buf.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        tk_str_add(&out->buf, tk_byte_char[b], tk_byte_char_len[b]);
    }
    plist_push(out, off, out->buf.len - off);
}

static void step_bytelevel(const pic_tokenizer *t, tk_state *st, const tk_pre *p, const plist *in, plist *out,
                           segs *tmp, tk_str *scratch) {
    out->n = 0;
    out->buf.len = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->buf.s + in->p[i].off;
        size_t n = in->p[i].len;
        if (p->add_prefix_space && s[0] != ' ') {
            scratch->len = 0;
            tk_str_addc(scratch, ' ');
            tk_str_add(scratch, s, n);
            s = scratch->s;
            n = scratch->len;
        }
        if (p->regex < 0) {
            bytelevel_map(out, s, n);
            continue;
        }
        find_matches(&t->regex[p->regex], st->md, s, n, tmp);
        for (size_t k = 0; k < tmp->n; k++) bytelevel_map(out, s + tmp->v[k].s, tmp->v[k].e - tmp->v[k].s);
    }
}

static void step_metaspace(const tk_pre *p, const plist *in, plist *out, size_t first_len) {
    out->n = 0;
    out->buf.len = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->buf.s + in->p[i].off;
        size_t n = in->p[i].len, off = out->buf.len;
        bool starts = n >= p->repl_len && memcmp(s, p->repl, p->repl_len) == 0;
        /* "first": a piece that starts at the text's offset 0
         * (offsets_original().0 == 0 in HF): one that begins in what the
         * normalizer made of the first character, not one after an added
         * token or after removed text */
        bool prepend = p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && in->p[i].off < first_len);
        if (prepend && !starts && s[0] != ' ') tk_str_add(&out->buf, p->repl, p->repl_len);
        for (size_t k = 0; k < n; k++) {
            if (s[k] == ' ') tk_str_add(&out->buf, p->repl, p->repl_len);
            else tk_str_addc(&out->buf, s[k]);
        }
        if (!p->split) {
            plist_push(out, off, out->buf.len - off);
            continue;
        }
        /* split before each replacement character (MergedWithNext) */
        size_t start = off;
        for (size_t k = off + 1; k + p->repl_len <= out->buf.len; k++)
            if (memcmp(out->buf.s + k, p->repl, p->repl_len) == 0) {
                plist_push(out, start, k - start);
                start = k;
            }
        plist_push(out, start, out->buf.len - start);
    }
}

void tk_pretokenize(const pic_tokenizer *t, tk_state *st, const char *s, size_t n, size_t first_len,
                    tk_str *buf, tk_span **pieces, size_t *n_pieces) {
    plist a = {0}, b = {0};
    segs tmp = {0};
    tk_str scratch = {0};
    tk_str_add(&a.buf, s, n);
    plist_push(&a, 0, n);
    for (int k = 0; k < t->n_pre; k++) {
        const tk_pre *p = &t->pre[k];
        switch (p->kind) {
        case PRE_SPLIT:
            /* same text, finer spans: reuse the buffer */
            step_split(t, st, p, &a, &b, &tmp);
            { tk_str keep = a.buf; a.buf = b.buf; b.buf = keep; }
            break;
        case PRE_BYTELEVEL:
            step_bytelevel(t, st, p, &a, &b, &tmp, &scratch);
            break;
        case PRE_METASPACE:
            step_metaspace(p, &a, &b, first_len);
            break;
        }
        plist swap = a;
        a = b;
        b = swap;
    }
    free(b.buf.s);
    free(b.p);
    free(tmp.v);
    free(scratch.s);
    free(buf->s);
    *buf = a.buf;
    *pieces = a.p;
    *n_pieces = a.n;
}
