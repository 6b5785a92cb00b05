/* pic-rollout's modes share one run state. */
#ifndef PIC_ROLLOUT_H
#define PIC_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/progress.h"
#include "common/stream.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *model_dir;
    pic_model model;
    pic_tokenizer *tok;   /* loaded on the first record that has text instead of ids */
    double temperature;   /* < 0: each record's 'temperature' field, else 1 */
    bool add_special;     /* text prompts get the post-processor's special tokens */
    bool skip_bad;
    size_t batch_tokens;
    const char *logprobs_field, *entropy_field;
    pic_writer *w;
    pic_progress progress;
    size_t records, skipped, tokens;
} rollout_run;

/* Scores every record of r (teacher forcing) and writes it to run->w. */
void score_stream(rollout_run *run, pic_reader *r);

#endif
