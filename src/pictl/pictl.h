/* What pictl's two modes (main.c: streaming, simulate.c: closed loop) share. */
#ifndef PIC_PICTL_PICTL_H
#define PIC_PICTL_PICTL_H

#include <stdbool.h>
#include <stdio.h>

#include "pictl/controller.h"

typedef struct {
    double c0, drift, h0, noise;
    long long steps;
    unsigned long long seed;
    bool summary_only;
} pictl_sim_opts;

/* One step as the JSON object of --json and of a simulated trajectory
 * (step, entropy, target, error, p, i, integral, alpha, saturated; d when
 * the D term is on), on its own line. */
void pictl_print_json(const pic_ctl_out *o, bool with_d);

/* Runs the closed loop, prints the trajectory and the summary on stdout and
 * the verdict on stderr (unless --quiet). */
void pictl_simulate(const pic_ctl_params *p, const pictl_sim_opts *o);

#endif
