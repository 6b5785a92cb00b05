/* Unit tests of the controller library (src/pictl/controller.c): the law in
 * the official code's order, clipping, anti-windup, the D term, target
 * schedules, polynomial roots and the closed-loop analysis. */
#include <math.h>
#include <string.h>

#include "../unit/check.h"
#include "pictl/controller.h"

static pic_ctl_params params(const pic_schedule *tgt) {
    return (pic_ctl_params){.kp = 1, .ki = 0.01, .kd = 0, .alpha_min = -1, .alpha_max = 1,
                            .anti_windup = false, .target = tgt};
}

static void test_example(void) {
    /* The example: target 0.1, entropies 0.2, 0.15, 0.05. By hand:
     * e = 0.1, 0.05, -0.05; alpha_0 = 0.1; alpha_1 = 0.05 + 0.01*0.1 = 0.051;
     * alpha_2 = -0.05 + 0.01*0.15 = -0.0485. */
    pic_schedule tgt;
    pic_schedule_constant(&tgt, 0.1);
    pic_ctl_params p = params(&tgt);
    pic_ctl_state st = {0};
    const double in[3] = {0.2, 0.15, 0.05}, want[3] = {0.1, 0.051, -0.0485};
    for (int k = 0; k < 3; k++) {
        pic_ctl_out o;
        CHECK(pic_ctl_step(&p, &st, in[k], &o) == 0, "example step %d runs", k);
        CHECK(fabs(o.alpha - want[k]) <= 1e-12, "example alpha_%d = %.17g (want %g)", k, o.alpha,
              want[k]);
        CHECK(o.step == k && !o.saturated && o.integrated, "example step %d bookkeeping", k);
    }
    CHECK(fabs(st.integral - 0.1) <= 1e-12, "integral after the example is 0.1 + 0.05 - 0.05");
    CHECK(st.step == 3, "three steps taken");
    pic_schedule_free(&tgt);
}

static void test_p_and_clip(void) {
    pic_schedule tgt;
    pic_schedule_constant(&tgt, 0.5);
    pic_ctl_params p = params(&tgt);
    p.ki = 0;
    p.kp = 2;
    pic_ctl_state st = {0};
    pic_ctl_out o;
    pic_ctl_step(&p, &st, 0.75, &o);
    CHECK(o.alpha == 0.5 && o.i == 0, "P controller: alpha = Kp*e");
    pic_ctl_step(&p, &st, 2.0, &o);
    CHECK(o.alpha == 1 && o.saturated && o.unclipped == 3, "clipped at alpha_max, saturated");
    p.alpha_min = -0.25;
    pic_ctl_step(&p, &st, 0.0, &o);
    CHECK(o.alpha == -0.25 && o.saturated, "clipped at a custom alpha_min");
    pic_ctl_step(&p, &st, 1.0, &o);
    CHECK(o.alpha == 1 && !o.saturated, "exactly at the limit is not saturated");
    CHECK(pic_ctl_step(&p, &st, INFINITY, &o) == -1 && st.step == 4,
          "a non-finite entropy is refused and the state is untouched");
    pic_schedule_free(&tgt);
}

static void test_anti_windup(void) {
    pic_schedule tgt;
    pic_schedule_constant(&tgt, 0);
    pic_ctl_params p = params(&tgt);
    p.kp = 1;
    p.ki = 0.5;
    pic_ctl_state a = {0}, b = {0};
    pic_ctl_out o;
    p.anti_windup = true;
    pic_ctl_step(&p, &a, 3, &o); /* saturated high, e > 0: not integrated */
    CHECK(o.saturated && !o.integrated && a.integral == 0, "anti-windup holds the integral");
    p.anti_windup = false;
    pic_ctl_step(&p, &b, 3, &o);
    CHECK(o.integrated && b.integral == 3, "without anti-windup (the paper) it accumulates");
    /* Saturated high by the integral but the error pulls back: integrate. */
    p.anti_windup = true;
    pic_ctl_state c = {.integral = 10};
    pic_ctl_step(&p, &c, -1, &o);
    CHECK(o.saturated && o.integrated && c.integral == 9,
          "anti-windup still integrates an error that unwinds the saturation");
    pic_ctl_state d = {.integral = -10};
    pic_ctl_step(&p, &d, -1, &o);
    CHECK(o.saturated && o.alpha == -1 && !o.integrated && d.integral == -10,
          "anti-windup holds at the low limit too");
    pic_schedule_free(&tgt);
}

static void test_kd(void) {
    pic_schedule tgt;
    pic_schedule_constant(&tgt, 0);
    pic_ctl_params p = params(&tgt);
    p.ki = 0;
    p.kd = 0.5;
    pic_ctl_state st = {0};
    pic_ctl_out o;
    pic_ctl_step(&p, &st, 0.2, &o);
    CHECK(o.d == 0 && o.alpha == 0.2, "no D term on the first step (no previous measurement)");
    pic_ctl_step(&p, &st, 0.6, &o);
    CHECK_NEAR(o.d, 0.2, 1e-15, "D term = Kd*(H_t - H_{t-1})");
    CHECK_NEAR(o.alpha, 0.8, 1e-15, "alpha = P + D");
    pic_schedule_free(&tgt);

    /* On the measurement: a jump of the target alone moves no D term. */
    pic_schedule sch;
    CHECK(pic_schedule_parse("0:0, 1:1", &sch, NULL, 0) == 0, "two-point schedule");
    p.target = &sch;
    pic_ctl_state s2 = {0};
    pic_ctl_step(&p, &s2, 0.5, &o);
    pic_ctl_step(&p, &s2, 0.5, &o);
    CHECK(o.d == 0 && o.target == 1 && o.alpha == -0.5, "target step: no derivative kick");
    pic_schedule_free(&sch);
}

static void test_schedule(void) {
    pic_schedule s;
    char err[256];
    CHECK(pic_schedule_parse("0:0.3,100:0.1, 200 : 0.2", &s, err, sizeof err) == 0,
          "parse a spec");
    CHECK(s.n == 3, "three points");
    CHECK(pic_schedule_at(&s, 0) == 0.3 && pic_schedule_at(&s, 100) == 0.1,
          "end points exact");
    CHECK_NEAR(pic_schedule_at(&s, 50), 0.2, 1e-15, "linear in between");
    CHECK_NEAR(pic_schedule_at(&s, 150), 0.15, 1e-15, "second segment");
    CHECK(pic_schedule_at(&s, 1000) == 0.2, "constant after the last point");
    pic_schedule_free(&s);
    CHECK(pic_schedule_parse("# warmup\n10 0.5\n20 0.25 # then\n\n", &s, err, sizeof err) == 0,
          "file form with comments and blank lines");
    CHECK(s.n == 2 && pic_schedule_at(&s, 0) == 0.5 && pic_schedule_at(&s, 15) == 0.375,
          "constant before the first point");
    pic_schedule_free(&s);
    const char *bad[] = {"", "# only a comment", "0:0.1,0:0.2", "5:1,3:1", "-1:0.1", "x:1",
                         "1:abc", "1:inf", "0.5:1", "0.3", "1:2:3", "0:0.5,", "0:0.5,,1:0.1", ";0:0.5",
                         "0 0.5\n1 0.2,\n", "0:0.5,9:-0.1"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        err[0] = 0;
        CHECK(pic_schedule_parse(bad[k], &s, err, sizeof err) == -1 && err[0],
              "reject '%s' (%s)", bad[k], err);
    }
    /* a file's errors name the line of the point at fault */
    const struct { const char *text; size_t line; } at[] = {
        {"0 0.5\n1 0.2,\n", 2}, {"# a\n\n0 0.5\n\n0 0.1\n", 5}, {"0 x", 1}, {"# none\n\n", 0}};
    for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
        size_t line = 99;
        int rc = pic_schedule_parse_lines(at[k].text, &s, &line, err, sizeof err);
        CHECK(rc == -1 && line == at[k].line, "error of case %zu on line %zu (got %zu: %s)", k, at[k].line, line, err);
    }
}

static int has_root(const pic_complex *r, int n, double re, double im) {
    for (int k = 0; k < n; k++)
        if (fabs(r[k].re - re) < 1e-9 && fabs(r[k].im - im) < 1e-9) return 1;
    return 0;
}

static void test_roots(void) {
    pic_complex r[3];
    double c1[1] = {-0.3};
    pic_poly_roots(1, c1, r);
    CHECK(r[0].re == 0.3 && r[0].im == 0, "linear root");
    double q[2] = {0.06, -0.5}; /* (z-0.2)(z-0.3) */
    pic_poly_roots(2, q, r);
    CHECK(has_root(r, 2, 0.2, 0) && has_root(r, 2, 0.3, 0), "real quadratic roots");
    double qc[2] = {0.25, 0}; /* z^2 + 0.25 */
    pic_poly_roots(2, qc, r);
    CHECK(has_root(r, 2, 0, 0.5) && has_root(r, 2, 0, -0.5), "complex pair");
    /* (z - 1)(z - 0.5)(z + 0.2) = z^3 - 1.3 z^2 + 0.2 z + 0.1 */
    double cu[3] = {0.1, 0.2, -1.3};
    pic_poly_roots(3, cu, r);
    CHECK(has_root(r, 3, 1, 0) && has_root(r, 3, 0.5, 0) && has_root(r, 3, -0.2, 0),
          "real cubic roots");
    /* (z - 0.9)(z^2 - z + 0.5): roots 0.9, 0.5 +- 0.5i */
    double cc[3] = {-0.45, 1.4, -1.9};
    pic_poly_roots(3, cc, r);
    CHECK(has_root(r, 3, 0.9, 0) && has_root(r, 3, 0.5, 0.5) && has_root(r, 3, 0.5, -0.5),
          "cubic with a complex pair");
    /* A double root converges too (slowly for Durand-Kerner; Newton helps). */
    double dd[3] = {-0.25 * 0.1, 0.25 + 2 * 0.5 * 0.1, -(1.0 + 0.1)}; /* (z-.5)^2 (z-.1) */
    pic_poly_roots(3, dd, r);
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        double complex_mod = hypot(r[k].re - 0.5, r[k].im);
        ok &= complex_mod < 1e-6 || hypot(r[k].re - 0.1, r[k].im) < 1e-9;
    }
    CHECK(ok, "double root found to 1e-6");
}

/* Runs the unsaturated loop H_{k+1} = H_k - C0*alpha_k + D and returns the
 * last error; *growth gets |e_N| / |e_{N-1}| style evidence via the maximum. */
static double run_loop(double c0, double kp, double ki, double kd, double drift, int steps,
                       double *maxabs) {
    pic_schedule tgt;
    pic_schedule_constant(&tgt, 0);
    pic_ctl_params p = {.kp = kp, .ki = ki, .kd = kd, .alpha_min = -1e300, .alpha_max = 1e300,
                        .target = &tgt};
    pic_ctl_state st = {0};
    double h = 0.5, last = 0;
    *maxabs = 0;
    for (int k = 0; k < steps; k++) {
        pic_ctl_out o;
        if (pic_ctl_step(&p, &st, h, &o)) break;
        last = o.error;
        if (fabs(last) > *maxabs) *maxabs = fabs(last);
        h = h - c0 * o.alpha + drift;
    }
    pic_schedule_free(&tgt);
    return last;
}

static void test_analysis(void) {
    pic_complex ev[3];
    double rad;
    int n = pic_loop_eigenvalues(0.5, 1, 0, 0, ev, &rad);
    CHECK(n == 1 && fabs(ev[0].re - 0.5) < 1e-15 && pic_radius_stable(rad), "P loop: 1 - C0*Kp");
    n = pic_loop_eigenvalues(2, 1.5, 0, 0, ev, &rad);
    CHECK(!pic_radius_stable(rad) && fabs(rad - 2) < 1e-12, "P loop unstable when C0*Kp > 2");
    /* C0*Kp = 2 exactly: the root -1, an error that flips sign forever and
     * never decays. On the unit circle is not stable (docs/pictl.md: a radius
     * below 1 - 1e-9), nor is a radius inside that margin. */
    n = pic_loop_eigenvalues(1, 2, 0, 0, ev, &rad);
    CHECK(n == 1 && rad == 1 && !pic_radius_stable(rad), "P loop with C0*Kp = 2 is marginal, not stable");
    CHECK(!pic_radius_stable(1 - 1e-10) && pic_radius_stable(1 - 1e-8), "stable means radius < 1 - 1e-9");

    /* The loop's eigenvalues are the decay rate the simulation shows. */
    n = pic_loop_eigenvalues(0.4, 1, 0.05, 0, ev, &rad);
    CHECK(n == 2 && pic_radius_stable(rad), "PI loop of the defaults is stable");
    double mx, last = run_loop(0.4, 1, 0.05, 0, 0, 400, &mx);
    CHECK(fabs(last) < 0.5 * pow(rad, 300), "the error decays at the spectral radius (%.3g)", rad);
    n = pic_loop_eigenvalues(0.4, 1, 0.05, 0.3, ev, &rad);
    CHECK(n == 3, "with Kd the loop has three states");
    last = run_loop(0.4, 1, 0.05, 0.3, 0, 400, &mx);
    CHECK(pic_radius_stable(rad) && fabs(last) < 0.5 * pow(rad, 300),
          "PID loop decays as its eigenvalues say");

    /* The paper's matrix, computed by hand for C0 = 0.5, Kp = 1, Ki = 0.01:
     * [[0.5, -0.005], [0.5, 0.995]]: trace 1.495, det 0.5, so
     * z = 0.7475 +- sqrt(0.7475^2 - 0.5) = 0.7475 +- 0.24237... */
    pic_paper_eigenvalues(0.5, 1, 0.01, ev, &rad);
    double s = sqrt(0.7475 * 0.7475 - 0.5);
    CHECK(has_root(ev, 2, 0.7475 + s, 0) && has_root(ev, 2, 0.7475 - s, 0),
          "paper eigenvalues by hand");

    /* Where the two orders disagree: C0 = 1, Kp = 0.1, Ki = 0.2. The paper's
     * matrix (integral including e_t) is stable; the official order is not,
     * and the simulated loop indeed grows. */
    double rp, rl;
    pic_paper_eigenvalues(1, 0.1, 0.2, ev, &rp);
    pic_loop_eigenvalues(1, 0.1, 0.2, 0, ev, &rl);
    CHECK(pic_radius_stable(rp) && !pic_radius_stable(rl), "paper stable (%.4f), loop not (%.4f)",
          rp, rl);
    run_loop(1, 0.1, 0.2, 0, 0, 400, &mx);
    CHECK(mx > 1e6, "and the simulated loop diverges");

    /* Theorems: P control settles at D/(C0*Kp), PI at zero. */
    double c0 = 0.5, kp = 0.8, drift = 0.01;
    CHECK_NEAR(pic_steady_error(c0, kp, 0, drift), drift / (c0 * kp), 1e-15, "predicted P error");
    CHECK(pic_steady_error(c0, kp, 0.01, drift) == 0, "predicted PI error");
    CHECK(isnan(pic_steady_error(c0, 0, 0, drift)), "no gain: no prediction");
    last = run_loop(c0, kp, 0, 0, drift, 500, &mx);
    CHECK(fabs(last - drift / (c0 * kp)) < 1e-9, "P loop settles at D/(C0*Kp): %.12g", last);
    last = run_loop(c0, kp, 0.05, 0, drift, 3000, &mx);
    CHECK(fabs(last) < 1e-9, "PI loop settles at 0: %.3g", last);
}

int main(void) {
    test_example();
    test_p_and_clip();
    test_anti_windup();
    test_kd();
    test_schedule();
    test_roots();
    test_analysis();
    return check_done();
}
