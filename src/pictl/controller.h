/* The EntroPIC controller (arXiv 2511.15248), its target schedules and the
 * linear analysis of its closed loop. Pure computation: no I/O, no exits, so
 * that the unit tests and both pictl modes (streaming and simulate) share
 * exactly one implementation of the law. */
#ifndef PIC_PICTL_CONTROLLER_H
#define PIC_PICTL_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>

/* A piecewise-linear target over steps: constant before the first point and
 * after the last, linear in between. A constant target is one point. */
typedef struct {
    size_t n;
    long long *step; /* strictly increasing, >= 0 */
    double *value;   /* finite */
} pic_schedule;

/* Parses "STEP:VALUE,STEP:VALUE,..." (also: points separated by newlines or
 * ';', STEP and VALUE separated by whitespace, '#' comments to the end of a
 * line; the format of a schedule file). Returns 0, or -1 with a message in
 * err. On success s owns malloc'd arrays (pic_schedule_free). */
int pic_schedule_parse(const char *spec, pic_schedule *s, char *err, size_t errsize);
/* The same, and on failure *line is the line (from 1) of the point at fault,
 * or 0 when the fault is no line's (no points at all): a file's errors name
 * FILE:LINE. */
int pic_schedule_parse_lines(const char *text, pic_schedule *s, size_t *line, char *err, size_t errsize);
/* The largest target, of --target and of a schedule's values alike: an
 * entropy beyond it is a typo. */
#define PIC_TARGET_MAX 1e6
/* One point at step 0: the constant target. */
void pic_schedule_constant(pic_schedule *s, double value);
double pic_schedule_at(const pic_schedule *s, long long step);
void pic_schedule_free(pic_schedule *s);

typedef struct {
    double kp, ki, kd;          /* gains; ki 0 is the P controller */
    double alpha_min, alpha_max; /* the clip */
    bool anti_windup;           /* conditional integration (off in the paper) */
    const pic_schedule *target;
} pic_ctl_params;

/* What survives between steps (and between pictl invocations). */
typedef struct {
    long long step;      /* the index of the next step, from 0 */
    double integral;     /* I_{t-1}: the sum of the errors integrated so far */
    bool has_prev;       /* prev_entropy is valid (the D term needs it) */
    double prev_entropy; /* H_{t-1} */
} pic_ctl_state;

typedef struct {
    long long step;
    double entropy, target, error;
    double p, i, d;      /* the three terms: Kp*e_t, Ki*I_{t-1}, Kd*(H_t - H_{t-1}) */
    double unclipped;    /* p + i + d */
    double alpha;        /* clip(unclipped, alpha_min, alpha_max) */
    double integral;     /* I_t, after this step */
    bool saturated;      /* the clip was active */
    bool integrated;     /* e_t was added to the integral */
} pic_ctl_out;

/* One step of the law, in the official code's order:
 *   e_t = H_t - target(t)
 *   alpha_t = clip(Kp*e_t + Ki*I_{t-1} + Kd*(H_t - H_{t-1}), alpha_min, alpha_max)
 *   I_t = I_{t-1} + e_t   (skipped under anti-windup when saturated and e_t
 *                          pushes further into the saturation)
 * Returns 0, or -1 (state untouched) when a value would not be finite. */
int pic_ctl_step(const pic_ctl_params *p, pic_ctl_state *st, double entropy, pic_ctl_out *out);

/* Linear analysis against the plant H_{k+1} = H_k - C0*alpha_k + D
 * (unsaturated, constant target). */
typedef struct {
    double re, im;
} pic_complex;

/* The eigenvalues of the loop pictl actually runs (the order above, with the
 * D term), in its minimal state: e_k, plus e_{k-1} when kd != 0, plus
 * I_{k-1} when ki != 0. Returns how many (1..3) and sets *radius to the
 * spectral radius. */
int pic_loop_eigenvalues(double c0, double kp, double ki, double kd, pic_complex ev[3],
                         double *radius);
/* The eigenvalues of the paper's appendix matrix
 * [[1-C0*Kp, -C0*Ki], [1-C0*Kp, 1-C0*Ki]] (its integral includes the current
 * error; no D term). Returns 2 and sets *radius. */
int pic_paper_eigenvalues(double c0, double kp, double ki, pic_complex ev[2], double *radius);
/* Asymptotically stable: spectral radius below 1 by more than rounding. */
bool pic_radius_stable(double radius);
/* The steady-state error the theorems predict: D/(C0*Kp) for P control
 * (ki == 0, kp > 0), 0 with an integral term; NaN when neither gain acts. */
double pic_steady_error(double c0, double kp, double ki, double drift);

/* Roots of the monic polynomial x^deg + c[deg-1] x^(deg-1) + ... + c[0],
 * deg 1..3. Exposed for the unit tests. */
void pic_poly_roots(int deg, const double *c, pic_complex *roots);

#endif
