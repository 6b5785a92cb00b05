/* What the tokenizer's files share: the loaded pipeline and small buffers.
 * Not part of the public API (tokenizer.h). */
#ifndef PIC_TOK_INTERNAL_H
#define PIC_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/utf8.h"
#include "tokenizer/added.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

/* A growable byte string and a growable id array. */
typedef struct {
    char *s;
    size_t len, cap;
} tk_str;
void tk_str_add(tk_str *b, const char *s, size_t n);
void tk_str_addc(tk_str *b, char c);

typedef struct {
    int32_t *v;
    size_t n, cap;
} tk_ids;
void tk_ids_add(tk_ids *a, int32_t id);

/* A compiled split pattern: a regex (PCRE2 with UTF|UCP, JIT when the
 * platform has it) or a literal string. */
typedef struct {
    pcre2_code *code;
    bool jit;
} tk_regex;

typedef enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_PREPEND, NORM_REPLACE } tk_norm_kind;
typedef enum { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE } tk_pre_kind;
typedef enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } tk_split_behavior;
typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } tk_prepend;
typedef enum { DEC_BYTELEVEL, DEC_METASPACE, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP } tk_dec_kind;

typedef struct {
    tk_norm_kind kind;
    int regex;        /* NORM_REPLACE: index into tokenizer.regex */
    char *str;        /* NORM_PREPEND: the prefix; NORM_REPLACE: the content */
    size_t str_len;
} tk_norm;

typedef struct {
    tk_pre_kind kind;
    int regex;                  /* PRE_SPLIT, and PRE_BYTELEVEL with use_regex (else -1) */
    tk_split_behavior behavior; /* PRE_SPLIT */
    bool invert;                /* PRE_SPLIT */
    bool add_prefix_space;      /* PRE_BYTELEVEL */
    char repl[8];               /* PRE_METASPACE: the replacement character, UTF-8 */
    size_t repl_len;
    tk_prepend prepend;         /* PRE_METASPACE */
    bool split;                 /* PRE_METASPACE */
} tk_pre;

typedef struct {
    tk_dec_kind kind;
    char *pattern, *content; /* DEC_REPLACE (string pattern), DEC_STRIP (content) */
    size_t pattern_len, content_len;
    char repl[8];            /* DEC_METASPACE */
    size_t repl_len;
    tk_prepend prepend;      /* DEC_METASPACE */
    int start, stop;         /* DEC_STRIP */
} tk_dec;

enum { TOK_ADDED = 1, TOK_SPECIAL = 2 };

/* Scratch state of one encode call; the tokenizer keeps one (with the word
 * cache) behind a try-lock and callers that miss the lock use a fresh one. */
typedef struct {
    pcre2_match_data *md;
    pic_strmap cache;   /* word -> index into cache_at */
    uint32_t *cache_at; /* per entry: offset into cache_ids, then count */
    size_t cache_entries, cache_entries_cap;
    tk_ids cache_ids;
    bool use_cache;
} tk_state;

struct pic_tokenizer {
    char *path;

    /* vocabulary: id -> token string; the model's token -> id */
    int32_t n_ids;
    int32_t model_vocab; /* config.json's vocab_size (0: none): rows beyond n_ids decode to no text */
    char **tok;
    uint32_t *tok_len;
    uint8_t *tok_flags;
    pic_strmap vocab;
    pic_strmap added_ids; /* added token content -> id */

    /* model: BPE */
    pic_pairmap merges;
    bool ignore_merges, byte_fallback, fuse_unk;
    int32_t unk_id;
    int32_t byte_tok[256]; /* <0xXX> ids for byte fallback, or -1 */

    tk_added added_raw, added_norm; /* matched before / after normalization */

    tk_regex *regex;
    int n_regex;
    tk_norm *norm;
    int n_norm;
    tk_pre *pre;
    int n_pre;
    tk_dec *dec;
    int n_dec;
    bool has_decoder;

    int32_t *prefix, *suffix; /* post-processor ids for add_special */
    size_t n_prefix, n_suffix;

    int32_t bos, eos, pad;
    char *chat_template;
    char *chat_template_file; /* where the template came from (chat_template.jinja, else the
                                 tokenizer_config.json with a 'chat_template'), usable or not */

    pthread_mutex_t mu;
    tk_state *state;
};

/* GPT-2's byte <-> character table used by ByteLevel. */
void tk_bytelevel_init(void);
extern char tk_byte_char[256][3]; /* UTF-8 of the character for each byte (1 or 2 bytes, NUL-ended) */
extern uint8_t tk_byte_char_len[256];
int tk_char_byte(uint32_t cp); /* the byte a character stands for, or -1 */

/* (UTF-8's validity, decoding and U+FFFD substitution: common/utf8.h) */
bool tk_is_whitespace(uint32_t cp); /* Unicode White_Space, Rust char::is_whitespace */

/* Pipeline stages (normalize.c, pretok.c, bpe.c, decode.c). */
int tk_regex_compile(tk_regex *re, const char *pattern, size_t len, bool literal, char *err, size_t errsize);
/* Next match in s[0..n) at or after start: returns 1 with [*ms, *me), or 0. */
int tk_regex_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t n, size_t start,
                  size_t *ms, size_t *me);
/* The successive matches HF's SysRegex::find_iter yields (the onig crate's
 * FindMatches): after an empty match the search moves on one character, and
 * the first empty match after a non-empty one is skipped; an empty string
 * has no matches. Start with (tk_regex_iter){0}. */
typedef struct {
    size_t last_end;
    bool skip_empty;
} tk_regex_iter;
int tk_regex_iter_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t n, tk_regex_iter *it,
                       size_t *ms, size_t *me);
void tk_normalize(const pic_tokenizer *t, tk_state *st, const char *s, size_t n, tk_str *out);

/* The pieces one segment splits into, each passed to the model. */
typedef struct {
    size_t off, len;
} tk_span;
/* first_len: the bytes at the start of s that come from the text's first
 * character (0 when s does not start the text) */
void tk_pretokenize(const pic_tokenizer *t, tk_state *st, const char *s, size_t n, size_t first_len,
                    tk_str *buf, tk_span **pieces, size_t *n_pieces);

void tk_bpe_word(const pic_tokenizer *t, tk_state *st, const char *w, size_t n, tk_ids *out);

tk_state *tk_state_new(const pic_tokenizer *t);
void tk_state_free(tk_state *st);

/* Qwen2.5's default system prompt: chat.c renders it, chat_detect.c tells
 * Qwen2.5's template by it */
extern const char tk_chat_qwen25_system[];

#endif
