/* pic-update --serve's requests: one JSON object a line on standard input,
 * each a training step (docs/update.md, "A long-lived trainer"):
 *
 *   {"samples": FILE or [FILE, ...], "output": DIR,
 *    "alpha": A, "alpha_cmd": CMD, "state": true|false, "save_grads": FILE}
 *
 * samples and output are required; alpha or alpha_cmd (not both) replace
 * the command line's for this step; state (default true) writes AdamW's
 * state with the checkpoint; any other key is refused, since a misspelt
 * one would otherwise be a step taken with a default. */
#ifndef PIC_UPDATE_REQUEST_H
#define PIC_UPDATE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t line;       /* of standard input, from 1, for messages */
    char **samples;    /* [n_samples] */
    int n_samples;
    char *output;
    bool alpha_set;
    double alpha;
    char *alpha_cmd;   /* or NULL */
    bool state;
    char *save_grads;  /* or NULL */
} pic_request;

/* The next request into r; false at the end of standard input, or once
 * rank 0 has caught a stop signal (common/stop.h), also while it waits for
 * a line. Rank 0 reads and every other rank of a job gets the same text,
 * so that all take the same step. A line that is not such an object dies naming its line
 * and field (requests are not records: --skip-bad does not pass over them). */
bool pic_request_next(pic_request *r);
void pic_request_free(pic_request *r);

#endif
