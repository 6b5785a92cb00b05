/* Tokenizers from HuggingFace tokenizer.json files, encoding and decoding
 * exactly as the `tokenizers` library does (docs/tokenizer.md).
 *
 * Supported: model BPE (merges as "a b" strings or ["a","b"] pairs,
 * ignore_merges, byte_fallback, unk_token/fuse_unk); added tokens (special or
 * not, normalized or not, lstrip/rstrip/single_word); normalizers NFC, NFD,
 * NFKC, NFKD, Prepend, Replace and Sequence; pre-tokenizers Split (PCRE2 JIT),
 * ByteLevel, Metaspace and Sequence; post-processors TemplateProcessing,
 * ByteLevel, RobertaProcessing, BertProcessing and Sequence; decoders
 * ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip and Sequence.
 * Anything else is refused at load time with a message naming the file and
 * the JSON field, never silently approximated.
 *
 * Thread safety: a loaded tokenizer is read-only except for a word cache that
 * encode takes with a try-lock, so every function may be called from several
 * threads at once on the same handle.
 *
 * Links with -lpcre2-8 -lutf8proc (and the common library). */
#ifndef PIC_TOKENIZER_H
#define PIC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pic_tokenizer pic_tokenizer;

/* Loads a tokenizer.json file, or a model directory holding one (then its
 * tokenizer_config.json, when present, supplies the bos/eos/pad tokens and
 * the chat template, and config.json the eos id as a fallback). Dies (exit 1)
 * with a message naming the file and the field when anything is malformed or
 * unsupported. */
pic_tokenizer *pic_tokenizer_load(const char *file_or_model_dir);
void pic_tokenizer_free(pic_tokenizer *t);

/* The tokenizer.json path it was loaded from. */
const char *pic_tokenizer_path(const pic_tokenizer *t);

/* Encodes UTF-8 text (len bytes; NUL bytes allowed). add_special applies the
 * post-processor's special tokens (HF `add_special_tokens=True`, e.g. Llama
 * 3's <|begin_of_text|>). Added-token strings in the text are always matched
 * as their tokens, as HF does by default. On success *ids (malloc'd; free it)
 * and *n are set and 0 is returned; invalid UTF-8 returns -1 with *ids NULL
 * and *n the byte offset of the first bad byte. */
int pic_tokenizer_encode(const pic_tokenizer *t, const char *text, size_t len, bool add_special,
                         int32_t **ids, size_t *n);

/* Number of tokens text encodes to (same rules and return as encode). */
int pic_tokenizer_count(const pic_tokenizer *t, const char *text, size_t len, bool add_special,
                        size_t *n);

/* Decodes ids to UTF-8 text (malloc'd, NUL-terminated, *len its length
 * without the NUL) through the tokenizer's decoder, as HF
 * `Tokenizer.decode(ids, skip_special_tokens)`: byte sequences that are not
 * valid UTF-8 become U+FFFD. An id that names no token but is below the
 * model's vocab_size (config.json beside tokenizer.json: embedding rows
 * beyond the tokenizer) decodes to no text, as in transformers. Returns 0, or
 * -1 when an id is outside both (then *text is NULL and *len the index of
 * that id). */
int pic_tokenizer_decode(const pic_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                         char **text, size_t *len);

/* One past the largest id (model vocabulary and added tokens). Model
 * embedding tables are often larger (padding rows); those ids decode to no
 * text when config.json gives the model's vocab_size. */
int32_t pic_tokenizer_vocab_size(const pic_tokenizer *t);
/* The token string of an id as written in tokenizer.json (byte-level tokens
 * in their GPT-2 character form, e.g. "Ġthe"), or NULL. Valid until free. */
const char *pic_tokenizer_id_to_token(const pic_tokenizer *t, int32_t id);
/* The id of a token string (added tokens first, then the model's vocabulary),
 * or -1. */
int32_t pic_tokenizer_token_to_id(const pic_tokenizer *t, const char *token);
/* Whether id is an added token marked special (skipped by skip_special). */
bool pic_tokenizer_is_special(const pic_tokenizer *t, int32_t id);

/* Special ids, -1 when unknown. bos: tokenizer_config.json's bos_token, else
 * the first special token the post-processor prepends. eos: tokenizer_config's
 * eos_token, else config.json's eos_token_id (the first, when a list; 2 for
 * a Llama or Mistral config without the key, as the model reads it). pad:
 * tokenizer_config's pad_token. */
int32_t pic_tokenizer_bos_id(const pic_tokenizer *t);
int32_t pic_tokenizer_eos_id(const pic_tokenizer *t);
int32_t pic_tokenizer_pad_id(const pic_tokenizer *t);

/* The chat_template string of the model directory's tokenizer_config.json,
 * or NULL; pic_chat_for_tokenizer (chat.h) uses it to pick a format. */
const char *pic_tokenizer_chat_template(const pic_tokenizer *t);

#endif
