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
 * gradient buffer and a second backward, and exact.
 *
 * Across the ranks of a job (common/dist.h, docs/distributed.md): each rank
 * takes a contiguous, token-balanced share of the step's sequences; the
 * per-token log-probabilities and entropies the plan needs are gathered so
 * that every rank builds the whole step's plan, the statistics and the
 * gradient buffer are summed, and each rank keeps AdamW's moments of one
 * slice of the buffer only (ZeRO stage 1): it updates that slice of the
 * weights, and the slices are gathered back. The loss is the one-process
 * loss; the sums differ from its sums only in their order. */
#ifndef PIC_UPDATE_TRAIN_H
#define PIC_UPDATE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/dist_nccl.h"
#include "model/model.h"
#include "model/adamw.h"
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
    pic_device device;     /* CUDA: the state will live on the GPU (pic_trainer_to_device), and
                              the host never holds it; else the CPU */
} pic_train_cfg;

typedef struct {
    pic_model *model;
    pic_model *ref;        /* reference model for the KL term, or NULL */
    pic_train_cfg cfg;
    float *grad;           /* the parameters' layout (NULL for a GPU's state) */
    float *m, *v;          /* AdamW's moments of this rank's slice [own_lo, own_hi) of it (likewise) */
    size_t own_lo, own_hi;
    bool gpu;              /* the model and this state live on a GPU (pic_trainer_to_device); each
                              rank's GPU holds the moments and (bf16) master weights of its slice */
    pic_nccl *nccl;        /* GPUs of several ranks: NCCL sums their gradients (NULL: host memory does) */
    pic_params gview;
    long step;             /* optimizer steps taken so far */
    double aec_coef;       /* c_k, the coefficient of the next step */
    double aec_entropy;    /* the entropy the last step measured; < 0: none yet */
    pic_coproc *alpha_cmd; /* or NULL; on rank 0 only in a job of several ranks */
    bool ask_alpha;        /* every rank: alpha comes from rank 0's alpha_cmd */
    /* a stop signal (common/stop.h) gives up the step before it changes the
     * weights or AdamW's state: one rank (ranks might see the signal at
     * different micro-batches), and no optimizer step taken in the request yet */
    bool stoppable;
} pic_trainer;

typedef struct {
    pic_loss_stats ls;
    double grad_norm, lr, alpha, entropy_coef;
    size_t n_seq, n_micro;
    bool prepass;
    bool mpt_masking;      /* DMMPT's mask was on this step */
    /* max |logp - old_logp| over the step's response tokens (-1: no old
     * log-probs): 0 on a first step whose forward is the generator's
     * (docs/update.md, on-policy exactly) */
    double logp_diff_max;
    bool stopped;          /* given up on a stop signal (stoppable): nothing changed */
} pic_step_stats;

void pic_trainer_init(pic_trainer *t, pic_model *m, const pic_train_cfg *c);
void pic_trainer_free(pic_trainer *t);
/* Writing the state whole while the ranks keep it in slices (ZeRO-1): rank
 * 0 reads any part of an array through pic_trainer_read_any, which asks the
 * rank that keeps it, while each other rank answers in
 * pic_trainer_answer_reads until rank 0 calls pic_trainer_reads_done. So no
 * rank holds a whole array, only a writer's chunk (rank 0 gathering 7B's
 * moments whole took 61 GB of its host memory).
 * Whether array a is kept in slices: AdamW's moments and the summed
 * gradient across ranks, and on GPUs in bf16 the master weights too. */
bool pic_trainer_spread(const pic_trainer *t, pic_state_array a);
/* As pic_trainer_read, on rank 0, for any offset of array a. */
int pic_trainer_read_any(const pic_trainer *t, pic_state_array a, size_t offset, float *dst, size_t n,
                         pic_err *err);
void pic_trainer_answer_reads(const pic_trainer *t);
void pic_trainer_reads_done(void);
/* Takes a tensor's moment values x[0..n) at buffer offset off: the part of
 * them in this rank's slice (on a GPU, all of them, onto it). */
void pic_trainer_set_moment(pic_trainer *t, int which, size_t off, const float *x, size_t n);
/* Takes master weights x[0..n) at buffer offset off (on a GPU, with their
 * bf16 rounding into the weights the products read). */
void pic_trainer_set_master(pic_trainer *t, size_t off, const float *x, size_t n);
/* n values at offset of state array a into dst, from the host or the GPU;
 * on the CPU a moment's values must be in this rank's slice. Returns 0, or
 * -1 with a message. */
int pic_trainer_read(const pic_trainer *t, pic_state_array a, size_t offset, float *dst, size_t n, pic_err *err);
/* For a trainer made with cfg.device CUDA of a model's layout
 * (pic_model_layout): loads dir's weights onto the GPU of opts a tensor at
 * a time, and makes the training state there (docs/gpu.md: bf16 products
 * over fp32 master weights, gradient and moments; recompute keeps each
 * layer's input only), the master weights the checkpoint's exact values;
 * then pic_optstate_load puts the saved state there a tensor at a time.
 * The host never holds the weights whole. Returns 0, or -1 with a message. */
int pic_trainer_to_device(pic_trainer *t, const char *dir, const pic_model_opts *opts, bool recompute, pic_err *err);
/* One optimizer step over samples s[0..n) (every rank passes the same
 * ones): gradients in t->grad (clipped, the whole step's on every rank),
 * then AdamW unless !apply. A stoppable trainer told to stop gives it up
 * between micro-batches (st->stopped), its weights and state unchanged. */
void pic_train_step(pic_trainer *t, const pic_sample *s, size_t n, bool apply, pic_step_stats *st);
/* Optimizer step k of K over n samples takes samples [*first, *end): K
 * slices in stream order, as equal as can be. */
void pic_step_slice(size_t n, int k, int K, size_t *first, size_t *end);
/* Sizes the CPU arenas (the model's and the reference's) once for the
 * largest forward of the K steps pic_step_slice cuts from s[0..n): a fresh
 * process touches each page of them once, where growing step by step
 * would free the arena and fault a bigger one in again. */
void pic_trainer_reserve(pic_trainer *t, const pic_sample *s, size_t n, int K);

#endif
