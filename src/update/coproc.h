/* --alpha-cmd: a controller (pictl) run as a co-process through /bin/sh.
 * pic-update writes the measured entropy of each optimizer step as a line
 * and reads one alpha line back, so the controller keeps its state and
 * pic-update stays free of control logic. */
#ifndef PIC_UPDATE_COPROC_H
#define PIC_UPDATE_COPROC_H

#include <stdio.h>
#include <sys/types.h>

typedef struct {
    char *cmd;
    pid_t pid;
    FILE *to, *from;
} pic_coproc;

void pic_coproc_start(pic_coproc *c, const char *cmd);
/* Writes x, reads the answer: a finite number on a line; dies otherwise,
 * but for a controller gone after a stop signal (common/stop.h): NAN. */
double pic_coproc_ask(pic_coproc *c, double x);
/* Closes its input and waits: a controller that fails (say, it could not
 * save its state) fails pic-update, unless a stop signal ended both. */
void pic_coproc_finish(pic_coproc *c);

#endif
