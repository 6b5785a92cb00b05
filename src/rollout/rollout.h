/* pic-rollout's modes share one run state. */
#ifndef PIC_ROLLOUT_H
#define PIC_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/progress.h"
#include "common/stream.h"
#include "model/model.h"
#include "rollout/prompt.h"
#include "rollout/sampler.h"
#include "rollout/stop.h"

/* The least temperature above 0 (greedy) that pic-rollout samples or scores
 * at: below it logits / T overflow float. It is checked on the value as
 * given, a double: as a float, 1e-46 and less round to 0, greedy. The
 * most: beyond FLT_MAX a record's T was infinite, every token alike. */
#define ROLLOUT_MIN_TEMPERATURE 1e-3
#define ROLLOUT_MAX_TEMPERATURE 1e6

typedef struct {
    const char *model_dir;
    pic_model model;
    prompt_builder prompts; /* templates and the tokenizer (loaded on first need) */
    double temperature;     /* --score: < 0 means each record's 'temperature', else 1 */
    size_t batch_tokens;    /* --score: --batch-tokens; generation: --max-batch-tokens */
    const char *logprobs_field, *entropy_field;
    pic_writer *w;
    pic_progress progress;
    size_t records, tokens;
    bool fast;              /* --fast: the fast products, not the batch-invariant ones */

    /* generation */
    sampler_params sp;
    stop_rules stops;
    int n;                  /* samples per prompt */
    int max_new_tokens;
    int max_batch_size;     /* sequences in flight */
    long kv_cache_tokens;   /* the KV cache's pool in positions (0: every sequence at its longest) */
    size_t preemptions;     /* sequences whose cache was dropped for room, recomputed later */
    long kv_peak, kv_pages; /* the KV cache's pages: the most in use at once, and the pool */
    unsigned long long seed;
    int shard, shards;      /* --shard I/N */
    size_t skip;            /* --skip N: input records before N are dropped */
    size_t samples;         /* written */
    double entropy_sum;     /* over every generated token */
} rollout_run;

/* Scores every record of r (teacher forcing) and writes it to run->w. */
void score_stream(rollout_run *run, pic_reader *r);

/* Generates run->n samples for each prompt record of the readers (all read
 * first, then this run's --shard of those from --skip on) and writes them in
 * input order. */
void generate(rollout_run *run, pic_reader **readers, int n_readers);

#endif
