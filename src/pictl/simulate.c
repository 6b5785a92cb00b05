/* pictl simulate: the controller in closed loop against the paper's linear
 * entropy model H_{k+1} = H_k - C0*alpha_k + D (+ optional Gaussian noise),
 * with the linear stability analysis next to what actually happened. This is
 * how the paper's two theorems become testable: with a drift D, P control
 * settles at e* = D/(C0*Kp) and PI control at e* = 0. */
#include <math.h>
#include <stdint.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/rng.h"
#include "pictl/pictl.h"

/* splitmix64: tiny, seedable, and the same sequence on every platform, so a
 * noisy simulation is reproducible from its --seed. */
static uint64_t next_u64(uint64_t *s) { return pic_splitmix64(s); }

static double gaussian(uint64_t *s) {
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(next_u64(s) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double)(next_u64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static json_t *eigen_json(int n, const pic_complex *ev) {
    json_t *a = json_array();
    for (int k = 0; k < n; k++) {
        json_t *z = json_object();
        json_object_set_new(z, "re", json_real(ev[k].re));
        json_object_set_new(z, "im", json_real(ev[k].im));
        json_array_append_new(a, z);
    }
    return a;
}

static json_t *real_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

void pictl_simulate(const pic_ctl_params *p, const pictl_sim_opts *o) {
    pic_ctl_state st = {0};
    uint64_t rng = o->seed;
    double h = o->h0, max_abs = 0, final_error = NAN, final_alpha = NAN;
    long long saturated = 0, done = 0, diverged_at = -1;
    for (long long k = 0; k < o->steps; k++) {
        pic_ctl_out out;
        if (pic_ctl_step(p, &st, h, &out) != 0) {
            /* Only possible with huge clips: the loop ran away. */
            diverged_at = k;
            break;
        }
        if (!o->summary_only) pictl_print_json(&out, p->kd != 0); /* dies on a write error */
        final_error = out.error;
        final_alpha = out.alpha;
        if (fabs(out.error) > max_abs) max_abs = fabs(out.error);
        saturated += out.saturated;
        done++;
        h = h - o->c0 * out.alpha + o->drift;
        if (o->noise > 0) h += o->noise * gaussian(&rng);
        if (!isfinite(h)) {
            diverged_at = k + 1;
            break;
        }
    }

    pic_complex ev[3], pev[2];
    double rad, prad;
    int n = pic_loop_eigenvalues(o->c0, p->kp, p->ki, p->kd, ev, &rad);
    pic_paper_eigenvalues(o->c0, p->kp, p->ki, pev, &prad);
    double pred = pic_steady_error(o->c0, p->kp, p->ki, o->drift);
    bool stable = pic_radius_stable(rad), paper_stable = pic_radius_stable(prad);
    /* The linear analysis assumes a constant target; with a schedule the
     * prediction is about the last target, reached after the last point. */
    json_t *s = json_object();
    json_object_set_new(s, "summary", json_true());
    json_object_set_new(s, "steps", json_integer(done));
    json_object_set_new(s, "c0", json_real(o->c0));
    json_object_set_new(s, "drift", json_real(o->drift));
    json_object_set_new(s, "kp", json_real(p->kp));
    json_object_set_new(s, "ki", json_real(p->ki));
    json_object_set_new(s, "kd", json_real(p->kd));
    json_object_set_new(s, "eigenvalues", eigen_json(n, ev));
    json_object_set_new(s, "spectral_radius", json_real(rad));
    json_object_set_new(s, "stable", json_boolean(stable));
    json_object_set_new(s, "paper_eigenvalues", eigen_json(2, pev));
    json_object_set_new(s, "paper_spectral_radius", json_real(prad));
    json_object_set_new(s, "paper_stable", json_boolean(paper_stable));
    json_object_set_new(s, "steady_error_predicted", real_or_null(pred));
    json_object_set_new(s, "final_error", real_or_null(final_error));
    json_object_set_new(s, "final_alpha", real_or_null(final_alpha));
    json_object_set_new(s, "max_abs_error", json_real(max_abs));
    json_object_set_new(s, "saturated_steps", json_integer(saturated));
    json_object_set_new(s, "diverged_at", diverged_at >= 0 ? json_integer(diverged_at) : json_null());
    pic_print_json_line(s);
    pic_stdout_close();
    json_decref(s);

    pic_info("simulate: loop %s (spectral radius %.6g); paper's condition %s (%.6g)%s",
             stable ? "stable" : "NOT stable", rad, paper_stable ? "met" : "NOT met", prad,
             p->kd != 0 ? ", which ignores Kd" : "");
    if (isfinite(pred))
        pic_info("simulate: predicted steady-state error %.9g, final error %.9g after %lld steps%s",
                 pred, final_error, done, saturated ? " (some steps saturated)" : "");
    if (diverged_at >= 0) pic_info("simulate: diverged at step %lld", diverged_at);
}
