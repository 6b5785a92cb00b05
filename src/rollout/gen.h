/* Generation's bookkeeping: prompts read from the input, sequences in
 * flight, and the sample records they become. */
#ifndef PIC_ROLLOUT_GEN_H
#define PIC_ROLLOUT_GEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h"
#include "rollout/rollout.h"

/* A sample's first token, drawn when its prompt is prefilled (from the
 * prompt's last logits, which need not be kept), with its log-prob and
 * entropy and the sample's random stream after the draw. */
typedef struct {
    int32_t tok;
    float lp, ent;
    pic_rng rng;
} gen_first;

/* A finished sample, until its record is written. */
typedef struct {
    int32_t *ids;
    float *lp, *ent;
    int len;
    const char *finish;
    bool on_string;  /* ended on a --stop string */
} gen_sample;

typedef struct {
    json_t *obj;     /* the input record */
    size_t index;    /* its place in the whole input, from 0: the key of its random streams */
    int32_t *ids;    /* prompt ids */
    int P;
    int home;        /* the slot it was prefilled into, where its first sample runs:
                      * its later samples copy the prompt's positions from there */
    gen_first *first; /* [n], from prefill until every sample started */
    int started, done;
    gen_sample *out; /* [n] finished samples */
} gen_prompt;

typedef struct {
    gen_prompt *pr;  /* NULL: the slot is free */
    int sample;
    pic_rng rng;
    int32_t *ids;
    float *lp, *ent;
    int len, cap;
    unsigned long order; /* when it started, among all samples: the latest are preempted first */
    const char *finish;
    bool on_string;  /* ended on a --stop string */
} gen_seq;

/* Reads every record of the readers, keeps this run's --shard of those from
 * --skip on (a contiguous block, so that the outputs concatenate to the whole),
 * and builds their prompts; bad ones die or are skipped. *pmax gets the
 * longest prompt. */
gen_prompt *gen_read_prompts(rollout_run *run, pic_reader **readers, int n_readers, size_t *np, int *pmax);
void gen_prompt_free(gen_prompt *pr);

/* The sequence's stream is its prompt's first draw's (gen_first.rng), which
 * the caller sets: that draw was made at the prefill. */
void gen_seq_start(gen_seq *s, gen_prompt *pr, int sample);
void gen_seq_push(gen_seq *s, int32_t id, float logprob, float entropy);
void gen_seq_finish(gen_seq *s, const char *finish, bool on_string);
/* Hands the finished sequence's tokens to its prompt's out[sample] and
 * frees the slot for the next sample. */
void gen_seq_complete(gen_seq *s);
void gen_seq_free(gen_seq *s);

/* The record of sample i of pr: the input record with the sample's fields
 * added (a new reference). Reads only what generation no longer changes,
 * so the writer's thread can make it. */
json_t *gen_sample_record(const rollout_run *run, const gen_prompt *pr, int i);
void gen_sample_free(gen_sample *s);

#endif
