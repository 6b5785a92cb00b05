/* When a response ends: on one of the model's eos ids (config.json and
 * generation_config.json, and --eos's; kept in response_ids, left out of the
 * text when special), or
 * when its decoded text contains a --stop string. The stop string's token
 * stays in response_ids (the model did sample it, and the trainer scores
 * it); the text keeps it, or with --stop-cut ends just before it. */
#ifndef PIC_ROLLOUT_STOP_H
#define PIC_ROLLOUT_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const pic_config *cfg;
    bool ignore_eos;
    int32_t *eos;         /* --eos: ids that stop a response besides the model's */
    int n_eos;
    const char **strings; /* --stop */
    int n_strings;
    size_t longest;       /* bytes of the longest stop string */
    bool cut;             /* --stop-cut */
} stop_rules;

bool stop_is_eos(const stop_rules *r, int32_t id);

/* Whether the response ids[0..n) has just come to contain a stop string in
 * its text, with ids[n-1] new. Only the tail that can hold a match ending
 * in the new token is decoded, so a check costs O(longest), not O(n). */
bool stop_string_hit(const stop_rules *r, const pic_tokenizer *t, const int32_t *ids, size_t n);

/* The response text of ids (special tokens skipped), cut before the first
 * stop string when the rules say so and it ended on one (malloc'd; *len
 * gets its length: the text may hold NUL bytes). */
char *stop_response_text(const stop_rules *r, const pic_tokenizer *t, const int32_t *ids, size_t n, bool on_string,
                         size_t *len);

#endif
