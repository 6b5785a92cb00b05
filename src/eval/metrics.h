/* The arithmetic of pic-eval, apart from its I/O so that the unit tests can
 * check it against hand-computed values: the unbiased pass@k estimator and
 * the counting of reflective words in a response. */
#ifndef PIC_EVAL_METRICS_H
#define PIC_EVAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* The unbiased pass@k of Chen et al. (2021) for one problem with n samples
 * of which c are correct: 1 - C(n-c, k) / C(n, k). Computed as a product of
 * min(c, k) ratios, each in [0, 1], summed as logarithms (log1p) and
 * answered as -expm1, so it neither overflows nor loses the digits of the
 * small probabilities for large n. NaN when k < 1, k > n, or c outside
 * [0, n]: with fewer than k samples there is no unbiased estimate. */
double pic_pass_at_k(long long n, long long c, long long k);

/* Reflective words and phrases, matched case-insensitively (ASCII), on word
 * boundaries, a space in a phrase matching any run of whitespace and an
 * apostrophe matching ' or the typographic U+2019. */
typedef struct {
    size_t n;
    char **words; /* as given, lowercased, inner whitespace collapsed */
} pic_wordlist;

/* The default list (see pic-eval --help). */
extern const char *const pic_reflect_default;

/* Parses a comma- or newline-separated list ('#' comments to the end of a
 * line), as pic_list_split: blank lines are skipped, an empty entry beside
 * others (",", "a,,b") is an error; an empty list is valid (no counting).
 * Returns 0, or -1 with a message in err. */
int pic_wordlist_parse(const char *spec, pic_wordlist *w, char *err, size_t errsize);
void pic_wordlist_free(pic_wordlist *w);

/* Non-overlapping occurrences of one word or phrase in text. */
size_t pic_count_phrase(const char *text, size_t len, const char *phrase);

/* Columns a terminal gives the UTF-8 text s: 2 for East Asian wide and
 * fullwidth characters and the emoji blocks, 0 for combining marks,
 * variation selectors and zero-width characters, 1 for everything else
 * (each byte of malformed UTF-8 too). What aligns the table's columns. */
size_t pic_display_width(const char *s);

#endif
