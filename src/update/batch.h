/* The samples of one pic-update run, read from scored sample streams
 * (docs/streams.md): token ids, old log-probabilities, and what advantages
 * are made of. Every problem with a record dies naming file, line and field. */
#ifndef PIC_UPDATE_BATCH_H
#define PIC_UPDATE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "update/advantage.h"

typedef struct {
    int32_t *ids;      /* prompt then response */
    int n_prompt, n_resp;
    float *old_logp;   /* [n_resp]; NULL when the stream has none (SFT) */
    double adv;        /* filled by pic_batch_advantages */
    char *file;        /* where it came from, for messages */
    size_t line;
    double temperature; /* its `temperature` (greedy's 0 read as 1), or 0 when it has none */
} pic_sample;

typedef struct {
    pic_sample *s;
    size_t n, cap;
    double temperature; /* the records' common `temperature` (pic_samples_agree_temperature), or 0 */
    pic_adv_in *adv_in; /* [n], for pic_batch_advantages */
    char **skipped;     /* [n_skipped]: the id key of each record --skip-bad dropped, when it had one */
    size_t n_skipped;
} pic_samples;

typedef struct {
    bool need_logprobs; /* the policy losses need old log-probabilities */
    bool need_labels;   /* advantages from rewards (not SFT) */
    int vocab;          /* token ids must lie in [0, vocab) */
    int context;        /* prompt and response together at most this many tokens */
    bool agree_temperature; /* the records' `temperature` is the training one, so must be one value
                               (not when --temperature or SFT sets it) */
} pic_read_opts;

/* Appends the records of path (NULL or "-": stdin). */
void pic_samples_read(pic_samples *b, const char *path, const pic_read_opts *o);
/* With agree_temperature, after every file is read: b->temperature is the
 * temperature most records carry. Without --skip-bad the reader has already
 * died on a record that differs from the first; under it, each record that
 * differs from the majority is the bad one, counted and dropped (its id kept
 * for pic_samples_drop_lone's message), rather than every record after a
 * stray first one; a tie for the most common value dies (exit 1), nothing
 * telling which records are stray. */
void pic_samples_agree_temperature(pic_samples *b);
/* Under --skip-bad, GRPO: drops each sample that skipped records left alone
 * in its group (no baseline), with a warning naming it, its id and how many
 * of the group were skipped (when say: one rank speaks for the job), and
 * returns how many it dropped; stream order is kept. Without --skip-bad, or
 * when no record was skipped, nothing is dropped (pic_samples_advantages
 * then dies on a group of one, as it always did). */
size_t pic_samples_drop_lone(pic_samples *b, const pic_adv_cfg *c, bool say);
/* Advantages of every sample; dies naming the record at fault (and, for a
 * GRPO group left too small by --skip-bad, the id and how many of its
 * records were skipped). */
void pic_samples_advantages(pic_samples *b, const pic_adv_cfg *c);
/* Keeps the positive samples (keep_positive) or the others, in stream order:
 * PSR and NSR train on one class only (RLVR-Decomposed,
 * verl/trainer/ppo/ray_trainer.py RayPPOTrainer.fit: batch.subset). */
void pic_samples_keep_class(pic_samples *b, bool keep_positive);
void pic_samples_free(pic_samples *b);

#endif
