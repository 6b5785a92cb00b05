/* AdamW and clipping (adamw.h). torch's single-tensor AdamW: p *= 1 - lr*wd;
 * m = lerp(m, g, 1 - b1); v = b2*v + (1 - b2)*g*g; p -= (lr / bc1) * m /
 * (sqrt(v) / sqrt(bc2) + eps). Every operation stays in float32 like torch's,
 * with the scalars (bias corrections, step size) in double as torch's Python
 * scalars are before they meet the tensors. */
#include "model/adamw.h"

#include <math.h>

void pic_adamw_defaults(pic_adamw_cfg *c) {
    *c = (pic_adamw_cfg){.lr = 1e-6, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
                         .sched = PIC_SCHED_CONSTANT, .warmup = 0, .total = 0, .min_lr_ratio = 0};
}

double pic_adamw_lr(const pic_adamw_cfg *c, long done) {
    if (c->warmup > 0 && done < c->warmup) return c->lr * (double)(done + 1) / (double)c->warmup;
    if (c->sched == PIC_SCHED_COSINE && c->total > c->warmup) {
        double p = (double)(done - c->warmup) / (double)(c->total - c->warmup);
        if (p > 1) p = 1;
        return c->lr * (c->min_lr_ratio + (1 - c->min_lr_ratio) * 0.5 * (1 + cos(M_PI * p)));
    }
    return c->lr;
}

void pic_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                    const pic_adamw_cfg *c, long t) {
    float decay = (float)(1.0 - lr * c->weight_decay);
    float w1 = (float)(1.0 - c->beta1), b2 = (float)c->beta2, w2 = (float)(1.0 - c->beta2);
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)c->eps;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        param[i] *= decay;
        m[i] += w1 * (g - m[i]); /* torch's lerp for weights < 0.5 */
        v[i] = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] += -step_size * (m[i] / denom);
    }
}

double pic_clip_grad_norm(float *g, size_t n, double max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    pic_scale_grad(g, n, norm, max_norm);
    return norm;
}

float pic_clip_coef(double norm, double max_norm) {
    if (max_norm <= 0) return 1;
    float coef = (float)(max_norm / (norm + 1e-6));
    return coef < 1 ? coef : 1;
}

void pic_scale_grad(float *g, size_t n, double norm, double max_norm) {
    float coef = pic_clip_coef(norm, max_norm);
    if (coef < 1)
        for (size_t i = 0; i < n; i++) g[i] *= coef;
}
