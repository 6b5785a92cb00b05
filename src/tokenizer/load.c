/* pic_tokenizer_load: tokenizer.json's vocabulary, merges and added tokens,
 * the model directory's tokenizer_config.json and config.json, and the
 * lookups on the loaded vocabulary. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cli.h"
#include "common/json.h"
#include "tokenizer/load.h"

/* Config files may hold integers beyond 64 bits (model_max_length 1e30),
 * valid JSON that jansson reads only as reals: those pass int_as_real. */
static json_t *read_json(const char *path, bool int_as_real) {
    size_t len;
    char *text = pic_read_file(path, &len);
    json_error_t err;
    /* a raw NUL byte is malformed, as in the streams: jansson alone drops
     * one after a number ("id": 5\0) */
    json_t *root = pic_json_loadb(text, len, JSON_ALLOW_NUL | (int_as_real ? JSON_DECODE_INT_AS_REAL : 0), &err);
    free(text);
    if (!root) pic_die("%s:%d:%d: malformed JSON: %s", path, err.line, err.column, err.text);
    if (!json_is_object(root)) pic_die("%s: expected a JSON object", path);
    return root;
}

static void set_token(const tk_load *c, int32_t id, const char *s, size_t n, const char *field) {
    pic_tokenizer *t = c->t;
    if (id >= t->n_ids) tk_bad(c, field, "id %d is out of range", (int)id);
    free(t->tok[id]);
    t->tok[id] = pic_malloc(n + 1);
    memcpy(t->tok[id], s, n);
    t->tok[id][n] = 0;
    t->tok_len[id] = (uint32_t)n;
}

static int32_t checked_id(const tk_load *c, const json_t *v, const char *field) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX / 2)
        tk_bad(c, field, "expected a token id (a non-negative integer)");
    return (int32_t)json_integer_value(v);
}

/* The id tables are sized by the largest id, so an id far beyond the number
 * of entries the file holds would allocate without bound (id 1e9 in a 3 KB
 * file: 13 GB). Real vocabularies are dense; allow them as many holes as
 * entries, which keeps the tables within twice the entries. */
static int32_t described_id(const tk_load *c, const json_t *v, const char *field, size_t n_entries) {
    int32_t id = checked_id(c, v, field);
    if ((size_t)id >= 2 * n_entries)
        tk_bad(c, field, "id %d is beyond the %zu ids this file describes (%zu entries)", (int)id, 2 * n_entries,
               n_entries);
    return id;
}

/* Sizes the id tables for the model vocabulary and the added tokens. */
static void size_vocab(const tk_load *c, const json_t *vocab, const json_t *added) {
    int32_t max = -1;
    const char *key;
    const json_t *v;
    size_t n_entries = json_object_size(vocab) + json_array_size(added);
    json_object_foreach((json_t *)vocab, key, v) {
        int32_t id = described_id(c, v, "model.vocab", n_entries);
        if (id > max) max = id;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%zu].id", i);
        int32_t id = described_id(c, json_object_get(json_array_get(added, i), "id"), field, n_entries);
        if (id > max) max = id;
    }
    pic_tokenizer *t = c->t;
    t->n_ids = max + 1;
    t->tok = pic_calloc((size_t)t->n_ids + 1, sizeof *t->tok);
    t->tok_len = pic_calloc((size_t)t->n_ids + 1, sizeof *t->tok_len);
    t->tok_flags = pic_calloc((size_t)t->n_ids + 1, 1);
}

static void load_vocab(const tk_load *c, const json_t *vocab) {
    pic_tokenizer *t = c->t;
    pic_strmap_init(&t->vocab, json_object_size(vocab));
    const char *key;
    size_t n;
    const json_t *v;
    json_object_keylen_foreach((json_t *)vocab, key, n, v) {
        int32_t id = (int32_t)json_integer_value(v);
        if (t->tok[id]) tk_bad(c, "model.vocab", "id %d is given to both '%s' and '%s'", (int)id, t->tok[id], key);
        set_token(c, id, key, n, "model.vocab");
        pic_strmap_put(&t->vocab, key, n, id);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_tok[b] = pic_strmap_get(&t->vocab, name, 6);
    }
}

/* One merge, "a b" or ["a", "b"], into its two parts. */
static void merge_parts(const tk_load *c, const json_t *m, size_t i, const char **a, size_t *na, const char **b,
                        size_t *nb) {
    char field[64];
    snprintf(field, sizeof field, "model.merges[%zu]", i);
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        const char *sp = memchr(s, ' ', n);
        /* HF splits on every space and wants exactly two parts */
        if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
            tk_bad(c, field, "expected \"left right\" (two tokens and one space), got \"%s\"", s);
        *a = s, *na = (size_t)(sp - s), *b = sp + 1, *nb = (size_t)(s + n - sp - 1);
    } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
               json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0)), *na = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1)), *nb = json_string_length(json_array_get(m, 1));
    } else tk_bad(c, field, "expected \"left right\" or [\"left\", \"right\"]");
}

static void load_merges(const tk_load *c, const json_t *merges) {
    /* tokenizers reads the list as all "a b" or all ["a", "b"] (its
     * MergeType, an untagged enum of the two) and refuses a mix */
    for (size_t i = 1; i < json_array_size(merges); i++)
        if (json_is_string(json_array_get(merges, i)) != json_is_string(json_array_get(merges, 0))) {
            char field[64];
            snprintf(field, sizeof field, "model.merges[%zu]", i);
            tk_bad(c, field, "merges mix \"left right\" and [\"left\", \"right\"], which tokenizers refuses");
        }
    pic_tokenizer *t = c->t;
    if (!json_is_array(merges)) tk_bad(c, "model.merges", "expected an array");
    size_t n = json_array_size(merges);
    pic_pairmap_init(&t->merges, n);
    char *buf = NULL;
    size_t cap = 0;
    uint32_t rank = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a, *b;
        size_t na, nb;
        const json_t *m = json_array_get(merges, i);
        /* HF drops the "#version" header line of merges.txt from the
         * "a b" form before numbering the ranks */
        if (json_is_string(m) && !strncmp(json_string_value(m), "#version", 8)) continue;
        merge_parts(c, m, i, &a, &na, &b, &nb);
        /* never NULL, also for a merge of two empty tokens: memcpy's
         * arguments must be valid pointers whatever the length */
        if (!buf || na + nb > cap) buf = pic_realloc(buf, cap = (na + nb) * 2 + 1);
        memcpy(buf, a, na);
        memcpy(buf + na, b, nb);
        int32_t ia = pic_strmap_get(&t->vocab, a, na), ib = pic_strmap_get(&t->vocab, b, nb);
        int32_t im = pic_strmap_get(&t->vocab, buf, na + nb);
        if (ia < 0 || ib < 0 || im < 0) {
            char field[64];
            snprintf(field, sizeof field, "model.merges[%zu]", i);
            tk_bad(c, field, "'%.*s' is not in the vocabulary", ia < 0 ? (int)na : ib < 0 ? (int)nb : (int)(na + nb),
                   ia < 0 ? a : ib < 0 ? b : buf);
        }
        pic_pairmap_put(&t->merges, ia, ib, rank++, im);
    }
    free(buf);
}

static void load_model(const tk_load *c, const json_t *model) {
    pic_tokenizer *t = c->t;
    const char *type = tk_get_str(c, model, "model", "type", NULL);
    if (type && strcmp(type, "BPE")) tk_bad(c, "model.type", "unsupported model type '%s' (only BPE)", type);
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) tk_bad(c, "model.vocab", "expected an object of token -> id");
    load_vocab(c, vocab);
    load_merges(c, json_object_get(model, "merges"));
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && (!json_is_number(dropout) || json_number_value(dropout) != 0))
        tk_bad(c, "model.dropout", "BPE dropout is random; pic encodes deterministically");
    const char *keys[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        size_t len = 0;
        if (tk_get_str(c, model, "model", keys[k], &len) && len)
            tk_bad(c, "model", "'%s' is not supported (byte-level and sentencepiece BPE leave it empty)", keys[k]);
    }
    t->ignore_merges = tk_get_bool(c, model, "model", "ignore_merges", false);
    t->byte_fallback = tk_get_bool(c, model, "model", "byte_fallback", false);
    t->fuse_unk = tk_get_bool(c, model, "model", "fuse_unk", false);
    size_t ulen;
    const char *unk = tk_get_str(c, model, "model", "unk_token", &ulen);
    t->unk_id = unk ? pic_strmap_get(&t->vocab, unk, ulen) : -1;
    if (unk && t->unk_id < 0) tk_bad(c, "model.unk_token", "'%s' is not in the vocabulary", unk);
}

/* The id tokenizers gives an added token, whatever the file says
 * (AddedVocabulary::add_tokens): the one it has (an added token's, else the
 * model vocabulary's), else the next after the vocabulary and the added
 * tokens so far. The file's id only draws a warning there. */
static int64_t tokenizers_added_id(const pic_tokenizer *t, const char *content, size_t n, int64_t max_added) {
    int32_t id = pic_strmap_get(&t->added_ids, content, n);
    if (id < 0) id = pic_strmap_get(&t->vocab, content, n);
    if (id >= 0) return id;
    int64_t vocab = (int64_t)t->vocab.n;
    return max_added < 0 ? vocab : max_added >= vocab || vocab == 0 ? max_added + 1 : vocab;
}

static void load_added(const tk_load *c, const json_t *added) {
    pic_tokenizer *t = c->t;
    tk_added_init(&t->added_raw);
    tk_added_init(&t->added_norm);
    pic_strmap_init(&t->added_ids, json_array_size(added) + 1);
    tk_state *st = tk_state_new(t);
    tk_str norm = {0};
    int64_t max_added = -1;
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        size_t n;
        const char *content = tk_get_str(c, a, field, "content", &n);
        if (!content) tk_bad(c, field, "has no 'content'");
        if (!n) continue; /* tokenizers ignores an empty token: it gets no id */
        int32_t id = (int32_t)json_integer_value(json_object_get(a, "id"));
        int64_t want = tokenizers_added_id(t, content, n, max_added);
        if (id != want)
            tk_bad(c, field, "id %d, but tokenizers gives '%s' id %lld (a token of the vocabulary or added before "
                             "keeps its id, a new one comes next after the vocabulary and the added tokens)",
                   (int)id, content, (long long)want);
        if (id > max_added) max_added = id;
        bool special = tk_get_bool(c, a, field, "special", false);
        bool normalized = tk_get_bool(c, a, field, "normalized", !special);
        bool lstrip = tk_get_bool(c, a, field, "lstrip", false), rstrip = tk_get_bool(c, a, field, "rstrip", false);
        bool single = tk_get_bool(c, a, field, "single_word", false);
        set_token(c, id, content, n, field);
        t->tok_flags[id] = TOK_ADDED | (special ? TOK_SPECIAL : 0);
        pic_strmap_put(&t->added_ids, content, n, id);
        if (normalized && t->n_norm) {
            /* HF matches these in normalized text, so it normalizes them too */
            tk_normalize(t, st, content, n, &norm);
            /* tokenizers 0.23 stores such a token normalized (add_tokens,
             * huggingface/tokenizers#1995): it decodes to the normalized
             * text and is no longer skipped as special; 0.22 decodes it as
             * written. Neither reading would be every version's. */
            if (norm.len != n || memcmp(norm.s, content, n))
                tk_bad(c, field, "'%s' is normalized and the normalizer changes it ('%.*s'), which tokenizers "
                                 "versions decode differently; not supported (\"normalized\": false keeps it as "
                                 "written)",
                       content, (int)norm.len, norm.s);
            tk_added_add(&t->added_norm, norm.s, norm.len, id, lstrip, rstrip, single);
        } else if (normalized) tk_added_add(&t->added_norm, content, n, id, lstrip, rstrip, single);
        else tk_added_add(&t->added_raw, content, n, id, lstrip, rstrip, single);
    }
    free(norm.s);
    tk_state_free(st);
}

/* The id of the n bytes of token (added tokens first), or -1. */
static int32_t token_id(const pic_tokenizer *t, const char *token, size_t n) {
    int32_t id = pic_strmap_get(&t->added_ids, token, n);
    return id >= 0 ? id : pic_strmap_get(&t->vocab, token, n);
}

/* A token named in tokenizer_config.json: a string or {"content": ...}. */
static int32_t config_token(const pic_tokenizer *t, const char *path, const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return -1;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) pic_die("%s: field '%s': expected a token string", path, key);
    /* by its length: "<|im_end|>\u0000" is not <|im_end|> */
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int32_t id = token_id(t, s, n);
    if (id < 0)
        pic_die("%s: field '%s': token '%s'%s is not in the vocabulary", path, key, s,
                strlen(s) != n ? " followed by \\u0000 and more" : "");
    return id;
}

/* transformers' Llama tokenizer does not take tokenizer.json's marker as it
 * is when tokenizer_config.json sets add_prefix_space: LlamaTokenizerFast
 * (4.x) converts the sentencepiece model again (from_slow), whose Prepend
 * normalizer or Metaspace is there only when add_prefix_space is true, and
 * LlamaTokenizer (5.x) builds a Metaspace whose prepend_scheme is "never"
 * when it is false. A file that says the other thing would be encoded
 * (and decoded) otherwise than transformers does: refused. null, the value
 * transformers writes, leaves the file as it is. */
static void check_add_prefix_space(const pic_tokenizer *t, const char *path, const json_t *cfg) {
    const json_t *aps = json_object_get(cfg, "add_prefix_space");
    const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
    if (!json_is_boolean(aps) || !cls || (strcmp(cls, "LlamaTokenizer") && strcmp(cls, "LlamaTokenizerFast")))
        return;
    const char *how = NULL; /* what in tokenizer.json prepends the marker, if anything */
    bool marker = false;
    for (int i = 0; i < t->n_norm; i++)
        if (t->norm[i].kind == NORM_PREPEND) marker = true, how = "its normalizer's Prepend";
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].kind == PRE_METASPACE) {
            marker = true;
            if (!how && t->pre[i].prepend != PREPEND_NEVER) how = "its Metaspace pre-tokenizer";
        }
    if (!marker || json_is_true(aps) == (how != NULL)) return;
    char what[128];
    snprintf(what, sizeof what, how ? "prepends the word marker (%s)" : "prepends no word marker (%s)",
             how ? how : "Metaspace prepend_scheme 'never'");
    pic_die("%s: field 'add_prefix_space': %s, but %s %s; transformers' %s rebuilds the pipeline from "
            "add_prefix_space, which pic does not (null uses the file as it is)",
            path, how ? "false" : "true", t->path, what, cls);
}

static void load_model_dir(pic_tokenizer *t, const char *dir) {
    char *path = pic_asprintf("%s/tokenizer_config.json", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        json_t *cfg = read_json(path, true);
        t->bos = config_token(t, path, cfg, "bos_token");
        t->eos = config_token(t, path, cfg, "eos_token");
        t->pad = config_token(t, path, cfg, "pad_token");
        check_add_prefix_space(t, path, cfg);
        const json_t *ct = json_object_get(cfg, "chat_template");
        if (ct && !json_is_null(ct)) t->chat_template_file = pic_strdup(path);
        if (json_is_array(ct)) /* named templates: the "default" one */
            for (size_t i = 0; i < json_array_size(ct); i++) {
                const json_t *e = json_array_get(ct, i);
                if (json_is_string(json_object_get(e, "name")) &&
                    !strcmp(json_string_value(json_object_get(e, "name")), "default"))
                    ct = json_object_get(e, "template");
            }
        if (json_is_string(ct)) t->chat_template = pic_strdup(json_string_value(ct));
        json_decref(cfg);
    }
    free(path);
    /* transformers (4.47 on) saves the template beside it, and a
     * chat_template.jinja wins over the config's */
    path = pic_asprintf("%s/chat_template.jinja", dir);
    size_t len;
    char *jinja = stat(path, &sb) == 0 ? pic_read_file(path, &len) : NULL;
    if (jinja) {
        free(t->chat_template), free(t->chat_template_file);
        t->chat_template = memchr(jinja, 0, len) ? NULL : jinja;
        if (!t->chat_template) free(jinja);
        t->chat_template_file = path;
    } else {
        free(path);
    }
    path = pic_asprintf("%s/config.json", dir);
    if (stat(path, &sb) == 0) {
        json_t *cfg = read_json(path, true);
        const json_t *e = json_object_get(cfg, "eos_token_id");
        if (json_is_array(e)) e = json_array_get(e, 0);
        double v = json_is_number(e) ? json_number_value(e) : -1;
        /* as the model's config reads it (src/model/config.c): LlamaConfig
         * and MistralConfig take eos_token_id 2 when the key is absent (a
         * null is none), Qwen2Config and Qwen3Config none */
        const char *type = json_string_value(json_object_get(cfg, "model_type"));
        if (!json_object_get(cfg, "eos_token_id") && type && (!strcmp(type, "llama") || !strcmp(type, "mistral")))
            v = 2;
        if (t->eos < 0 && v >= 0 && v < t->n_ids && v == (int32_t)v) t->eos = (int32_t)v;
        /* real models have more embedding rows than tokens (Qwen2.5: 151936
         * rows, 151665 tokens); a model may sample one of the others */
        const json_t *vs = json_object_get(cfg, "vocab_size");
        double rows = json_is_number(vs) ? json_number_value(vs) : 0;
        if (rows > t->n_ids && rows <= INT32_MAX && rows == (int32_t)rows) t->model_vocab = (int32_t)rows;
        json_decref(cfg);
    }
    free(path);
}

pic_tokenizer *pic_tokenizer_load(const char *file_or_dir) {
    tk_bytelevel_init();
    struct stat sb;
    if (stat(file_or_dir, &sb) != 0) pic_die("%s: %s", file_or_dir, strerror(errno));
    bool is_dir = S_ISDIR(sb.st_mode);
    pic_tokenizer *t = pic_calloc(1, sizeof *t);
    t->path = is_dir ? pic_asprintf("%s/tokenizer.json", file_or_dir) : pic_strdup(file_or_dir);
    t->bos = t->eos = t->pad = -1;
    pthread_mutex_init(&t->mu, NULL);
    tk_load c = {t->path, t};

    json_t *root = read_json(t->path, false);
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) tk_bad(&c, "model", "missing or not an object");
    const json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) tk_bad(&c, "added_tokens", "expected an array");
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) tk_bad(&c, "model.vocab", "expected an object of token -> id");
    size_vocab(&c, vocab, added);
    load_model(&c, model);
    /* the normalizer first: normalized added tokens are stored normalized */
    tk_load_normalizer(&c, json_object_get(root, "normalizer"));
    load_added(&c, added);
    tk_load_pre_tokenizer(&c, json_object_get(root, "pre_tokenizer"));
    tk_load_post_processor(&c, json_object_get(root, "post_processor"));
    tk_load_decoder(&c, json_object_get(root, "decoder"));
    /* tokenizers' own encode would apply these; transformers turns both off
     * unless a call asks (set_truncation_and_padding), and so does pic */
    const json_t *trunc = json_object_get(root, "truncation"), *pad = json_object_get(root, "padding");
    if (trunc && !json_is_null(trunc))
        pic_warn("%s: field 'truncation': ignored (pic never truncates)", t->path);
    if (pad && !json_is_null(pad))
        pic_warn("%s: field 'padding': ignored (pic never pads)", t->path);
    json_decref(root);

    if (is_dir) load_model_dir(t, file_or_dir);
    if (t->bos < 0 && t->n_prefix) t->bos = t->prefix[0];
    t->state = tk_state_new(t);
    return t;
}

void pic_tokenizer_free(pic_tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->n_ids; i++) free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->tok_flags);
    pic_strmap_free(&t->vocab);
    pic_strmap_free(&t->added_ids);
    pic_pairmap_free(&t->merges);
    tk_added_free(&t->added_raw);
    tk_added_free(&t->added_norm);
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i].code);
    free(t->regex);
    for (int i = 0; i < t->n_norm; i++) free(t->norm[i].str);
    free(t->norm);
    free(t->pre);
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].pattern);
        free(t->dec[i].content);
    }
    free(t->dec);
    free(t->prefix);
    free(t->suffix);
    free(t->chat_template);
    free(t->chat_template_file);
    tk_state_free(t->state);
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t);
}

const char *pic_tokenizer_path(const pic_tokenizer *t) { return t->path; }
int32_t pic_tokenizer_vocab_size(const pic_tokenizer *t) { return t->n_ids; }
int32_t pic_tokenizer_bos_id(const pic_tokenizer *t) { return t->bos; }
int32_t pic_tokenizer_eos_id(const pic_tokenizer *t) { return t->eos; }
int32_t pic_tokenizer_pad_id(const pic_tokenizer *t) { return t->pad; }
const char *pic_tokenizer_chat_template(const pic_tokenizer *t) { return t->chat_template; }

const char *pic_tokenizer_id_to_token(const pic_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->tok[id] : NULL;
}

int32_t pic_tokenizer_token_to_id(const pic_tokenizer *t, const char *token) {
    return token_id(t, token, strlen(token));
}

bool pic_tokenizer_is_special(const pic_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && (t->tok_flags[id] & TOK_SPECIAL);
}
