/* Added tokens: found in text before (or, for "normalized" ones, after)
 * normalization, leftmost-longest like HF's Aho-Corasick matcher, with the
 * lstrip / rstrip / single_word rules applied to each match. */
#ifndef PIC_TOK_ADDED_H
#define PIC_TOK_ADDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t child, sibling; /* first child, next sibling (-1 none) */
    int32_t token;          /* index into tokens when a token ends here, else -1 */
    unsigned char byte;
} tk_trie_node;

typedef struct {
    int32_t id;
    bool lstrip, rstrip, single_word;
} tk_added_token;

typedef struct {
    tk_trie_node *nodes;
    size_t n_nodes, cap_nodes;
    tk_added_token *tokens;
    size_t n_tokens;
    bool first[256]; /* bytes that can start a token: skips the rest fast */
} tk_added;

/* A piece of text: either an added token (id >= 0) or text to tokenize. */
typedef struct {
    size_t off, len;
    int32_t id;
} tk_segment;

void tk_added_init(tk_added *a);
void tk_added_free(tk_added *a);
void tk_added_add(tk_added *a, const char *content, size_t len, int32_t id, bool lstrip, bool rstrip,
                  bool single_word);
/* Splits s[0..n) into segments (appended to *segs, which grows). */
void tk_added_split(const tk_added *a, const char *s, size_t n, tk_segment **segs, size_t *n_segs,
                    size_t *cap_segs);

#endif
