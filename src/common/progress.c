/* Progress lines on a terminal: rate and ETA, rewritten in place. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double pic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pic_progress_start(pic_progress *p, const char *unit) {
    p->on = !pic_quiet && isatty(STDERR_FILENO);
    p->start = p->last = pic_now();
    p->unit = unit;
}

static void format_duration(char *out, size_t size, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(out, size, "%ldm%02lds", t / 60, t % 60);
}

void pic_progress_update(pic_progress *p, double done, double total, const char *extra) {
    if (!p->on) return;
    double now = pic_now();
    if (now - p->last < 0.25 && !(total > 0 && done >= total)) return;
    p->last = now;
    double elapsed = now - p->start, rate = elapsed > 0 ? done / elapsed : 0;
    char eta[64] = "";
    if (total > 0 && rate > 0) {
        char d[32];
        format_duration(d, sizeof d, (total - done) / rate);
        snprintf(eta, sizeof eta, " ETA %s", d);
    }
    if (total > 0)
        fprintf(stderr, "\r\033[K%s: %.0f/%.0f %s (%.1f/s)%s%s%s", pic_prog, done, total, p->unit,
                rate, eta, extra ? " " : "", extra ? extra : "");
    else
        fprintf(stderr, "\r\033[K%s: %.0f %s (%.1f/s)%s%s", pic_prog, done, p->unit, rate,
                extra ? " " : "", extra ? extra : "");
    fflush(stderr);
}

void pic_progress_end(pic_progress *p) {
    if (p->on) fputs("\r\033[K", stderr);
    p->on = 0;
}
