/* pic-eval's tallies: samples grouped into problems by (source, id),
 * problems into datasets by source. tally.c reads records into them,
 * report.c makes the rows and prints them; main.c holds the options. */
#ifndef PIC_EVAL_EVAL_H
#define PIC_EVAL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/json.h"
#include "common/progress.h"
#include "eval/metrics.h"

enum { FMT_TABLE, FMT_MARKDOWN, FMT_TSV, FMT_JSON };

typedef struct {
    long long sample;
    size_t file, line;
} sample_loc;

typedef struct {
    char *key; /* the hash key: source length, source and id, \x1f between */
    const char *id; /* points into key */
    size_t dataset;
    long long n, c;
    double len_sum;
    long long len_n;
    double ent_sum;
    long long ent_tokens;
    double refl_sum;
    long long refl_n, refl_any;
    sample_loc *seen; /* sorted by sample, for duplicate detection */
    size_t nseen, capseen;
    /* --maj: the correct answer's first vote, and (after count_votes) the
     * leading wrong answer's votes and first vote. A vote's order is its
     * 'sample' index, else its place in the reading. */
    long long c_first, w_best, w_first;
} problem;

/* --maj: one wrong answer of one problem (a distinct 'pred'). */
typedef struct {
    size_t problem;
    long long votes, first;
} answer;

typedef struct {
    char *name;
    long long *word_counts;
} dataset;


typedef struct {
    /* options */
    long long *ks;
    size_t nk;
    int format, digits;
    double threshold;
    pic_wordlist words;
    const char *default_source;
    bool maj;
    /* data */
    problem *problems;
    size_t nproblems, capproblems;
    dataset *datasets;
    size_t ndatasets, capdatasets;
    json_t *pmap, *dmap;
    answer *answers;
    size_t nanswers, capanswers;
    json_t *amap; /* problem index \x1f pred -> answer index */
    char **files;
    size_t nfiles;
    long long records;
} eval_ctx;

/* Reads one stream's records into e's problems; a bad record is fatal, or
 * counted under --skip-bad. fileno indexes e->files, for the message of a
 * repeated sample. */
void eval_read_file(eval_ctx *e, const char *path, size_t fileno, pic_progress *prog);
/* --maj, after the last file: each problem's leading wrong answer. */
void eval_count_votes(eval_ctx *e);
bool eval_majority_correct(const problem *p);
void eval_free(eval_ctx *e);

/* The table (or JSON) of every dataset and the overall row. */
void eval_print_report(FILE *out, const eval_ctx *e);

#endif
