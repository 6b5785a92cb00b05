/* One optimizer step of pic-update: forward passes over micro-batches,
 * the loss (loss.h) with its per-step plan, backward, global-norm clipping
 * and AdamW on the model's one parameter buffer.
 *
 * Micro-batches: the loss is a weighted sum over tokens whose weights are
 * fixed per step, so accumulating the micro-batches' gradients gives the
 * whole step's gradient. Where the weights depend on the current policy (the
 * EntroPIC high-probability count, the Clip-Cov / KL-Cov selections) or the
 * step needs its entropy before the loss (--alpha-cmd, DMMPT), a step of more
 * than one micro-batch first runs a forward-only pass over all of them: one
 * extra forward (about a third of a training pass) instead of a second
 * gradient buffer and a second backward, and exact. */
#ifndef PIC_UPDATE_TRAIN_H
#define PIC_UPDATE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "update/adamw.h"
#include "update/batch.h"
#include "update/coproc.h"
#include "update/loss.h"

typedef struct {
    pic_loss_cfg loss;
    pic_adamw_cfg opt;
    double max_grad_norm;  /* <= 0: no clipping */
    float temperature;
    size_t micro_tokens;   /* token budget of a micro-batch (prompt + response); 0: no split */
    bool aec;              /* Skywork-OR1's adaptive entropy coefficient */
    double aec_target, aec_delta, aec_max, aec_init;
    bool dmmpt;            /* UloRL's dynamic masking of well-mastered positive tokens */
    double dmmpt_target;   /* ... while the step's entropy is below this */
} pic_train_cfg;

typedef struct {
    pic_model *model;
    pic_model *ref;        /* reference model for the KL term, or NULL */
    pic_train_cfg cfg;
    float *grad, *m, *v;   /* the parameters' layout */
    pic_params gview;
    long step;             /* optimizer steps taken so far */
    double aec_coef;       /* c_k, the coefficient of the next step */
    double aec_entropy;    /* the entropy the last step measured; < 0: none yet */
    pic_coproc *alpha_cmd; /* or NULL */
} pic_trainer;

typedef struct {
    pic_loss_stats ls;
    double grad_norm, lr, alpha, entropy_coef;
    size_t n_seq, n_micro;
    bool prepass;
    bool mpt_masking;      /* DMMPT's mask was on this step */
} pic_step_stats;

void pic_trainer_init(pic_trainer *t, pic_model *m, const pic_train_cfg *c);
void pic_trainer_free(pic_trainer *t);
/* One optimizer step over samples s[0..n): gradients in t->grad (clipped),
 * then AdamW unless !apply. */
void pic_train_step(pic_trainer *t, const pic_sample *s, size_t n, bool apply, pic_step_stats *st);

#endif
