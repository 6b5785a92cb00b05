/* A tiny TAP harness for C unit tests, run through prove like the bats files.
 *
 *   CHECK(cond, "what");                 one test point
 *   CHECK_NEAR(got, want, rtol, "what");  relative error |g-w|/max(|w|,tiny)
 *   return check_done();                 prints the plan; exit 1 on failure
 */
#ifndef PIC_CHECK_H
#define PIC_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int check_n, check_failed;

static inline int check_point(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int check_point(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    check_n++;
    if (!ok) check_failed++;
    printf("%sok %d - ", ok ? "" : "not ", check_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!ok) printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
    return ok;
}

#define CHECK(cond, ...) check_point(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline double check_relerr(double got, double want) {
    double d = fabs(got - want), s = fabs(want);
    return d / (s > 1e-30 ? s : 1e-30);
}
#define CHECK_NEAR(got, want, rtol, ...)                                          \
    do {                                                                          \
        double g_ = (got), w_ = (want), e_ = check_relerr(g_, w_);                \
        if (!CHECK(e_ <= (rtol) || g_ == w_, __VA_ARGS__))                        \
            printf("#   got %.9g want %.9g relerr %.3g > %.3g\n", g_, w_, e_,     \
                   (double)(rtol));                                               \
    } while (0)

static inline int check_done(void) {
    printf("1..%d\n", check_n);
    return check_failed ? 1 : 0;
}

#endif
