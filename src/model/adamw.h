/* AdamW as torch.optim.AdamW computes it (decoupled weight decay applied to
 * every parameter, bias-corrected moments, eps added after the square root),
 * in float32 and in torch's order of operations so that one step matches
 * the reference to rounding; the learning-rate schedule by optimizer step;
 * and torch.nn.utils.clip_grad_norm_'s global-norm clipping. */
#ifndef PIC_MODEL_ADAMW_H
#define PIC_MODEL_ADAMW_H

#include <stddef.h>

typedef enum { PIC_SCHED_CONSTANT, PIC_SCHED_COSINE } pic_sched_kind;

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    pic_sched_kind sched;
    long warmup;      /* steps of linear warm-up from lr/warmup to lr */
    long total;       /* cosine: the step at which lr reaches min_lr_ratio * lr */
    double min_lr_ratio;
} pic_adamw_cfg;

void pic_adamw_defaults(pic_adamw_cfg *c);

/* The learning rate of the optimizer step that follows `done` steps. */
double pic_adamw_lr(const pic_adamw_cfg *c, long done);

/* One step, t the 1-based count of steps including this one. */
void pic_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                    const pic_adamw_cfg *c, long t);

/* The global L2 norm of g (accumulated in double); scales g by
 * max_norm / (norm + 1e-6) when that is below 1 (max_norm <= 0: never). */
double pic_clip_grad_norm(float *g, size_t n, double max_norm);
/* The scaling of pic_clip_grad_norm for a norm found elsewhere (the sum of
 * the ranks' slices). */
void pic_scale_grad(float *g, size_t n, double norm, double max_norm);
/* The factor pic_scale_grad multiplies by, rounded to float as torch's
 * clip_coef is a float tensor; 1 when nothing is scaled. The CUDA twin
 * takes it from here so that both backends clip alike. */
float pic_clip_coef(double norm, double max_norm);

#endif
