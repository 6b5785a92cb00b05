/* A byte-level BPE tokenizer.json of our own, for models pic initialises:
 * the 256 GPT-2 byte symbols, optional merges learned from a corpus, and
 * ChatML's special tokens. HF tokenizers and src/tokenizer both load it. */
#ifndef PIC_INIT_BYTELEVEL_H
#define PIC_INIT_BYTELEVEL_H

#include <stddef.h>

/* The special tokens, with ids vocab_size-3 .. vocab_size-1. */
extern const char *const bytelevel_specials[3];
enum { BYTELEVEL_N_SPECIALS = 3 };

/* Learns up to n_merges BPE merges from texts of lens[i] bytes each (a NUL
 * among them is a byte like any other; each split GPT-2 style into words,
 * then pairs counted over words), writes tokenizer.json text (malloc'd). The
 * vocabulary is 256 + merges + 3 specials; *vocab_size gets it. texts may be
 * NULL when n_merges is 0. */
char *bytelevel_tokenizer_json(const char *const *texts, const size_t *lens, size_t n_texts, int n_merges,
                               int *vocab_size);

#endif
