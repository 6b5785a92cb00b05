/* An optimizer step (train.h). */
#include "update/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/dist.h"
#include "common/stop.h"
#include "model/backward.h"
#include "model/safetensors.h"
#include "model/cuda/entry.h"

/* Rank r's part [cut(r), cut(r + 1)) of n items split into R contiguous
 * slices as equal as can be. */
static size_t even_cut(size_t n, int r, int R) { return n * (size_t)r / (size_t)R; }

static float *zeros(size_t n) {
    float *p = n <= SIZE_MAX / sizeof *p ? pic_alloc_pages(n * sizeof *p) : NULL;
    if (!p) pic_die("out of memory for %zu floats of optimizer state", n);
    return memset(p, 0, n * sizeof *p);
}

void pic_trainer_init(pic_trainer *t, pic_model *m, const pic_train_cfg *c) {
    memset(t, 0, sizeof *t);
    t->model = m;
    t->cfg = *c;
    t->aec_coef = c->aec_init;
    t->aec_entropy = -1;
    size_t n = m->params.numel;
    int R = pic_dist_size(), me = pic_dist_rank();
    t->own_lo = even_cut(n, me, R), t->own_hi = even_cut(n, me + 1, R);
    pic_model_retain(m, true);
    if (c->device == PIC_DEVICE_CUDA) return; /* 12 bytes a parameter the host never holds (91 GB at 7B) */
    t->grad = zeros(n);
    t->m = zeros(t->own_hi - t->own_lo + 1);
    t->v = zeros(t->own_hi - t->own_lo + 1);
    pic_params_views(&t->gview, &m->cfg, t->grad);
}

/* In bf16, the master weights where the checkpoint's weights are not bf16
 * already: their exact values, a tensor at a time (bf16 ones are their
 * own master weights, which pic_train_init_cuda made). */
static int master_from_weights(pic_trainer *t, const char *dir, pic_err *err) {
    const pic_params *p = &t->model->params;
    pic_safetensors st;
    if (pic_st_open(&st, dir, err)) return -1;
    size_t most = 1;
    for (size_t i = 0; i < p->n_desc; i++) most = p->desc[i].numel > most ? p->desc[i].numel : most;
    float *stage = pic_malloc(most * sizeof *stage);
    int rc = 0;
    for (size_t i = 0; i < p->n_desc && !rc; i++) {
        const pic_st_tensor *x = pic_st_find(&st, p->desc[i].name);
        if (!x) {
            rc = pic_err_set(err, "%s: tensor '%s' is missing", dir, p->desc[i].name);
            break;
        }
        if (x->dtype == PIC_DT_BF16) continue;
        rc = pic_st_read_f32(x, stage, err) ||
             pic_train_state_put_cuda(t->model, PIC_STATE_MASTER, p->desc[i].offset, stage, x->numel, err);
    }
    free(stage);
    pic_st_close(&st);
    return rc ? -1 : 0;
}

int pic_trainer_to_device(pic_trainer *t, const char *dir, const pic_model_opts *opts, bool recompute, pic_err *err) {
    pic_model *m = t->model;
    if (t->cfg.device != PIC_DEVICE_CUDA || t->gpu || m->params.data || opts->device != PIC_DEVICE_CUDA)
        return pic_err_set(err, "pic_trainer_to_device: a trainer made for the GPU, of a model's layout, "
                                "onto a GPU, once");
    bool invariant = m->batch_invariant;
    pic_model_free(m); /* the layout, made again by the load */
    if (pic_model_load(m, dir, opts, err)) return -1;
    m->batch_invariant = invariant;
    t->gpu = true;
    /* ZeRO-1 as on the CPU: this rank's GPU keeps its slice's moments and
     * master weights (all of them with one rank) */
    if (pic_train_init_cuda(m, recompute, t->own_lo, t->own_hi, err)) return -1;
    if (pic_dist_size() > 1) {
        t->nccl = pic_nccl_init();
        const char *why = pic_nccl_why();
        /* (a build without CUDA, or PIC_NCCL=0: the road is known) */
        if (!t->nccl && pic_dist_rank() == 0 && strcmp(why, "PIC_NCCL=0") && strcmp(why, "this build has no CUDA"))
            pic_warn("no NCCL (%s): the ranks' gradients are summed through host memory, slower", why);
    }
    return m->dtype == PIC_DTYPE_BF16 ? master_from_weights(t, dir, err) : 0;
}

int pic_trainer_read(const pic_trainer *t, pic_state_array a, size_t offset, float *dst, size_t n, pic_err *err) {
    if (t->gpu) return pic_train_state_get_cuda(t->model, a, offset, dst, n, err);
    const float *src = NULL;
    if (a == PIC_STATE_MASTER) src = t->model->params.data + offset;
    if (a == PIC_STATE_GRAD) src = t->grad + offset;
    if (a == PIC_STATE_M || a == PIC_STATE_V) {
        if (offset < t->own_lo || offset + n > t->own_hi)
            return pic_err_set(err, "pic_trainer_read: moments [%zu, %zu) outside this rank's [%zu, %zu)", offset,
                               offset + n, t->own_lo, t->own_hi);
        src = (a == PIC_STATE_M ? t->m : t->v) + (offset - t->own_lo);
    }
    if (!src) return pic_err_set(err, "pic_trainer_read: no state array %d", (int)a);
    memcpy(dst, src, n * sizeof *dst);
    return 0;
}

void pic_trainer_free(pic_trainer *t) {
    pic_nccl_free(t->nccl);
    free(t->grad);
    free(t->m);
    free(t->v);
    pic_params_views_free(&t->gview);
    memset(t, 0, sizeof *t);
}

bool pic_trainer_spread(const pic_trainer *t, pic_state_array a) {
    return pic_dist_size() > 1 && (a == PIC_STATE_M || a == PIC_STATE_V || a == PIC_STATE_GRAD ||
                                   (a == PIC_STATE_MASTER && t->gpu && t->model->dtype == PIC_DTYPE_BF16));
}

/* Rank 0's request for n values of array a at offset, from the rank that
 * keeps them; a of READS_DONE ends the answers. */
enum { READS_DONE = -1 };
typedef struct {
    int64_t a;
    uint64_t offset, n;
} read_request;

int pic_trainer_read_any(const pic_trainer *t, pic_state_array a, size_t offset, float *dst, size_t n,
                         pic_err *err) {
    if (!pic_trainer_spread(t, a)) return pic_trainer_read(t, a, offset, dst, n, err);
    size_t N = t->model->params.numel;
    int R = pic_dist_size(), r = 0;
    while (n) {
        while (r + 1 < R && offset >= even_cut(N, r + 1, R)) r++;
        size_t hi = even_cut(N, r + 1, R), k = n < hi - offset ? n : hi - offset;
        if (!k)
            return pic_err_set(err, "pic_trainer_read_any: %zu values at %zu pass the %zu parameters", n, offset, N);
        if (r == 0) {
            if (pic_trainer_read(t, a, offset, dst, k, err)) return -1;
        } else {
            read_request q = {a, offset, k};
            pic_dist_send(&q, sizeof q, r);
            pic_dist_recv(dst, k * sizeof *dst, r);
        }
        offset += k, dst += k, n -= k;
    }
    return 0;
}

void pic_trainer_answer_reads(const pic_trainer *t) {
    float *buf = NULL;
    size_t cap = 0;
    for (;;) {
        read_request q;
        pic_dist_recv(&q, sizeof q, 0);
        if (q.a == READS_DONE) break;
        if (q.offset < t->own_lo || q.offset > t->own_hi || q.n > t->own_hi - q.offset)
            pic_die("rank %d: asked for %llu values at %llu, outside its slice [%zu, %zu)", pic_dist_rank(),
                    (unsigned long long)q.n, (unsigned long long)q.offset, t->own_lo, t->own_hi);
        if (q.n > cap) buf = pic_realloc(buf, (cap = q.n) * sizeof *buf);
        pic_err err;
        if (pic_trainer_read(t, (pic_state_array)q.a, q.offset, buf, q.n, &err)) pic_die("%s", err.msg);
        pic_dist_send(buf, q.n * sizeof *buf, 0);
    }
    free(buf);
}

void pic_trainer_reads_done(void) {
    read_request q = {READS_DONE, 0, 0};
    for (int r = 1; r < pic_dist_size(); r++) pic_dist_send(&q, sizeof q, r);
}

void pic_trainer_set_moment(pic_trainer *t, int which, size_t off, const float *x, size_t n) {
    if (t->gpu) {
        pic_err err;
        if (pic_train_state_put_cuda(t->model, which ? PIC_STATE_V : PIC_STATE_M, off, x, n, &err))
            pic_die("%s", err.msg);
        return;
    }
    size_t lo = off > t->own_lo ? off : t->own_lo, hi = off + n < t->own_hi ? off + n : t->own_hi;
    if (lo < hi) memcpy((which ? t->v : t->m) + (lo - t->own_lo), x + (lo - off), (hi - lo) * sizeof *x);
}

void pic_trainer_set_master(pic_trainer *t, size_t off, const float *x, size_t n) {
    pic_err err;
    if (!t->gpu)
        memcpy(t->model->params.data + off, x, n * sizeof *x);
    else if (pic_train_state_put_cuda(t->model, PIC_STATE_MASTER, off, x, n, &err))
        pic_die("%s", err.msg);
}

/* The step's token layout and a micro-batch's slice of it. */
typedef struct {
    const pic_sample *s;
    size_t n;
    size_t *seq_start;  /* [n + 1] response tokens before each sample */
    float *logp, *old, *adv, *ent, *ref;
    int32_t *tg;
} step_data;

typedef struct {
    size_t first, count; /* samples */
} micro;

/* Forward over samples [mb.first, +count): current logp and entropy of
 * their response tokens (and the reference's logp) into the step arrays. */
static void forward_micro(pic_trainer *t, step_data *d, micro mb, pic_batch *b, size_t **rows_out) {
    int *len = pic_malloc(mb.count * sizeof *len);
    size_t N = 0, nr = d->seq_start[mb.first + mb.count] - d->seq_start[mb.first];
    for (size_t i = 0; i < mb.count; i++) {
        const pic_sample *s = &d->s[mb.first + i];
        len[i] = s->n_prompt + s->n_resp;
        N += (size_t)len[i];
    }
    int32_t *toks = pic_malloc(N * sizeof *toks);
    size_t *rows = pic_malloc((nr + 1) * sizeof *rows), o = 0, r = 0;
    for (size_t i = 0; i < mb.count; i++) {
        const pic_sample *s = &d->s[mb.first + i];
        memcpy(toks + o, s->ids, (size_t)len[i] * sizeof *toks);
        for (int j = 0; j < s->n_resp; j++) rows[r++] = o + (size_t)s->n_prompt + (size_t)j - 1;
        o += (size_t)len[i];
    }
    *b = (pic_batch){(int)mb.count, len, toks, NULL};
    size_t t0 = d->seq_start[mb.first];
    pic_err err;
    float T = t->cfg.temperature;
    if (t->ref) {
        if (pic_forward(t->ref, NULL, b, PIC_LOGITS_NONE, NULL, &err)) pic_die("--ref: %s", err.msg);
        if (pic_forward_stats(t->ref, rows, nr, d->tg + t0, T, d->ref + t0, NULL, &err)) pic_die("--ref: %s", err.msg);
    }
    if (pic_forward(t->model, NULL, b, PIC_LOGITS_NONE, NULL, &err)) pic_die("%s", err.msg);
    if (pic_forward_stats(t->model, rows, nr, d->tg + t0, T, d->logp + t0, d->ent + t0, &err)) pic_die("%s", err.msg);
    *rows_out = rows;
}

static void free_batch(pic_batch *b, size_t *rows) {
    free((void *)b->len);
    free((void *)b->tokens);
    free(rows);
}

/* Greedy contiguous micro-batches within the token budget; a sample longer
 * than the budget is a micro-batch of its own. */
static micro *split(const pic_sample *s, size_t n, size_t budget, size_t *n_micro) {
    micro *m = pic_malloc((n + 1) * sizeof *m);
    size_t k = 0, tok = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(s[i].n_prompt + s[i].n_resp);
        if (k == 0 || (budget && tok + len > budget)) {
            m[k++] = (micro){i, 0};
            tok = 0;
        }
        m[k - 1].count++;
        tok += len;
    }
    *n_micro = k;
    return m;
}

static double token_mean(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return n ? s / (double)n : 0;
}

/* This rank's share of the step: samples [cut[me], cut[me + 1]), cut where
 * the running count of tokens (prompt and response, what a forward costs)
 * reaches r/R of the step's, so that each rank's work is about equal and the
 * split depends on nothing but the samples and R. */
static size_t *share_cuts(const pic_sample *s, size_t n, int R) {
    size_t total = 0, run = 0, i = 0;
    for (size_t k = 0; k < n; k++) total += (size_t)(s[k].n_prompt + s[k].n_resp);
    size_t *cut = pic_malloc(((size_t)R + 1) * sizeof *cut);
    cut[0] = 0;
    for (int r = 1; r < R; r++) {
        while (i < n && run * (size_t)R < total * (size_t)r) run += (size_t)(s[i].n_prompt + s[i].n_resp), i++;
        cut[r] = i;
    }
    cut[R] = n;
    return cut;
}

void pic_step_slice(size_t n, int k, int K, size_t *first, size_t *end) {
    *first = n * (size_t)k / (size_t)K;
    *end = n * (size_t)(k + 1) / (size_t)K;
}

void pic_trainer_reserve(pic_trainer *t, const pic_sample *s, size_t n, int K) {
    if (t->gpu) return;
    int R = pic_dist_size(), me = pic_dist_rank(), seqs = 0, ctx = 0;
    size_t tokens = 0;
    for (int k = 0; k < K; k++) {
        size_t a, e, n_micro;
        pic_step_slice(n, k, K, &a, &e);
        size_t *cut = share_cuts(s + a, e - a, R);
        const pic_sample *mine = s + a + cut[me];
        micro *mbs = split(mine, cut[me + 1] - cut[me], t->cfg.micro_tokens, &n_micro);
        for (size_t j = 0; j < n_micro; j++) {
            size_t tok = 0;
            for (size_t i = mbs[j].first; i < mbs[j].first + mbs[j].count; i++) {
                int len = mine[i].n_prompt + mine[i].n_resp;
                tok += (size_t)len;
                ctx = len > ctx ? len : ctx;
            }
            tokens = tok > tokens ? tok : tokens;
            seqs = (int)mbs[j].count > seqs ? (int)mbs[j].count : seqs;
        }
        free(mbs);
        free(cut);
    }
    if (!tokens) return;
    pic_model_reserve(t->model, tokens, seqs, ctx);
    if (t->ref) pic_model_reserve(t->ref, tokens, seqs, ctx);
}

/* The loss statistics of every rank summed, as doubles (counts are exact
 * there up to 2^53). */
static void sum_stats(pic_step_stats *st) {
    pic_loss_stats *l = &st->ls;
    double *d[] = {&l->loss, &l->pg_loss, &l->entropic, &l->entropy_bonus, &l->kl_loss, &l->entropy_sum,
                   &l->approx_kl_sum, &l->ratio_sum};
    size_t *z[] = {&l->tokens, &l->clipped, &l->clipped_low, &l->clipped_high, &l->dual_clipped, &l->hi,
                   &l->selected, &l->masked, &l->masked_mpt, &l->masked_quadrant, &st->n_micro};
    enum { ND = sizeof d / sizeof *d, NZ = sizeof z / sizeof *z };
    double v[ND + NZ + 1];
    for (int i = 0; i < ND; i++) v[i] = *d[i];
    for (int i = 0; i < NZ; i++) v[ND + i] = (double)*z[i];
    v[ND + NZ] = st->prepass;
    pic_dist_sum_double(v, ND + NZ + 1);
    for (int i = 0; i < ND; i++) *d[i] = v[i];
    for (int i = 0; i < NZ; i++) *z[i] = (size_t)v[ND + i];
    st->prepass = v[ND + NZ] > 0;
}

/* torch's clip_grad_norm_ over the whole buffer; across ranks, each sums
 * the squares of its own slice, the only part it holds summed, so that
 * every rank gets the same norm, and scales that slice. */
static double clip_grad(pic_trainer *t) {
    size_t n = t->model->params.numel, lo = t->own_lo, own = t->own_hi - t->own_lo;
    pic_err err;
    if (pic_dist_size() == 1) {
        if (!t->gpu) return pic_clip_grad_norm(t->grad, n, t->cfg.max_grad_norm);
        double norm;
        if (pic_clip_grad_norm_cuda(t->model, t->cfg.max_grad_norm, &norm, &err)) pic_die("%s", err.msg);
        return norm;
    }
    double ss = 0;
    if (!t->gpu)
        for (size_t i = lo; i < lo + own; i++) ss += (double)t->grad[i] * t->grad[i];
    else if (pic_grad_sumsq_cuda(t->model, &ss, &err))
        pic_die("%s", err.msg);
    pic_dist_sum_double(&ss, 1);
    double norm = sqrt(ss);
    if (!t->gpu)
        pic_scale_grad(t->grad + lo, own, norm, t->cfg.max_grad_norm);
    else if (pic_scale_grad_cuda(t->model, norm, t->cfg.max_grad_norm, &err))
        pic_die("%s", err.msg);
    return norm;
}

/* The sizes of the ranks' slices of n parameters. */
static size_t *slice_counts(size_t n) {
    int R = pic_dist_size();
    size_t *counts = pic_malloc((size_t)R * sizeof *counts);
    for (int r = 0; r < R; r++) counts[r] = even_cut(n, r + 1, R) - even_cut(n, r, R);
    return counts;
}

/* The step's gradient summed over the ranks, each rank's slice on that
 * rank (ZeRO-1 steps only the slice): a reduce-scatter, half the traffic
 * of an all-reduce. On the host by MPI; on the GPU by NCCL from device to
 * device, or without it through host memory a piece of one slice at a time
 * (64 MiB). */
static void sum_grad(pic_trainer *t) {
    pic_model *m = t->model;
    size_t n = m->params.numel, *counts = slice_counts(n), piece = (size_t)1 << 24;
    pic_err err;
    if (!t->gpu) {
        pic_dist_reduce_scatter_float(t->grad, counts);
    } else if (t->nccl) {
        float *grad = pic_train_array_cuda(m, PIC_STATE_GRAD, &err);
        if (!grad) pic_die("%s", err.msg);
        pic_nccl_reduce_scatter_float(t->nccl, grad, counts);
    } else {
        int R = pic_dist_size(), me = pic_dist_rank();
        float *stage = pic_malloc((n < piece ? n : piece) * sizeof *stage + 1);
        for (int r = 0; r < R; r++)
            for (size_t at = even_cut(n, r, R), hi = even_cut(n, r + 1, R); at < hi; at += piece) {
                size_t k = hi - at < piece ? hi - at : piece;
                if (pic_train_state_get_cuda(m, PIC_STATE_GRAD, at, stage, k, &err)) pic_die("%s", err.msg);
                pic_dist_reduce_float(stage, k, r);
                if (me == r && pic_train_state_put_cuda(m, PIC_STATE_GRAD, at, stage, k, &err))
                    pic_die("%s", err.msg);
            }
        free(stage);
    }
    free(counts);
}

/* Every rank's slice of the weights a GPU step changed to every rank, in
 * the storage type: by NCCL on the device, or through host memory a piece
 * of one rank's slice at a time (64 MiB). */
static void gather_weights_gpu(pic_trainer *t) {
    pic_model *m = t->model;
    int R = pic_dist_size(), me = pic_dist_rank();
    size_t n = m->params.numel, es = m->dtype == PIC_DTYPE_BF16 ? 2 : 4;
    pic_err err;
    if (t->nccl) {
        void *w = pic_model_weights_cuda(m, &err);
        if (!w) pic_die("%s", err.msg);
        size_t *bytes = slice_counts(n);
        for (int r = 0; r < R; r++) bytes[r] *= es;
        pic_nccl_allgather_bytes(t->nccl, w, bytes);
        free(bytes);
        return;
    }
    size_t piece = ((size_t)64 << 20) / es;
    void *stage = pic_malloc(piece * es);
    for (int r = 0; r < R; r++)
        for (size_t at = even_cut(n, r, R), hi = even_cut(n, r + 1, R); at < hi; at += piece) {
            size_t k = hi - at < piece ? hi - at : piece;
            if (me == r && pic_model_download_cuda(m, at, stage, k, &err)) pic_die("%s", err.msg);
            pic_dist_broadcast(stage, k * es, r);
            if (me != r && pic_model_upload_cuda(m, at, stage, k, &err)) pic_die("%s", err.msg);
        }
    free(stage);
}

/* AdamW on this rank's slice, then every rank's slice to every rank. */
static void apply_step(pic_trainer *t, double lr) {
    pic_params *p = &t->model->params;
    size_t lo = t->own_lo, hi = t->own_hi;
    pic_adamw_step(p->data + lo, t->grad + lo, t->m, t->v, hi - lo, lr, &t->cfg.opt, t->step);
    if (pic_dist_size() == 1) return;
    size_t *counts = slice_counts(p->numel);
    pic_dist_allgather_float(p->data, counts);
    free(counts);
}

/* pic-update --serve's stop (common/stop.h): a step may be given up until
 * it changes anything, when the trainer allows it (stoppable) */
static bool told_to_stop(const pic_trainer *t, pic_step_stats *st) {
    return st->stopped = t->stoppable && pic_stop_signal();
}

void pic_train_step(pic_trainer *t, const pic_sample *s, size_t n, bool apply, pic_step_stats *st) {
    memset(st, 0, sizeof *st);
    pic_model *m = t->model;
    size_t C = (size_t)m->cfg.hidden_size;
    int R = pic_dist_size(), me = pic_dist_rank();
    step_data d = {s, n, pic_malloc((n + 1) * sizeof(size_t)), 0, 0, 0, 0, 0, 0};
    d.seq_start[0] = 0;
    for (size_t i = 0; i < n; i++) d.seq_start[i + 1] = d.seq_start[i] + (size_t)s[i].n_resp;
    size_t nt = d.seq_start[n];
    float **arrs[5] = {&d.logp, &d.old, &d.adv, &d.ent, &d.ref};
    for (int i = 0; i < 5; i++) *arrs[i] = pic_calloc(nt + 1, sizeof(float));
    d.tg = pic_malloc((nt + 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < s[i].n_resp; j++) {
            size_t k = d.seq_start[i] + (size_t)j;
            d.old[k] = s[i].old_logp ? s[i].old_logp[j] : 0;
            d.adv[k] = (float)s[i].adv;
            d.tg[k] = s[i].ids[s[i].n_prompt + j];
        }

    pic_loss_cfg lc = t->cfg.loss;
    lc.step = (uint64_t)t->step; /* Clip-Cov's draw: each optimizer step its own */
    size_t *cut = share_cuts(s, n, R), n_micro;
    micro *mbs = split(s + cut[me], cut[me + 1] - cut[me], t->cfg.micro_tokens, &n_micro);
    for (size_t k = 0; k < n_micro; k++) mbs[k].first += cut[me];
    bool ask_alpha = t->ask_alpha || t->alpha_cmd;
    bool needs_now = pic_loss_needs_logp(&lc) || ask_alpha || t->cfg.dmmpt;
    st->prepass = n_micro > 1 && needs_now;
    st->n_micro = n_micro, st->n_seq = n;
    pic_batch b;
    size_t *rows;
    float *dlogp = NULL, *dent = NULL;
    if (st->prepass)
        for (size_t k = 0; k < n_micro; k++) {
            if (told_to_stop(t, st)) goto done;
            forward_micro(t, &d, mbs[k], &b, &rows);
            free_batch(&b, rows);
        }
    else if (n_micro == 1)
        forward_micro(t, &d, mbs[0], &b, &rows);
    /* the plan of a step split across ranks needs every rank's tokens */
    if (R > 1 && needs_now) {
        size_t *counts = pic_malloc((size_t)R * sizeof *counts);
        for (int r = 0; r < R; r++) counts[r] = d.seq_start[cut[r + 1]] - d.seq_start[cut[r]];
        pic_dist_allgather_float(d.logp, counts);
        pic_dist_allgather_float(d.ent, counts);
        free(counts);
    }

    /* what the whole step decides before its loss: alpha, the DMMPT mask,
     * the plan; the entropy known here is this forward's */
    bool known = R > 1 ? needs_now : st->prepass || n_micro == 1;
    if (known && ask_alpha) {
        /* one co-process for the job, on rank 0. A step without a response
         * token measures no entropy and has no token for the term to weight:
         * the controller is not asked (token_mean's 0 would enter its
         * integral as an error of -target) and alpha is 0. nt counts every
         * rank's tokens, so all ranks agree. */
        double alpha = 0;
        if (nt > 0) {
            alpha = me == 0 ? pic_coproc_ask(t->alpha_cmd, token_mean(d.ent, nt)) : 0;
            pic_dist_broadcast(&alpha, sizeof alpha, 0);
        }
        /* the controller went with a stop signal (scancel's SIGTERM reaches
         * the whole group): the step is given up, or cannot go on */
        if (isnan(alpha) && told_to_stop(t, st)) goto done;
        if (isnan(alpha))
            pic_die("--alpha-cmd: the controller ended with the stop signal, in a step that cannot be given up "
                    "(past its first optimizer step, or a job of several ranks)");
        lc.alpha = alpha;
    }
    if (known && t->cfg.dmmpt) lc.mask_mpt = token_mean(d.ent, nt) < t->cfg.dmmpt_target;
    /* AEC (Skywork-OR1): the bonus c_k is on while the entropy the previous
     * step measured is at or below the target (off before any measurement);
     * c_k then moves by delta toward the target, within [0, max] */
    if (t->cfg.aec)
        lc.entropy_coef = t->aec_entropy >= 0 && t->aec_entropy <= t->cfg.aec_target ? t->aec_coef : 0;
    st->alpha = lc.alpha, st->entropy_coef = lc.entropy_coef, st->mpt_masking = lc.mask_mpt;
    pic_loss_plan plan;
    pic_loss_plan_build(&plan, &lc, n, d.seq_start, known ? d.logp : NULL, d.old, d.adv);

    pic_err err;
    if (!t->gpu) memset(t->grad, 0, m->params.numel * sizeof(float));
    else if (pic_grad_zero_cuda(m, &err)) pic_die("%s", err.msg);
    dlogp = pic_malloc((nt + 1) * sizeof(float)), dent = pic_malloc((nt + 1) * sizeof(float));
    bool need_dent = lc.entropy_coef != 0;
    for (size_t k = 0; k < n_micro; k++) {
        /* (one micro-batch: its forward is done, and it is the step) */
        if (n_micro > 1 && told_to_stop(t, st)) break;
        if (n_micro > 1) forward_micro(t, &d, mbs[k], &b, &rows);
        size_t t0 = d.seq_start[mbs[k].first], t1 = d.seq_start[mbs[k].first + mbs[k].count];
        pic_loss_in in = {d.logp, lc.kind == PIC_PG_SFT ? NULL : d.old, d.adv, d.ent, t->ref ? d.ref : NULL};
        pic_loss_eval(&plan, &lc, &in, t0, t1, dlogp, dent, &st->ls);
        size_t N = m->n_tokens;
        float *dlnf = t->gpu ? NULL : m->acts.dlnf; /* a GPU keeps its own */
        if (dlnf) memset(dlnf, 0, N * C * sizeof(float));
        pic_head_backward(m, rows, t1 - t0, d.tg + t0, t->cfg.temperature, dlogp + t0, need_dent ? dent + t0 : NULL,
                          dlnf, t->gpu ? NULL : &t->gview);
        pic_backward(m, &b, dlnf, t->gpu ? NULL : &t->gview);
        free_batch(&b, rows);
    }
    pic_loss_plan_free(&plan);
    /* the last moment before the step changes the trainer's state (AEC's
     * coefficient first, then the weights) */
    if (st->stopped || told_to_stop(t, st)) goto done;
    /* this rank's tokens; the job's maximum across ranks */
    st->logp_diff_max = -1;
    for (size_t k = d.seq_start[cut[me]]; k < d.seq_start[cut[me + 1]] && lc.kind != PIC_PG_SFT; k++)
        if (fabs((double)d.logp[k] - d.old[k]) > st->logp_diff_max) st->logp_diff_max = fabs((double)d.logp[k] - d.old[k]);
    if (R > 1) {
        sum_grad(t); /* the step's one large collective but the weights' gather */
        sum_stats(st);
        float *each = pic_malloc((size_t)R * sizeof *each);
        size_t *ones = pic_malloc((size_t)R * sizeof *ones);
        for (int r = 0; r < R; r++) ones[r] = 1;
        each[me] = (float)st->logp_diff_max;
        pic_dist_allgather_float(each, ones);
        for (int r = 0; r < R; r++)
            if (each[r] > st->logp_diff_max) st->logp_diff_max = each[r];
        free(each), free(ones);
    }
    st->grad_norm = clip_grad(t);
    st->lr = pic_adamw_lr(&t->cfg.opt, t->step);
    /* before AEC's coefficient moves: a step that dies here leaves the
     * trainer's state as it was, which --serve then writes with its last
     * checkpoint (the coefficient and entropy of a step never taken) */
    if (apply && !isfinite(st->grad_norm)) pic_die("the gradient is not finite (norm %g); no step taken", st->grad_norm);
    /* a step without a response token measures no entropy: c_k and the last
     * measurement stay, as pictl's controller holds (an entropy of 0 would
     * read as a collapse, raising c and turning the bonus on) */
    if (t->cfg.aec && st->ls.tokens) {
        double H = st->ls.entropy_sum / (double)st->ls.tokens, tg = t->cfg.aec_target;
        double c = t->aec_coef + (H < tg ? t->cfg.aec_delta : H > tg ? -t->cfg.aec_delta : 0);
        /* as optimizer.safetensors holds them (f32): the next step is the same
         * whether it reads them back from a checkpoint or finds them here
         * (pic-update --serve, or the next of --mini-batches) */
        t->aec_coef = (float)(c < 0 ? 0 : c > t->cfg.aec_max ? t->cfg.aec_max : c);
        t->aec_entropy = (float)H;
    }
    if (apply) {
        t->step++;
        const pic_adamw_cfg *o = &t->cfg.opt;
        if (!t->gpu)
            apply_step(t, st->lr);
        else if (pic_adamw_step_cuda(m, st->lr, o->beta1, o->beta2, o->eps, o->weight_decay, t->step, &err))
            pic_die("%s", err.msg);
        if (t->gpu && R > 1) gather_weights_gpu(t);
    }
done:
    free(dlogp);
    free(dent);
    free(mbs);
    free(cut);
    for (int i = 0; i < 5; i++) free(*arrs[i]);
    free(d.tg);
    free(d.seq_start);
}
