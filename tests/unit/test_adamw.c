/* The learning-rate schedule and the gradient clipping of src/model/adamw.c
 * against their documented formulas (docs/update.md, Optimizer): the
 * warm-up lr (d+1)/N, the cosine lr (r + (1 - r)(1 + cos(pi p))/2) with p
 * = (d - N)/(T - N) held at r lr from d = T on, and torch's
 * clip_grad_norm_ (coef max_norm / (norm + 1e-6), applied when below 1),
 * with --max-grad-norm 0 meaning no clipping. AdamW's step itself is
 * against golden's in test_backward.
 *
 * The warm-up differs from transformers' (optimization.py,
 * _get_cosine_schedule_with_warmup_lr_lambda: d / max(1, N)), whose first
 * step has the rate 0, a step that moves nothing; and past T theirs rises
 * again along the cosine, where this one stays at the floor, as the docs
 * say. */
#include <math.h>

#include "check.h"
#include "model/adamw.h"

static void check_schedule(void) {
    pic_adamw_cfg c;
    pic_adamw_defaults(&c);
    CHECK(pic_adamw_lr(&c, 0) == 1e-6 && pic_adamw_lr(&c, 1000) == 1e-6, "constant: lr at every step");

    /* docs/update.md: --warmup 4 gives 2.5e-7, 5e-7, 7.5e-7, 1e-6, then lr */
    c.warmup = 4;
    for (long d = 0; d < 6; d++) {
        double want = 1e-6 * (double)(d < 4 ? d + 1 : 4) / 4;
        CHECK(fabs(pic_adamw_lr(&c, d) - want) <= 1e-21, "warm-up 4: step d = %ld has lr %.9g (%.9g)", d,
              want, pic_adamw_lr(&c, d));
    }

    /* docs/update.md: --lr 1e-3 --schedule cosine --total-steps 4
     * --min-lr-ratio 0.1 gives 1e-3, 8.68e-4, 5.5e-4, 2.32e-4, then 1e-4 */
    pic_adamw_defaults(&c);
    c.lr = 1e-3, c.sched = PIC_SCHED_COSINE, c.total = 4, c.min_lr_ratio = 0.1;
    const double want[8] = {1e-3, 8.68198e-4, 5.5e-4, 2.31802e-4, 1e-4, 1e-4, 1e-4, 1e-4};
    for (long d = 0; d < 8; d++)
        CHECK(fabs(pic_adamw_lr(&c, d) - want[d]) <= 1e-9, "cosine: step d = %ld has lr %.9g (%.9g)", d, want[d],
              pic_adamw_lr(&c, d));

    /* warm-up then cosine: p counts from the end of the warm-up */
    c.warmup = 2, c.total = 6, c.min_lr_ratio = 0;
    CHECK(fabs(pic_adamw_lr(&c, 0) - 5e-4) <= 1e-15 && fabs(pic_adamw_lr(&c, 2) - 1e-3) <= 1e-15 &&
              fabs(pic_adamw_lr(&c, 4) - 5e-4) <= 1e-15 && pic_adamw_lr(&c, 6) < 1e-18 && pic_adamw_lr(&c, 9) < 1e-18,
          "warm-up 2 then cosine to 6: lr/2, lr, lr/2 at p = 1/2, 0 from 6 on");
}

static void check_clip(void) {
    /* norm 5: scaled by (float)(1 / (5 + 1e-6)), torch's clip_coef */
    float g[2] = {3, 4};
    double norm = pic_clip_grad_norm(g, 2, 1.0);
    float coef = (float)(1.0 / (5.0 + 1e-6));
    CHECK(norm == 5 && g[0] == 3 * coef && g[1] == 4 * coef, "clipped by max_norm / (norm + 1e-6) (%.9g %.9g)",
          g[0], g[1]);
    /* below max_norm: untouched */
    float s[2] = {0.3f, 0.4f};
    pic_clip_grad_norm(s, 2, 1.0);
    CHECK(s[0] == 0.3f && s[1] == 0.4f, "a norm below max_norm is not scaled");
    /* --max-grad-norm 0: no clipping (torch's clip_grad_norm_ would zero it) */
    float z[2] = {3, 4};
    norm = pic_clip_grad_norm(z, 2, 0);
    CHECK(norm == 5 && z[0] == 3 && z[1] == 4, "max_norm 0: the norm, and no clipping (%.9g %.9g)", z[0], z[1]);
    pic_scale_grad(z, 2, 5, -1);
    CHECK(z[0] == 3 && z[1] == 4, "max_norm < 0: no clipping");
    /* the factor both backends scale by */
    CHECK(pic_clip_coef(5, 1) == coef && pic_clip_coef(0.5, 1) == 1 && pic_clip_coef(5, 0) == 1 &&
              pic_clip_coef(5, -1) == 1,
          "pic_clip_coef: max_norm / (norm + 1e-6) as a float below 1, else 1 (%.9g)", pic_clip_coef(5, 1));
    /* a norm equal to max_norm is still scaled, by 1/(1 + 1e-6) as a float, as torch's
     * clip_grad_norm_ does (its clamp to 1 leaves the factor below 1) */
    CHECK(pic_clip_coef(1, 1) == (float)(1 / (1 + 1e-6)) && pic_clip_coef(1, 1) < 1,
          "norm == max_norm: factor 1/(1 + 1e-6) (%.9g)", pic_clip_coef(1, 1));
}

int main(void) {
    check_schedule();
    check_clip();
    return check_done();
}
