/* Byte-level BPE: Qwen2's pre-tokenizer (digits stay single, which suits
 * arithmetic), GPT-2's byte symbols, and a small greedy BPE trainer. */
#include "bytelevel.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The length of the next pre-token of s (an ASCII reading of the pattern
 * above; other bytes count as punctuation). Training only needs boundaries
 * that encoding also respects. */
static size_t next_word(const unsigned char *s, size_t n) {
    size_t i = 0;
    if (is_digit(s[0])) return 1;
    if (is_alpha(s[0]) || (n > 1 && !is_alpha(s[0]) && !is_digit(s[0]) && s[0] != '\n' &&
                           s[0] != '\r' && is_alpha(s[1]))) {
        i = is_alpha(s[0]) ? 0 : 1;
        while (i < n && is_alpha(s[i])) i++;
        return i;
    }
    if (!is_space(s[0]) || (s[0] == ' ' && n > 1 && !is_space(s[1]) && !is_alpha(s[1]) && !is_digit(s[1]))) {
        i = s[0] == ' ' ? 1 : 0;
        while (i < n && !is_space(s[i]) && !is_alpha(s[i]) && !is_digit(s[i])) i++;
        while (i < n && (s[i] == '\n' || s[i] == '\r')) i++;
        return i ? i : 1;
    }
    while (i < n && is_space(s[i])) i++;
    /* \s+(?!\S): leave the last space to prefix the word that follows. */
    if (i < n && i > 1) i--;
    return i;
}

typedef struct {
    int *sym; /* symbol ids */
    int len;
    long count;
} word;

typedef struct {
    word *w;
    size_t n, cap;
} words;

static void add_word(words *ws, const unsigned char *s, size_t len) {
    for (size_t i = 0; i < ws->n; i++)
        if ((size_t)ws->w[i].len == len) {
            bool same = true;
            for (size_t k = 0; k < len && same; k++) same = ws->w[i].sym[k] == s[k];
            if (same) {
                ws->w[i].count++;
                return;
            }
        }
    if (ws->n == ws->cap) ws->w = pic_realloc(ws->w, (ws->cap = ws->cap ? 2 * ws->cap : 256) * sizeof *ws->w);
    word *w = &ws->w[ws->n++];
    w->sym = pic_malloc(len * sizeof *w->sym);
    for (size_t k = 0; k < len; k++) w->sym[k] = s[k];
    w->len = (int)len;
    w->count = 1;
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
        const unsigned char *s = (const unsigned char *)texts[t];
        size_t n = lens[t];
        for (size_t i = 0; i < n;) {
            size_t len = next_word(s + i, n - i);
            add_word(&ws, s + i, len);
            i += len;
        }
    }

    json_t *merges = json_array();
    long *pair_count = pic_calloc(cap * cap, sizeof *pair_count);
    for (int m = 0; m < n_merges; m++) {
        memset(pair_count, 0, (size_t)n_tok * cap * sizeof *pair_count);
        int best_a = -1, best_b = -1;
        long best = 1; /* a pair seen once is not worth a token */
        for (size_t i = 0; i < ws.n; i++)
            for (int k = 0; k + 1 < ws.w[i].len; k++) {
                long c = pair_count[(size_t)ws.w[i].sym[k] * cap + (size_t)ws.w[i].sym[k + 1]] += ws.w[i].count;
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
    free(pair_count);
    for (size_t i = 0; i < ws.n; i++) free(ws.w[i].sym);
    free(ws.w);

    json_t *vocab = json_object();
    for (int i = 0; i < n_tok; i++) json_object_set_new(vocab, tok[i], json_integer(i));
    json_t *added = json_array();
    for (int i = 0; i < BYTELEVEL_N_SPECIALS; i++)
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", n_tok + i, "content",
                                               bytelevel_specials[i], "single_word", 0, "lstrip", 0,
                                               "rstrip", 0, "normalized", 0, "special", 1));
    json_t *root = json_pack(
        "{s:s,s:n,s:n,s:o,s:n,s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]},s:n,"
        "s:{s:s,s:b,s:b,s:b},s:{s:s,s:n,s:n,s:n,s:n,s:b,s:b,s:b,s:o,s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
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
