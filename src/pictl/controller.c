/* The EntroPIC law, target schedules and the closed loop's eigenvalues.
 * See controller.h for the definitions; the comments here say why the code
 * is shaped the way it is. */
#include "pictl/controller.h"

#include <complex.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"


static int parse_point(char *pt, long long *step, double *value, char *err, size_t errsize) {
    char *a = pt, *b = strchr(pt, ':');
    if (b) {
        *b++ = '\0';
    } else {
        /* "STEP VALUE": the file form, whitespace between the two */
        b = a;
        while (*b && !isspace((unsigned char)*b)) b++;
        if (!*b) return pic_errf(err, errsize, "point '%s': expected STEP:VALUE", pt);
        *b++ = '\0';
    }
    a = pic_trim(a);
    b = pic_trim(b);
    char *end;
    errno = 0;
    long long s = strtoll(a, &end, 10);
    if (!*a || *end || errno || s < 0)
        return pic_errf(err, errsize, "step '%s': expected an integer >= 0", a);
    double v;
    /* the values are entropies, read as --target's: strtod alone took
     * 0x10 for 16, refused 1e-400 and had no upper limit */
    if (pic_decimal(b, &v) != 0 || v < 0 || v > PIC_TARGET_MAX)
        return pic_errf(err, errsize,
                        "value '%s' at step %lld: expected a finite number >= 0, at most %g "
                        "(an entropy, as --target)",
                        b, s, PIC_TARGET_MAX);
    *step = s;
    *value = v;
    return 0;
}

/* Appends the points of one line of a schedule to s (cap: its arrays' room). */
static int add_points(const char *line, pic_schedule *s, size_t *cap, char *err, size_t errsize) {
    pic_list l;
    /* '\n' among the separators: '#' comments and blank lines, as a file's */
    if (pic_list_split(&l, line, ",;\n"))
        return pic_errf(err, errsize, "an empty point (two separators together, or one at an end)");
    int rc = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *pt = l.items[i];
        long long st = 0;
        double v = 0;
        if ((rc = parse_point(pt, &st, &v, err, errsize))) break;
        if (s->n && st <= s->step[s->n - 1]) {
            rc = pic_errf(err, errsize, "step %lld after step %lld: steps must increase", st,
                      s->step[s->n - 1]);
            break;
        }
        if (s->n == *cap) {
            *cap = *cap ? 2 * *cap : 8;
            long long *ns = realloc(s->step, *cap * sizeof *ns);
            if (ns) s->step = ns;
            double *nv = realloc(s->value, *cap * sizeof *nv);
            if (nv) s->value = nv;
            if (!ns || !nv) {
                rc = pic_errf(err, errsize, "out of memory");
                break;
            }
        }
        s->step[s->n] = st;
        s->value[s->n] = v;
        s->n++;
    }
    pic_list_free(&l);
    return rc;
}

/* A line at a time, so that an error in a file can name its line. */
int pic_schedule_parse_lines(const char *text, pic_schedule *s, size_t *line, char *err, size_t errsize) {
    memset(s, 0, sizeof *s);
    char *copy = strdup(text);
    if (!copy) return pic_errf(err, errsize, "out of memory");
    size_t cap = 0, at = 0;
    int rc = 0;
    for (char *p = copy, *next; p && !rc; p = next) {
        next = strchr(p, '\n');
        if (next) *next++ = '\0';
        at++;
        rc = add_points(p, s, &cap, err, errsize);
    }
    free(copy);
    if (!rc && !s->n) at = 0, rc = pic_errf(err, errsize, "no points (expected STEP:VALUE,...)");
    if (line) *line = rc ? at : 0;
    if (rc) pic_schedule_free(s);
    return rc;
}

int pic_schedule_parse(const char *spec, pic_schedule *s, char *err, size_t errsize) {
    return pic_schedule_parse_lines(spec, s, NULL, err, errsize);
}

void pic_schedule_constant(pic_schedule *s, double value) {
    s->n = 1;
    s->step = malloc(sizeof *s->step);
    s->value = malloc(sizeof *s->value);
    if (!s->step || !s->value) abort(); /* two words; not worth an error path */
    s->step[0] = 0;
    s->value[0] = value;
}

double pic_schedule_at(const pic_schedule *s, long long step) {
    if (step <= s->step[0]) return s->value[0];
    if (step >= s->step[s->n - 1]) return s->value[s->n - 1];
    /* Binary search for the segment [lo, lo+1] holding step. */
    size_t lo = 0, hi = s->n - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->step[mid] <= step) lo = mid;
        else hi = mid;
    }
    double f = (double)(step - s->step[lo]) / (double)(s->step[hi] - s->step[lo]);
    /* Written as a blend so that the end points are hit exactly. */
    return (1.0 - f) * s->value[lo] + f * s->value[hi];
}

void pic_schedule_free(pic_schedule *s) {
    free(s->step);
    free(s->value);
    memset(s, 0, sizeof *s);
}

int pic_ctl_step(const pic_ctl_params *p, pic_ctl_state *st, double entropy, pic_ctl_out *out) {
    pic_ctl_out o = {0};
    o.step = st->step;
    o.entropy = entropy;
    o.target = pic_schedule_at(p->target, st->step);
    o.error = entropy - o.target;
    o.p = p->kp * o.error;
    /* The integral term uses I_{t-1}: the official code computes alpha
     * before it adds the current error (the paper's appendix analyses the
     * other order; pic_paper_eigenvalues keeps that one for comparison). */
    o.i = p->ki * st->integral;
    /* Derivative on the measurement, not on the error, so that a step in the
     * target schedule does not kick alpha. */
    o.d = (p->kd != 0 && st->has_prev) ? p->kd * (entropy - st->prev_entropy) : 0.0;
    o.unclipped = o.p + o.i + o.d;
    if (!isfinite(entropy) || !isfinite(o.error) || !isfinite(o.unclipped)) return -1;
    o.saturated = o.unclipped > p->alpha_max || o.unclipped < p->alpha_min;
    o.alpha = o.unclipped > p->alpha_max   ? p->alpha_max
              : o.unclipped < p->alpha_min ? p->alpha_min
                                           : o.unclipped;
    /* Conditional integration: while the output is clipped, accumulating an
     * error that drives the integral term further into the clip only winds
     * up a debt the loop must pay back later as overshoot. Errors that pull
     * back out of the saturation are still integrated. */
    double push = p->ki * o.error;
    o.integrated = !(p->anti_windup && ((o.unclipped > p->alpha_max && push > 0) ||
                                        (o.unclipped < p->alpha_min && push < 0)));
    o.integral = o.integrated ? st->integral + o.error : st->integral;
    if (!isfinite(o.integral)) return -1;
    st->integral = o.integral;
    st->has_prev = true;
    st->prev_entropy = entropy;
    st->step++;
    *out = o;
    return 0;
}

/* ---- linear analysis ---- */

static pic_complex cx(double complex z) { return (pic_complex){creal(z), cimag(z)}; }

void pic_poly_roots(int deg, const double *c, pic_complex *roots) {
    if (deg == 1) {
        roots[0] = (pic_complex){-c[0], 0};
        return;
    }
    if (deg == 2) {
        double b = c[1], k = c[0], disc = b * b - 4 * k;
        if (disc >= 0) {
            /* The cancellation-free pair: q, then k/q by Vieta. */
            double q = -0.5 * (b + copysign(sqrt(disc), b));
            roots[0] = (pic_complex){q, 0};
            roots[1] = (pic_complex){q != 0 ? k / q : 0, 0};
        } else {
            double im = 0.5 * sqrt(-disc);
            roots[0] = (pic_complex){-0.5 * b, im};
            roots[1] = (pic_complex){-0.5 * b, -im};
        }
        return;
    }
    /* Degree 3: Durand-Kerner (all roots at once, no deflation), from the
     * customary non-real, non-symmetric starting points, then Newton
     * polishing of each root. Three roots make this cheap. */
    double complex z[3], p0 = 0.4 + 0.9 * I;
    double scale = 1 + fabs(c[0]) + fabs(c[1]) + fabs(c[2]);
    for (int k = 0; k < 3; k++) z[k] = scale * cpow(p0, k + 1);
    for (int it = 0; it < 2000; it++) {
        double moved = 0;
        for (int k = 0; k < 3; k++) {
            double complex num = ((z[k] + c[2]) * z[k] + c[1]) * z[k] + c[0], den = 1;
            for (int j = 0; j < 3; j++)
                if (j != k) den *= z[k] - z[j];
            if (den == 0) den = 1e-300;
            double complex dz = num / den;
            z[k] -= dz;
            if (cabs(dz) > moved) moved = cabs(dz);
        }
        if (moved < 1e-16 * scale) break;
    }
    for (int k = 0; k < 3; k++) {
        for (int it = 0; it < 8; it++) {
            double complex f = ((z[k] + c[2]) * z[k] + c[1]) * z[k] + c[0];
            double complex df = (3 * z[k] + 2 * c[2]) * z[k] + c[1];
            if (df == 0) break;
            z[k] -= f / df;
        }
        /* A real polynomial's real roots come out with a rounding-sized
         * imaginary part; report them as real. */
        if (fabs(cimag(z[k])) < 1e-12 * (1 + fabs(creal(z[k])))) z[k] = creal(z[k]);
        roots[k] = cx(z[k]);
    }
}

static double radius_of(int n, const pic_complex *ev) {
    double r = 0;
    for (int k = 0; k < n; k++) {
        double m = hypot(ev[k].re, ev[k].im);
        if (m > r) r = m;
    }
    return r;
}

int pic_loop_eigenvalues(double c0, double kp, double ki, double kd, pic_complex ev[3],
                         double *radius) {
    /* e_{k+1} = a*e_k + b*e_{k-1} + c*I_{k-1} (+ D), I_k = I_{k-1} + e_k, with
     * a = 1 - C0*(Kp+Kd), b = C0*Kd, c = -C0*Ki. States that a zero gain
     * disconnects are left out: they would add a root at 0 (e_{k-1}) or a
     * marginal root at 1 (an integral nobody reads), which says nothing about
     * the error. The characteristic polynomials follow from det(zI - A). */
    double a = 1 - c0 * (kp + kd), b = c0 * kd, c = -c0 * ki, coef[3];
    int deg;
    if (ki == 0 && kd == 0) {
        deg = 1;
        coef[0] = -a;
    } else if (ki == 0) {
        deg = 2; /* z^2 - a z - b */
        coef[1] = -a;
        coef[0] = -b;
    } else if (kd == 0) {
        deg = 2; /* z^2 - (1+a) z + (a - c) */
        coef[1] = -(1 + a);
        coef[0] = a - c;
    } else {
        deg = 3; /* z^3 - (1+a) z^2 + (a - b - c) z + b */
        coef[2] = -(1 + a);
        coef[1] = a - b - c;
        coef[0] = b;
    }
    pic_poly_roots(deg, coef, ev);
    *radius = radius_of(deg, ev);
    return deg;
}

int pic_paper_eigenvalues(double c0, double kp, double ki, pic_complex ev[2], double *radius) {
    /* For [[p, q], [p, r]]: trace p + r, determinant p*r - q*p. */
    double p = 1 - c0 * kp, q = -c0 * ki, r = 1 - c0 * ki;
    double coef[2] = {p * r - q * p, -(p + r)};
    pic_poly_roots(2, coef, ev);
    *radius = radius_of(2, ev);
    return 2;
}

bool pic_radius_stable(double radius) { return radius < 1 - 1e-9; }

double pic_steady_error(double c0, double kp, double ki, double drift) {
    /* At a fixed point e_{k+1} = e_k, so C0*alpha* = D. With an integral
     * term, I_k = I_{k-1} forces e* = 0; without one, alpha* = Kp*e*. */
    if (ki != 0) return 0.0;
    if (kp == 0) return NAN;
    return drift / (c0 * kp);
}
