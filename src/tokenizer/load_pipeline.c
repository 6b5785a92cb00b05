/* tokenizer.json's normalizer, pre_tokenizer, post_processor and decoder. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/load.h"

_Noreturn void tk_bad(const tk_load *c, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pic_die("%s: field '%s': %s", c->file, field, msg);
}

static const json_t *member(const tk_load *c, const json_t *obj, const char *field, const char *key) {
    if (!json_is_object(obj)) tk_bad(c, field, "expected an object");
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

bool tk_get_bool(const tk_load *c, const json_t *obj, const char *field, const char *key, bool dflt) {
    const json_t *v = member(c, obj, field, key);
    if (!v) return dflt;
    if (!json_is_boolean(v)) tk_bad(c, field, "'%s' must be true or false", key);
    return json_is_true(v);
}

long long tk_get_int(const tk_load *c, const json_t *obj, const char *field, const char *key, long long dflt) {
    const json_t *v = member(c, obj, field, key);
    if (!v) return dflt;
    if (!json_is_integer(v)) tk_bad(c, field, "'%s' must be an integer", key);
    return json_integer_value(v);
}

const char *tk_get_str(const tk_load *c, const json_t *obj, const char *field, const char *key, size_t *len) {
    const json_t *v = member(c, obj, field, key);
    if (!v) return NULL;
    if (!json_is_string(v)) tk_bad(c, field, "'%s' must be a string", key);
    if (len) *len = json_string_length(v);
    /* a caller without len reads a C string: "NFC\u0000x" would be "NFC" */
    else if (strlen(json_string_value(v)) != json_string_length(v))
        tk_bad(c, field, "'%s' contains a NUL character (\\u0000)", key);
    return json_string_value(v);
}

const char *tk_get_type(const tk_load *c, const json_t *obj, const char *field) {
    const char *type = tk_get_str(c, obj, field, "type", NULL);
    if (!type) tk_bad(c, field, "has no 'type'");
    return type;
}

int tk_add_regex(const tk_load *c, const char *pattern, size_t len, bool literal, const char *field) {
    pic_tokenizer *t = c->t;
    char err[300];
    t->regex = pic_realloc(t->regex, (size_t)(t->n_regex + 1) * sizeof *t->regex);
    if (tk_regex_compile(&t->regex[t->n_regex], pattern, len, literal, err, sizeof err))
        tk_bad(c, field, "%s", err);
    return t->n_regex++;
}

int tk_add_pattern(const tk_load *c, const json_t *pattern, const char *field) {
    size_t len;
    const char *s = tk_get_str(c, pattern, field, "Regex", &len);
    if (s) return tk_add_regex(c, s, len, false, field);
    s = tk_get_str(c, pattern, field, "String", &len);
    if (s) return tk_add_regex(c, s, len, true, field);
    tk_bad(c, field, "expected {\"String\": ...} or {\"Regex\": ...}");
}

static char *dup_n(const char *s, size_t n) {
    char *d = pic_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Metaspace's replacement character and prepend scheme, shared by the
 * pre-tokenizer and the decoder; older files say add_prefix_space. */
static void metaspace_opts(const tk_load *c, const json_t *v, const char *field, char repl[8], size_t *repl_len,
                           tk_prepend *prepend) {
    size_t len = 0;
    const char *r = tk_get_str(c, v, field, "replacement", &len);
    if (!r) r = "\xE2\x96\x81", len = 3;
    uint32_t cp;
    if (len == 0 || len > 4 || pic_utf8_next(r, len, 0, &cp) != (int)len)
        tk_bad(c, field, "'replacement' must be one character");
    memcpy(repl, r, len);
    *repl_len = len;
    /* an absent prepend_scheme is "always" (serde's default), whatever
     * add_prefix_space says */
    const char *scheme = tk_get_str(c, v, field, "prepend_scheme", NULL);
    bool aps = tk_get_bool(c, v, field, "add_prefix_space", true);
    if (!scheme || !strcmp(scheme, "always")) *prepend = PREPEND_ALWAYS;
    else if (!strcmp(scheme, "first")) *prepend = PREPEND_FIRST;
    else if (!strcmp(scheme, "never")) *prepend = PREPEND_NEVER;
    else tk_bad(c, field, "unknown prepend_scheme '%s'", scheme);
    /* tokenizers refuses the file too ("add_prefix_space does not match
     * declared prepend_scheme"), add_prefix_space false alone included */
    if (!aps && *prepend != PREPEND_NEVER)
        tk_bad(c, field, "add_prefix_space false contradicts prepend_scheme '%s'%s", scheme ? scheme : "always",
               scheme ? "" : ", its default");
}

static void add_norm(const tk_load *c, const json_t *v, const char *field) {
    pic_tokenizer *t = c->t;
    const char *type = tk_get_type(c, v, field);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const json_t *list = member(c, v, field, "normalizers");
        if (!json_is_array(list)) tk_bad(c, field, "'normalizers' must be an array");
        for (size_t i = 0; i < json_array_size(list); i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", field, i);
            add_norm(c, json_array_get(list, i), sub);
        }
        return;
    }
    tk_norm nm = {.regex = -1};
    if (!strcmp(type, "NFC")) nm.kind = NORM_NFC;
    else if (!strcmp(type, "NFD")) nm.kind = NORM_NFD;
    else if (!strcmp(type, "NFKC")) nm.kind = NORM_NFKC;
    else if (!strcmp(type, "NFKD")) nm.kind = NORM_NFKD;
    else if (!strcmp(type, "Prepend")) {
        const char *p = tk_get_str(c, v, field, "prepend", &nm.str_len);
        if (!p) tk_bad(c, field, "Prepend needs 'prepend'");
        nm.kind = NORM_PREPEND;
        nm.str = dup_n(p, nm.str_len);
    } else if (!strcmp(type, "Replace")) {
        const char *content = tk_get_str(c, v, field, "content", &nm.str_len);
        if (!content) tk_bad(c, field, "Replace needs 'content'");
        snprintf(sub, sizeof sub, "%s.pattern", field);
        /* tokenizers inserts the content literally; a pending change
         * (huggingface/tokenizers#2080) expands $1 in it for a Regex: a
         * content with '$' would mean what the reader's version says */
        if (tk_get_str(c, member(c, v, field, "pattern"), sub, "Regex", NULL) && memchr(content, '$', nm.str_len))
            tk_bad(c, field, "a Regex Replace whose 'content' holds '$' is read differently by tokenizers versions "
                             "($1 expansion); not supported");
        nm.kind = NORM_REPLACE;
        nm.regex = tk_add_pattern(c, member(c, v, field, "pattern"), sub);
        nm.str = dup_n(content, nm.str_len);
    } else tk_bad(c, field, "unsupported normalizer type '%s'", type);
    t->norm = pic_realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *t->norm);
    t->norm[t->n_norm++] = nm;
}

void tk_load_normalizer(const tk_load *c, const json_t *v) {
    if (v && !json_is_null(v)) add_norm(c, v, "normalizer");
}

/* GPT-2's pre-tokenizer pattern, which ByteLevel applies when use_regex. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static void add_pre(const tk_load *c, const json_t *v, const char *field) {
    pic_tokenizer *t = c->t;
    const char *type = tk_get_type(c, v, field);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const json_t *list = member(c, v, field, "pretokenizers");
        if (!json_is_array(list)) tk_bad(c, field, "'pretokenizers' must be an array");
        for (size_t i = 0; i < json_array_size(list); i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", field, i);
            add_pre(c, json_array_get(list, i), sub);
        }
        return;
    }
    tk_pre p = {.regex = -1};
    if (!strcmp(type, "Split")) {
        p.kind = PRE_SPLIT;
        snprintf(sub, sizeof sub, "%s.pattern", field);
        p.regex = tk_add_pattern(c, member(c, v, field, "pattern"), sub);
        const char *b = tk_get_str(c, v, field, "behavior", NULL);
        if (!b) tk_bad(c, field, "Split needs 'behavior'");
        if (!strcmp(b, "Isolated")) p.behavior = SPLIT_ISOLATED;
        else if (!strcmp(b, "Removed")) p.behavior = SPLIT_REMOVED;
        else if (!strcmp(b, "MergedWithPrevious")) p.behavior = SPLIT_MERGED_PREV;
        else if (!strcmp(b, "MergedWithNext")) p.behavior = SPLIT_MERGED_NEXT;
        else if (!strcmp(b, "Contiguous")) p.behavior = SPLIT_CONTIGUOUS;
        else tk_bad(c, field, "unknown behavior '%s'", b);
        p.invert = tk_get_bool(c, v, field, "invert", false);
    } else if (!strcmp(type, "ByteLevel")) {
        p.kind = PRE_BYTELEVEL;
        p.add_prefix_space = tk_get_bool(c, v, field, "add_prefix_space", true);
        if (tk_get_bool(c, v, field, "use_regex", true))
            p.regex = tk_add_regex(c, gpt2_pattern, sizeof gpt2_pattern - 1, false, field);
    } else if (!strcmp(type, "Digits")) {
        /* a split on char::is_numeric (Nd, Nl, No: \p{N}), each number
         * character alone, or runs of them and of the rest */
        static const char numeric[] = "\\p{N}";
        p.kind = PRE_SPLIT;
        p.regex = tk_add_regex(c, numeric, sizeof numeric - 1, false, field);
        p.behavior = tk_get_bool(c, v, field, "individual_digits", false) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS;
    } else if (!strcmp(type, "Metaspace")) {
        p.kind = PRE_METASPACE;
        metaspace_opts(c, v, field, p.repl, &p.repl_len, &p.prepend);
        p.split = tk_get_bool(c, v, field, "split", true);
    } else tk_bad(c, field, "unsupported pre_tokenizer type '%s'", type);
    t->pre = pic_realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *t->pre);
    t->pre[t->n_pre++] = p;
}

void tk_load_pre_tokenizer(const tk_load *c, const json_t *v) {
    if (v && !json_is_null(v)) add_pre(c, v, "pre_tokenizer");
}

static void push_ids(int32_t **v, size_t *n, const int32_t *ids, size_t k, bool front) {
    if (!k) return;
    *v = pic_realloc(*v, (*n + k + 1) * sizeof **v);
    if (front) {
        memmove(*v + k, *v, *n * sizeof **v);
        memcpy(*v, ids, k * sizeof *ids);
    } else memcpy(*v + *n, ids, k * sizeof *ids);
    *n += k;
}

/* A special token of a TemplateProcessing: its ids from special_tokens. */
static void template_special(const tk_load *c, const json_t *v, const char *id, const char *field, int32_t **out,
                             size_t *n) {
    const json_t *specials = member(c, v, field, "special_tokens");
    const json_t *sp = specials ? json_object_get(specials, id) : NULL;
    if (!sp) tk_bad(c, field, "special token '%s' is not in special_tokens", id);
    const json_t *ids = json_object_get(sp, "ids");
    if (!json_is_array(ids)) tk_bad(c, field, "special_tokens '%s' has no 'ids' array", id);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *x = json_array_get(ids, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= c->t->n_ids)
            tk_bad(c, field, "special_tokens '%s' ids[%zu] is not a token id", id, i);
        int32_t one = (int32_t)json_integer_value(x);
        push_ids(out, n, &one, 1, false);
    }
}

static void add_post(const tk_load *c, const json_t *v, const char *field, int32_t **pre, size_t *npre,
                     int32_t **suf, size_t *nsuf) {
    const char *type = tk_get_type(c, v, field);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const json_t *list = member(c, v, field, "processors");
        if (!json_is_array(list)) tk_bad(c, field, "'processors' must be an array");
        /* each processor wraps what the previous one produced */
        for (size_t i = 0; i < json_array_size(list); i++) {
            int32_t *p = NULL, *s = NULL;
            size_t np = 0, ns = 0;
            snprintf(sub, sizeof sub, "%s.processors[%zu]", field, i);
            add_post(c, json_array_get(list, i), sub, &p, &np, &s, &ns);
            push_ids(pre, npre, p, np, true);
            push_ids(suf, nsuf, s, ns, false);
            free(p);
            free(s);
        }
    } else if (!strcmp(type, "ByteLevel")) {
        /* only trims offsets, which pic does not report */
    } else if (!strcmp(type, "TemplateProcessing")) {
        const json_t *single = member(c, v, field, "single");
        if (!json_is_array(single)) tk_bad(c, field, "'single' must be an array");
        bool seen = false;
        for (size_t i = 0; i < json_array_size(single); i++) {
            const json_t *item = json_array_get(single, i);
            snprintf(sub, sizeof sub, "%s.single[%zu]", field, i);
            const json_t *sp = json_object_get(item, "SpecialToken"), *sq = json_object_get(item, "Sequence");
            if (sq) {
                const char *id = tk_get_str(c, sq, sub, "id", NULL);
                if (seen || !id || strcmp(id, "A")) tk_bad(c, sub, "a single-sequence template holds sequence A once");
                seen = true;
            } else if (sp) {
                const char *id = tk_get_str(c, sp, sub, "id", NULL);
                if (!id) tk_bad(c, sub, "SpecialToken needs an 'id'");
                if (seen) template_special(c, v, id, field, suf, nsuf);
                else template_special(c, v, id, field, pre, npre);
            } else tk_bad(c, sub, "expected SpecialToken or Sequence");
        }
        if (!seen) tk_bad(c, field, "'single' has no Sequence");
    } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const char *keys[2] = {"cls", "sep"};
        for (int k = 0; k < 2; k++) {
            const json_t *pair = member(c, v, field, keys[k]);
            snprintf(sub, sizeof sub, "%s.%s", field, keys[k]);
            if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(json_array_get(pair, 0)))
                tk_bad(c, sub, "expected [token, id]");
            /* tokenizers adds the pair's id, whatever token its string names */
            const json_t *x = json_array_get(pair, 1);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= c->t->n_ids)
                tk_bad(c, sub, "the id is not a token id");
            int32_t id = (int32_t)json_integer_value(x);
            push_ids(k ? suf : pre, k ? nsuf : npre, &id, 1, false);
        }
    } else tk_bad(c, field, "unsupported post_processor type '%s'", type);
}

void tk_load_post_processor(const tk_load *c, const json_t *v) {
    if (v && !json_is_null(v)) add_post(c, v, "post_processor", &c->t->prefix, &c->t->n_prefix, &c->t->suffix, &c->t->n_suffix);
}

static void add_dec(const tk_load *c, const json_t *v, const char *field) {
    pic_tokenizer *t = c->t;
    const char *type = tk_get_type(c, v, field);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const json_t *list = member(c, v, field, "decoders");
        if (!json_is_array(list)) tk_bad(c, field, "'decoders' must be an array");
        for (size_t i = 0; i < json_array_size(list); i++) {
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", field, i);
            add_dec(c, json_array_get(list, i), sub);
        }
        return;
    }
    tk_dec d = {0};
    if (!strcmp(type, "ByteLevel")) d.kind = DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d.kind = DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d.kind = DEC_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        d.kind = DEC_METASPACE;
        metaspace_opts(c, v, field, d.repl, &d.repl_len, &d.prepend);
    } else if (!strcmp(type, "Replace")) {
        d.kind = DEC_REPLACE;
        snprintf(sub, sizeof sub, "%s.pattern", field);
        const char *p = tk_get_str(c, member(c, v, field, "pattern"), sub, "String", &d.pattern_len);
        if (!p || !d.pattern_len) tk_bad(c, sub, "a Replace decoder needs a non-empty {\"String\": ...} pattern");
        const char *content = tk_get_str(c, v, field, "content", &d.content_len);
        if (!content) tk_bad(c, field, "Replace needs 'content'");
        d.pattern = dup_n(p, d.pattern_len);
        d.content = dup_n(content, d.content_len);
    } else if (!strcmp(type, "Strip")) {
        d.kind = DEC_STRIP;
        const char *content = tk_get_str(c, v, field, "content", &d.content_len);
        uint32_t cp;
        if (!content || !d.content_len || pic_utf8_next(content, d.content_len, 0, &cp) != (int)d.content_len)
            tk_bad(c, field, "Strip needs a one-character 'content'");
        d.content = dup_n(content, d.content_len);
        long long a = tk_get_int(c, v, field, "start", 0), b = tk_get_int(c, v, field, "stop", 0);
        if (a < 0 || b < 0 || a > 1000000 || b > 1000000) tk_bad(c, field, "Strip start/stop out of range");
        d.start = (int)a;
        d.stop = (int)b;
    } else tk_bad(c, field, "unsupported decoder type '%s'", type);
    t->dec = pic_realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *t->dec);
    t->dec[t->n_dec++] = d;
}

void tk_load_decoder(const tk_load *c, const json_t *v) {
    c->t->has_decoder = v && !json_is_null(v);
    if (c->t->has_decoder) add_dec(c, v, "decoder");
}
