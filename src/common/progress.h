/* Progress on stderr when stderr is a terminal and not --quiet: one line
 * rewritten in place at most a few times a second, with rate and ETA. */
#ifndef PIC_PROGRESS_H
#define PIC_PROGRESS_H

#include <stdbool.h>

typedef struct {
    bool on;
    double start, last;
    const char *unit;
} pic_progress;

void pic_progress_start(pic_progress *p, const char *unit);
/* done of total (total 0 when unknown); extra is a short text or NULL. */
void pic_progress_update(pic_progress *p, double done, double total, const char *extra);
void pic_progress_end(pic_progress *p);
double pic_now(void); /* monotonic seconds */

#endif
