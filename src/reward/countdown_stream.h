/* pic-reward --task countdown over sample streams (docs/reward.md). */
#ifndef PIC_REWARD_COUNTDOWN_STREAM_H
#define PIC_REWARD_COUNTDOWN_STREAM_H

#include "common/cli.h"
#include "reward/countdown.h"

typedef struct {
    double r_correct, r_wrong, r_unparsable;
    const char *resp_field;
    cd_opts o;
} cd_stream_opts;

/* Adds pred, correct, reward and verdict to each record of files (stdin
 * when none), judged against its "numbers" and "target" fields. */
int cd_stream(char **files, int nfiles, const pic_output_opts *out, const cd_stream_opts *so);

#endif
