/* Byte-level BPE: Qwen2's normalizer (NFC) and pre-tokenizer (digits stay
 * single, which suits arithmetic), GPT-2's byte symbols, and a small greedy
 * BPE trainer. */
#include "bytelevel.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/cli.h"

const char *const bytelevel_specials[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* Qwen2's split pattern, as its tokenizer.json holds it. */
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-2's byte -> printable code point table, as UTF-8 strings. */
static void byte_symbols(char sym[256][4]) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int cp = ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) ? b : next++;
        if (cp < 0x80) sym[b][0] = (char)cp, sym[b][1] = 0;
        else sym[b][0] = (char)(0xC0 | cp >> 6), sym[b][1] = (char)(0x80 | (cp & 0x3F)), sym[b][2] = 0;
    }
}

static bool is_alpha(unsigned char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
/* \s on ASCII: \v and \f too */
static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool is_newline(unsigned char c) { return c == '\n' || c == '\r'; }

/* The length of the contraction ('s 't 're 've 'm 'll 'd, any case) that
 * s starts with, or 0. */
static size_t contraction(const unsigned char *s, size_t n) {
    static const char *const tails[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (s[0] != '\'') return 0;
    for (size_t t = 0; t < sizeof tails / sizeof *tails; t++) {
        size_t k = strlen(tails[t]);
        if (n < 1 + k) continue;
        size_t j = 0;
        while (j < k && (s[1 + j] | 32) == tails[t][j]) j++;
        if (j == k) return 1 + k;
    }
    return 0;
}

/* The length of the next pre-token of s: the pattern above, alternative by
 * alternative in its order, read over ASCII (other bytes count as
 * punctuation). A word must not span a boundary that encoding draws: its
 * merges would never apply (an indented line's "\n  " was one word). */
static size_t next_word(const unsigned char *s, size_t n) {
    size_t i = contraction(s, n);
    if (i) return i;
    if (is_alpha(s[0]) || (n > 1 && !is_alpha(s[0]) && !is_digit(s[0]) && !is_newline(s[0]) && is_alpha(s[1]))) {
        i = is_alpha(s[0]) ? 0 : 1;
        while (i < n && is_alpha(s[i])) i++;
        return i;
    }
    if (is_digit(s[0])) return 1;
    if (!is_space(s[0]) || (s[0] == ' ' && n > 1 && !is_space(s[1]) && !is_alpha(s[1]) && !is_digit(s[1]))) {
        i = s[0] == ' ' ? 1 : 0;
        while (i < n && !is_space(s[i]) && !is_alpha(s[i]) && !is_digit(s[i])) i++;
        while (i < n && is_newline(s[i])) i++;
        return i;
    }
    while (i < n && is_space(s[i])) i++;
    /* \s*[\r\n]+: up to the run's last line break */
    for (size_t k = i; k > 0; k--)
        if (is_newline(s[k - 1])) return k;
    /* \s+(?!\S): leave the last space to prefix the word that follows. */
    if (i < n && i > 1) i--;
    return i;
}

/* s's NFC form (malloc'd, *len updated), as the tokenizer's normalizer
 * gives it to the pre-tokenizer; NULL when s is ASCII, which NFC keeps. */
static unsigned char *nfc(const char *s, size_t *len) {
    size_t i = 0;
    while (i < *len && (unsigned char)s[i] < 0x80) i++;
    if (i == *len) return NULL;
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)*len, &out,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (r < 0) pic_die("corpus text: %s", utf8proc_errmsg(r)); /* JSON strings are UTF-8 */
    *len = (size_t)r;
    return out;
}

typedef struct {
    int *sym; /* symbol ids */
    int len;
    long count;
    uint64_t hash; /* of the word's bytes, for the table of words */
} word;

/* The corpus's distinct words, found through an open-addressing table of
 * indices (slot -1: empty): a scan of every word for each new one was
 * quadratic in the corpus. */
typedef struct {
    word *w;
    size_t n, cap;
    long *slot;
    size_t n_slots; /* a power of two, at least twice n */
} words;

static uint64_t hash_bytes(const unsigned char *s, size_t len) {
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 1099511628211u;
    return h;
}

static bool word_is(const word *w, const unsigned char *s, size_t len) {
    if ((size_t)w->len != len) return false;
    for (size_t k = 0; k < len; k++)
        if (w->sym[k] != s[k]) return false;
    return true;
}

static void grow_word_slots(words *ws) {
    free(ws->slot);
    ws->n_slots = ws->n_slots ? 2 * ws->n_slots : 1024;
    ws->slot = pic_malloc(ws->n_slots * sizeof *ws->slot);
    for (size_t i = 0; i < ws->n_slots; i++) ws->slot[i] = -1;
    for (size_t i = 0; i < ws->n; i++) {
        size_t j = ws->w[i].hash & (ws->n_slots - 1);
        while (ws->slot[j] >= 0) j = (j + 1) & (ws->n_slots - 1);
        ws->slot[j] = (long)i;
    }
}

static void add_word(words *ws, const unsigned char *s, size_t len) {
    if (2 * (ws->n + 1) > ws->n_slots) grow_word_slots(ws);
    uint64_t hash = hash_bytes(s, len);
    size_t j = hash & (ws->n_slots - 1);
    for (; ws->slot[j] >= 0; j = (j + 1) & (ws->n_slots - 1))
        if (word_is(&ws->w[ws->slot[j]], s, len)) {
            ws->w[ws->slot[j]].count++;
            return;
        }
    ws->slot[j] = (long)ws->n;
    if (ws->n == ws->cap) ws->w = pic_realloc(ws->w, (ws->cap = ws->cap ? 2 * ws->cap : 256) * sizeof *ws->w);
    word *w = &ws->w[ws->n++];
    w->sym = pic_malloc(len * sizeof *w->sym);
    for (size_t k = 0; k < len; k++) w->sym[k] = s[k];
    w->len = (int)len;
    w->count = 1;
    w->hash = hash;
}

/* Pair counts in an open-addressing table (key -1: empty): a dense
 * (256 + merges)^2 array took 8 bytes a cell, 3.2 GB at 20k merges, and
 * was cleared for every merge. The table has at least twice as many slots
 * as the corpus has adjacent pairs, so it never fills. */
typedef struct {
    uint64_t *key;
    long *count;
    size_t n_slots;
} pair_table;

static long *pair_count(pair_table *pt, int a, int b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t j = (size_t)((key * 0x9E3779B97F4A7C15u) >> 20) & (pt->n_slots - 1);
    while (pt->key[j] != key && pt->key[j] != UINT64_MAX) j = (j + 1) & (pt->n_slots - 1);
    if (pt->key[j] == UINT64_MAX) pt->key[j] = key, pt->count[j] = 0;
    return &pt->count[j];
}

char *bytelevel_tokenizer_json(const char *const *texts, const size_t *lens, size_t n_texts, int n_merges,
                               int *vocab_size) {
    char sym[256][4];
    byte_symbols(sym);
    size_t cap = 256 + (size_t)n_merges;
    char **tok = pic_calloc(cap, sizeof *tok);
    for (int b = 0; b < 256; b++) tok[b] = pic_strdup(sym[b]);
    int n_tok = 256;

    words ws = {0};
    for (size_t t = 0; t < n_texts && n_merges > 0; t++) {
        size_t n = lens[t];
        unsigned char *normal = nfc(texts[t], &n);
        const unsigned char *s = normal ? normal : (const unsigned char *)texts[t];
        for (size_t i = 0; i < n;) {
            size_t len = next_word(s + i, n - i);
            add_word(&ws, s + i, len);
            i += len;
        }
        free(normal);
    }

    json_t *merges = json_array();
    size_t n_pairs = 0;
    for (size_t i = 0; i < ws.n; i++) n_pairs += (size_t)ws.w[i].len;
    pair_table pt = {.n_slots = 1024};
    while (pt.n_slots < 2 * n_pairs) pt.n_slots *= 2;
    pt.key = pic_malloc(pt.n_slots * sizeof *pt.key);
    pt.count = pic_malloc(pt.n_slots * sizeof *pt.count);
    for (int m = 0; m < n_merges; m++) {
        memset(pt.key, 0xff, pt.n_slots * sizeof *pt.key);
        int best_a = -1, best_b = -1;
        long best = 1; /* a pair seen once is not worth a token */
        for (size_t i = 0; i < ws.n; i++)
            for (int k = 0; k + 1 < ws.w[i].len; k++) {
                long c = *pair_count(&pt, ws.w[i].sym[k], ws.w[i].sym[k + 1]) += ws.w[i].count;
                /* Ties go to the pair counted first: deterministic. */
                if (c > best) best = c, best_a = ws.w[i].sym[k], best_b = ws.w[i].sym[k + 1];
            }
        if (best_a < 0) break;
        tok[n_tok] = pic_asprintf("%s%s", tok[best_a], tok[best_b]);
        json_array_append_new(merges, json_pack("[ss]", tok[best_a], tok[best_b]));
        for (size_t i = 0; i < ws.n; i++) {
            word *w = &ws.w[i];
            int out = 0;
            for (int k = 0; k < w->len; k++) {
                if (k + 1 < w->len && w->sym[k] == best_a && w->sym[k + 1] == best_b) {
                    w->sym[out++] = n_tok;
                    k++;
                } else {
                    w->sym[out++] = w->sym[k];
                }
            }
            w->len = out;
        }
        n_tok++;
    }
    free(pt.key);
    free(pt.count);
    for (size_t i = 0; i < ws.n; i++) free(ws.w[i].sym);
    free(ws.w);
    free(ws.slot);

    json_t *vocab = json_object();
    for (int i = 0; i < n_tok; i++) json_object_set_new(vocab, tok[i], json_integer(i));
    json_t *added = json_array();
    for (int i = 0; i < BYTELEVEL_N_SPECIALS; i++)
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", n_tok + i, "content",
                                               bytelevel_specials[i], "single_word", 0, "lstrip", 0,
                                               "rstrip", 0, "normalized", 0, "special", 1));
    /* Qwen2's normalizer too: transformers 5's Qwen2Tokenizer (the class
     * tokenizer_config.json names) keeps only the vocabulary, merges and
     * added tokens of a tokenizer.json and builds NFC, the split and
     * ByteLevel itself (TokenizersBackend.convert_to_native_format), so
     * without NFC here "e\u0301" had other ids there than in tokenizers. */
    json_t *root = json_pack(
        "{s:s,s:n,s:n,s:o,s:{s:s},s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]},s:n,"
        "s:{s:s,s:b,s:b,s:b},s:{s:s,s:n,s:n,s:n,s:n,s:b,s:b,s:b,s:o,s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer", "type", "NFC",
        "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
        qwen2_pattern, "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0,
        "trim_offsets", 0, "use_regex", 0, "post_processor", "decoder", "type", "ByteLevel",
        "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 0, "model", "type", "BPE", "dropout",
        "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
        "ignore_merges", 0, "vocab", vocab, "merges", merges);
    if (!root) pic_die("internal error: tokenizer.json template");
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    for (int i = 0; i < n_tok; i++) free(tok[i]);
    free(tok);
    *vocab_size = n_tok + BYTELEVEL_N_SPECIALS;
    return text;
}
