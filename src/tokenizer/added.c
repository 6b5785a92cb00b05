#include "tokenizer/added.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

void tk_added_init(tk_added *a) {
    memset(a, 0, sizeof *a);
    a->cap_nodes = 64;
    a->nodes = pic_malloc(a->cap_nodes * sizeof *a->nodes);
    a->nodes[0] = (tk_trie_node){-1, -1, -1, 0};
    a->n_nodes = 1;
}

void tk_added_free(tk_added *a) {
    free(a->nodes);
    free(a->tokens);
    memset(a, 0, sizeof *a);
}

static int32_t child_of(const tk_added *a, int32_t node, unsigned char b) {
    for (int32_t c = a->nodes[node].child; c >= 0; c = a->nodes[c].sibling)
        if (a->nodes[c].byte == b) return c;
    return -1;
}

void tk_added_add(tk_added *a, const char *content, size_t len, int32_t id, bool lstrip, bool rstrip,
                  bool single_word) {
    if (len == 0) return; /* HF ignores empty added tokens */
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)content[i];
        int32_t c = child_of(a, node, b);
        if (c < 0) {
            if (a->n_nodes == a->cap_nodes) {
                a->cap_nodes *= 2;
                a->nodes = pic_realloc(a->nodes, a->cap_nodes * sizeof *a->nodes);
            }
            c = (int32_t)a->n_nodes++;
            a->nodes[c] = (tk_trie_node){-1, a->nodes[node].child, -1, b};
            a->nodes[node].child = c;
        }
        node = c;
    }
    a->first[(unsigned char)content[0]] = true;
    if (a->nodes[node].token >= 0) { /* same content twice: the later entry wins */
        a->tokens[a->nodes[node].token] = (tk_added_token){id, lstrip, rstrip, single_word};
        return;
    }
    a->tokens = pic_realloc(a->tokens, (a->n_tokens + 1) * sizeof *a->tokens);
    a->tokens[a->n_tokens] = (tk_added_token){id, lstrip, rstrip, single_word};
    a->nodes[node].token = (int32_t)a->n_tokens++;
}

/* Longest token starting at s[i]: its end, or 0. */
static size_t longest_at(const tk_added *a, const char *s, size_t n, size_t i, int32_t *tok) {
    int32_t node = 0;
    size_t best = 0;
    for (size_t j = i; j < n; j++) {
        node = child_of(a, node, (unsigned char)s[j]);
        if (node < 0) break;
        if (a->nodes[node].token >= 0) {
            best = j + 1;
            *tok = a->nodes[node].token;
        }
    }
    return best;
}

/* The regex crate's \w, which HF uses for single_word boundaries:
 * Alphabetic (letters, Nl, and Other_Alphabetic: marks and the circled and
 * squared Latin letters), marks, decimal digits (Nd only: not No such as
 * superscripts or fractions), connector punctuation, and the joiners. */
static bool is_word_char(uint32_t cp) {
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
               (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
    }
}

/* The character ending just before byte i (s is valid UTF-8). */
static uint32_t char_before(const char *s, size_t i, size_t *start) {
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    uint32_t cp = 0;
    pic_utf8_next(s, i, k, &cp);
    if (start) *start = k;
    return cp;
}

static void push(tk_segment **segs, size_t *n, size_t *cap, size_t off, size_t len, int32_t id) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *segs = pic_realloc(*segs, *cap * sizeof **segs);
    }
    (*segs)[(*n)++] = (tk_segment){off, len, id};
}

void tk_added_split(const tk_added *a, const char *s, size_t n, tk_segment **segs, size_t *n_segs,
                    size_t *cap_segs) {
    size_t done = 0; /* text before this is already in segments */
    size_t i = 0;
    while (i < n) {
        if (!a->first[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        int32_t tok = -1;
        size_t end = longest_at(a, s, n, i, &tok);
        if (!end) {
            i++;
            continue;
        }
        const tk_added_token *t = &a->tokens[tok];
        size_t start = i;
        i = end; /* the matcher resumes after a match even when it is rejected */
        if (t->single_word) {
            uint32_t cp;
            bool left_ok = start == 0 || !is_word_char(char_before(s, start, NULL));
            bool right_ok = end == n || (pic_utf8_next(s, n, end, &cp), !is_word_char(cp));
            if (!left_ok || !right_ok) continue;
        }
        if (t->lstrip) {
            size_t k = start, ks;
            while (k > done && tk_is_whitespace(char_before(s, k, &ks))) k = ks;
            /* never before the last match's end, even for a match found
             * inside what an rstrip took (find_matches: start =
             * max(newstart, start_offset)) */
            start = k > done ? k : done;
        }
        if (t->rstrip) {
            uint32_t cp;
            int l;
            /* the matcher still resumes at the match's own end: a token
             * that starts with whitespace is found in what this one took */
            while (end < n && (l = pic_utf8_next(s, n, end, &cp)) > 0 && tk_is_whitespace(cp)) end += (size_t)l;
        }
        /* so such a match may be left empty, and an empty split is dropped
         * (tokenizers panics, "AddedVocabulary bad split", where it would
         * end before it starts) */
        if (end <= start) continue;
        if (start > done) push(segs, n_segs, cap_segs, done, start - done, -1);
        push(segs, n_segs, cap_segs, start, end - start, t->id);
        done = end; /* back inside an earlier rstrip when the match was there, as in HF */
    }
    if (done < n) push(segs, n_segs, cap_segs, done, n - done, -1);
}
