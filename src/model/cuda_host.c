/* A stand-in for the CUDA backend made of the CPU's layers (make
 * CUDA=host), so that the programs' GPU paths run on a machine without a
 * GPU: what the programs move to the device and back, when, and in what
 * order (pic-update's trainer made for the GPU, its state put and read a
 * tensor at a time, the arena sized once, the checkpoints written from the
 * device; pic-rollout's cache pages, uniforms drawn before the pass, rows
 * handed to the sampler a block at a time).
 * Not an emulator of the GPU's arithmetic: its "device" is host memory and
 * its kernels are the CPU's, so in f32 a run equals the CPU's bit for bit,
 * and in bf16 the weights the forward reads are the fp32 master weights'
 * bf16 rounding, as on the GPU. Its KV cache is the CPU's layout in host
 * memory, and src/rollout/cuda_host.c is the device sampler's stand-in.
 * tests/host_cuda.bats runs pic-update and pic-rollout built with it. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/adamw.h"
#include "model/backward.h"
#include "model/cuda/entry.h"
#include "model/kvcache.h"
#include "model/safetensors.h"

/* The "device" of a model: a CPU model over its weights, and for training
 * the state the GPU would hold. */
struct pic_cuda_model {
    pic_model cpu;       /* the weights as the device's products read them */
    size_t max_tokens;   /* the arena's */
    bool for_training;
    bool trains;         /* the training state exists (pic_train_init_cuda) */
    bool recompute;
    bool cached;         /* the last forward went through a KV cache */
    size_t lo, hi;       /* the slice whose moments and (bf16) master weights it keeps */
    float *master;       /* bf16: the slice's fp32 master weights; f32: the weights themselves */
    float *grad, *m, *v; /* m, v: the slice's */
    pic_params gview;    /* views of grad */
    float *dlnf;         /* [max_tokens, C]: the head's gradient, zero between backwards */
};

bool pic_cuda_visible(void) { return true; }

/* The device's weights from floats: in bf16, their rounding. */
static void store(pic_model *m, size_t offset, const float *x, size_t n) {
    float *w = m->cuda->cpu.params.data + offset;
    for (size_t i = 0; i < n; i++) w[i] = m->dtype == PIC_DTYPE_BF16 ? pic_bf16_to_f32(pic_f32_to_bf16(x[i])) : x[i];
}

static int make(pic_model *m, size_t max_batch_tokens, bool training) {
    pic_cuda_model *cm = pic_calloc(1, sizeof *cm);
    pic_model_init(&cm->cpu, &m->cfg);
    cm->max_tokens = max_batch_tokens;
    cm->for_training = training;
    m->cuda = cm;
    return 0;
}

int pic_model_load_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    if (!m->params.data) return pic_err_set(err, "pic_model_load_cuda: the model has no host weights");
    make(m, max_batch_tokens, training);
    store(m, 0, m->params.data, m->params.numel);
    return 0;
}

int pic_model_random_cuda(pic_model *m, size_t max_batch_tokens, bool training, uint64_t seed, float std,
                          pic_err *err) {
    if (m->params.data) return pic_err_set(err, "pic_model_random_cuda: the model has host weights");
    make(m, max_batch_tokens, training);
    pic_params_init_random(&m->cuda->cpu.params, seed, std);
    store(m, 0, m->cuda->cpu.params.data, m->params.numel);
    return 0;
}

int pic_model_alloc_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    if (m->params.data) return pic_err_set(err, "pic_model_alloc_cuda: the model has host weights");
    return make(m, max_batch_tokens, training);
}

int pic_model_upload_cuda(pic_model *m, size_t offset, const void *src, size_t n, pic_err *err) {
    if (!m->cuda || offset + n > m->params.numel)
        return pic_err_set(err, "pic_model_upload_cuda: %zu values at %zu pass the %zu parameters", n, offset,
                           m->params.numel);
    float *w = m->cuda->cpu.params.data + offset;
    if (m->dtype == PIC_DTYPE_BF16)
        for (size_t i = 0; i < n; i++) w[i] = pic_bf16_to_f32(((const uint16_t *)src)[i]);
    else
        memcpy(w, src, n * sizeof *w);
    return 0;
}

int pic_model_download_cuda(pic_model *m, size_t offset, void *dst, size_t n, pic_err *err) {
    if (!m->cuda || offset + n > m->params.numel)
        return pic_err_set(err, "pic_model_download_cuda: %zu values at %zu pass the %zu parameters", n, offset,
                           m->params.numel);
    const float *w = m->cuda->cpu.params.data + offset;
    if (m->dtype == PIC_DTYPE_BF16) /* exact: the weights are bf16 roundings */
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = pic_f32_to_bf16(w[i]);
    else
        memcpy(dst, w, n * sizeof *w);
    return 0;
}

/* The stand-in's weights are floats whatever the dtype: no device address
 * of the storage type to hand out (its programs sum through host memory). */
void *pic_model_weights_cuda(pic_model *m, pic_err *err) {
    (void)m;
    pic_err_set(err, "pic_model_weights_cuda: the host stand-in has no device weights");
    return NULL;
}

void pic_model_free_cuda(pic_model *m) {
    pic_cuda_model *cm = m->cuda;
    if (!cm) return;
    if (cm->master != cm->cpu.params.data) free(cm->master);
    free(cm->grad), free(cm->m), free(cm->v), free(cm->dlnf);
    pic_params_views_free(&cm->gview);
    pic_model_free(&cm->cpu);
    free(cm);
    m->cuda = NULL;
}

int pic_forward_check_cuda(const pic_model *m, size_t N, pic_err *err) {
    if (N > m->cuda->max_tokens)
        return pic_err_set(err, "a batch of %zu tokens is more than the GPU's arena holds (%zu): raise --max-batch-tokens",
                           N, m->cuda->max_tokens);
    if (m->cuda->for_training && !m->cuda->trains)
        return pic_err_set(err, "pic_forward_cuda: a model loaded for training has no training state yet "
                                "(pic_train_init_cuda): its arena holds no activations");
    return 0;
}

/* The rows of a head block (PIC_CUDA_HEAD_ROWS, as the GPU's test knob):
 * a few, so that a small vocabulary's rows still come in several blocks. */
static size_t head_rows(void) {
    const char *e = getenv("PIC_CUDA_HEAD_ROWS");
    return e && atol(e) > 0 ? (size_t)atol(e) : 3;
}

/* The CPU forward of the device's model through the device's cache (the
 * same pages, in the CPU's layout: pic_kvcache_alloc_cuda below), with
 * fn given the wanted rows' logits a block at a time, as the GPU's head
 * gives them. */
int pic_forward_cuda(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_logits which, float *logits,
                     pic_head_fn fn, void *ctx, pic_err *err) {
    if (pic_forward_check_cuda(m, N, err)) return -1;
    pic_cuda_model *cm = m->cuda;
    cm->cpu.batch_invariant = m->batch_invariant;
    cm->cached = kv != NULL;
    size_t rows = which == PIC_LOGITS_ALL ? N : which == PIC_LOGITS_LAST ? (size_t)b->n_seq : 0, V = m->cfg.vocab_size;
    float *z = fn && rows ? pic_malloc(rows * V * sizeof *z) : NULL;
    void *dev_k = kv ? kv->dev_k : NULL;
    if (kv) kv->dev_k = NULL; /* a CPU cache to the CPU's forward, for the call */
    int rc = pic_forward(&cm->cpu, kv, b, which, fn ? z : logits, err);
    if (kv) kv->dev_k = dev_k;
    m->n_tokens = cm->cpu.n_tokens;
    for (size_t i = 0, k, block = head_rows(); !rc && fn && i < rows; i += k) {
        k = rows - i < block ? rows - i : block;
        rc = fn(ctx, i, k, z + i * V, NULL, err);
    }
    free(z);
    return rc;
}

int pic_forward_stats_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           float *logp, float *ent, pic_err *err) {
    return pic_forward_stats(&m->cuda->cpu, rows, n, targets, T, logp, ent, err);
}

/* The device's pool is the CPU's layout in host floats (whatever the
 * dtype), so that the CPU forward reads and writes it; dev_k marks it as
 * the device's, and pic_kvcache_free frees k and v. */
int pic_kvcache_alloc_cuda(pic_kvcache *kv, const pic_model *m, pic_err *err) {
    (void)m;
    size_t n = (size_t)kv->n_layers * kv->n_pages * PIC_KV_PAGE * kv->kv_dim;
    kv->k = pic_calloc(n + 1, sizeof(float));
    kv->v = pic_calloc(n + 1, sizeof(float));
    if (!kv->k || !kv->v) return pic_err_set(err, "out of memory for the stand-in's KV cache");
    kv->dev_k = kv->k, kv->dev_v = kv->v;
    kv->elem_bytes = sizeof(float);
    return 0;
}

void pic_kvcache_free_cuda(pic_kvcache *kv) { kv->dev_k = kv->dev_v = NULL; }

size_t pic_kvcache_extra_bytes_cuda(const pic_model *m, int n_slots, int max_len) {
    (void)m, (void)n_slots, (void)max_len;
    return 0;
}

int pic_kvcache_copy_page_cuda(pic_kvcache *kv, int dst, int src, pic_err *err) {
    (void)err;
    size_t bytes = (size_t)PIC_KV_PAGE * kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(pic_kvcache_k(kv, l, dst), pic_kvcache_k(kv, l, src), bytes);
        memcpy(pic_kvcache_v(kv, l, dst), pic_kvcache_v(kv, l, src), bytes);
    }
    return 0;
}

/* As the GPU's: gradient and moments at zero, the master weights the
 * device's weights (in bf16 their rounding) until put exactly. */
int pic_train_init_cuda(pic_model *m, bool recompute, size_t lo, size_t hi, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    if (!cm) return pic_err_set(err, "pic_train_init_cuda: the model is not on a GPU");
    if (lo > hi || hi > m->params.numel)
        return pic_err_set(err, "pic_train_init_cuda: the slice [%zu, %zu) of %zu parameters", lo, hi,
                           m->params.numel);
    if (!cm->for_training)
        return pic_err_set(err, "pic_train_init_cuda: the model was loaded for inference (pic_model_opts.training): "
                                "its arena holds a layer's activations that training never uses");
    if (cm->trains && cm->recompute != recompute)
        return pic_err_set(err, "pic_train_init_cuda: the training state was made %s --recompute",
                           cm->recompute ? "with" : "without");
    if (cm->trains && (cm->lo != lo || cm->hi != hi))
        return pic_err_set(err, "pic_train_init_cuda: the training state was made for the slice [%zu, %zu)", cm->lo,
                           cm->hi);
    if (cm->trains) return 0;
    size_t n = m->params.numel, own = hi - lo;
    cm->trains = true;
    cm->recompute = recompute;
    cm->lo = lo, cm->hi = hi;
    cm->grad = pic_calloc(n + 1, sizeof(float));
    cm->m = pic_calloc(own + 1, sizeof(float));
    cm->v = pic_calloc(own + 1, sizeof(float));
    cm->master = cm->cpu.params.data;
    if (m->dtype == PIC_DTYPE_BF16)
        cm->master = memcpy(pic_malloc(own * sizeof(float) + 1), cm->master + lo, own * sizeof(float));
    pic_params_views(&cm->gview, &m->cfg, cm->grad);
    cm->dlnf = pic_calloc(cm->max_tokens * (size_t)m->cfg.hidden_size + 1, sizeof(float));
    if (recompute)
        pic_model_recompute(&cm->cpu, true);
    else
        pic_model_retain(&cm->cpu, true);
    return 0;
}

static int training(const pic_model *m, const char *fn, pic_err *err) {
    return m->cuda && m->cuda->trains ? 0 : pic_err_set(err, "%s: no training state", fn);
}

int pic_grad_zero_cuda(pic_model *m, pic_err *err) {
    if (training(m, "pic_grad_zero_cuda", err)) return -1;
    memset(m->cuda->grad, 0, m->params.numel * sizeof(float));
    return 0;
}

int pic_head_backward_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           const float *dlogp, const float *dent, pic_err *err) {
    if (training(m, "pic_head_backward_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    pic_head_backward(&cm->cpu, rows, n, targets, T, dlogp, dent, cm->dlnf, &cm->gview);
    return 0;
}

/* As the GPU's, which reads the last forward's layout: refused after a
 * forward of another batch or through a cache. */
int pic_backward_cuda(pic_model *m, const pic_batch *b, pic_err *err) {
    if (training(m, "pic_backward_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    size_t n = 0;
    for (int q = 0; q < b->n_seq; q++) n += (size_t)b->len[q];
    if (cm->cached || n != m->n_tokens)
        return pic_err_set(err, "pic_backward: the last forward was not of this batch without a KV cache (%zu tokens, "
                           "the batch %zu%s)", m->n_tokens, n, cm->cached ? ", through a cache" : "");
    pic_backward(&cm->cpu, b, cm->dlnf, &cm->gview);
    /* consumed: zero for the next micro-batch's head, as the GPU does */
    memset(cm->dlnf, 0, cm->cpu.n_tokens * (size_t)m->cfg.hidden_size * sizeof(float));
    return 0;
}

/* The three on the slice, as the GPU's (cuda/adamw.cu). */
int pic_clip_grad_norm_cuda(pic_model *m, double max_norm, double *norm, pic_err *err) {
    if (training(m, "pic_clip_grad_norm_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    *norm = pic_clip_grad_norm(cm->grad + cm->lo, cm->hi - cm->lo, max_norm);
    return 0;
}

int pic_grad_sumsq_cuda(pic_model *m, double *ss, pic_err *err) {
    if (training(m, "pic_grad_sumsq_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    *ss = 0;
    for (size_t i = cm->lo; i < cm->hi; i++) *ss += (double)cm->grad[i] * cm->grad[i];
    return 0;
}

int pic_scale_grad_cuda(pic_model *m, double norm, double max_norm, pic_err *err) {
    if (training(m, "pic_scale_grad_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    pic_scale_grad(cm->grad + cm->lo, cm->hi - cm->lo, norm, max_norm);
    return 0;
}

int pic_adamw_step_cuda(pic_model *m, double lr, double beta1, double beta2, double eps, double weight_decay, long t,
                        pic_err *err) {
    if (training(m, "pic_adamw_step_cuda", err)) return -1;
    pic_cuda_model *cm = m->cuda;
    pic_adamw_cfg c;
    pic_adamw_defaults(&c);
    c.beta1 = beta1, c.beta2 = beta2, c.eps = eps, c.weight_decay = weight_decay;
    size_t lo = cm->lo, own = cm->hi - cm->lo;
    bool bf = m->dtype == PIC_DTYPE_BF16;
    pic_adamw_step(bf ? cm->master : cm->master + lo, cm->grad + lo, cm->m, cm->v, own, lr, &c, t);
    if (bf) store(m, lo, cm->master, own);
    return 0;
}

/* As the GPU's (cuda/model.cu): the moments, and the master weights in
 * bf16, hold the slice [lo, hi) only. */
static float *state_array(pic_model *m, pic_state_array a, size_t offset, size_t n, const char *fn, pic_err *err) {
    if (training(m, fn, err)) return NULL;
    if (offset > m->params.numel || n > m->params.numel - offset)
        return pic_err_set(err, "%s: %zu values at %zu pass the %zu parameters", fn, n, offset, m->params.numel), NULL;
    pic_cuda_model *cm = m->cuda;
    if (a == PIC_STATE_GRAD) return cm->grad + offset;
    if (a == PIC_STATE_MASTER && m->dtype != PIC_DTYPE_BF16) return cm->master + offset;
    if (a != PIC_STATE_MASTER && a != PIC_STATE_M && a != PIC_STATE_V)
        return pic_err_set(err, "%s: no array %d", fn, (int)a), NULL;
    if (offset < cm->lo || offset + n > cm->hi)
        return pic_err_set(err, "%s: %zu values at %zu outside this GPU's slice [%zu, %zu)", fn, n, offset, cm->lo,
                           cm->hi),
               NULL;
    return (a == PIC_STATE_M ? cm->m : a == PIC_STATE_V ? cm->v : cm->master) + (offset - cm->lo);
}

int pic_train_state_put_cuda(pic_model *m, pic_state_array a, size_t offset, const float *x, size_t n,
                             pic_err *err) {
    if (!state_array(m, PIC_STATE_GRAD, offset, n, "pic_train_state_put_cuda", err)) return -1; /* the bounds */
    pic_cuda_model *cm = m->cuda;
    size_t lo = offset, hi = offset + n;
    if (a == PIC_STATE_M || a == PIC_STATE_V || (a == PIC_STATE_MASTER && m->dtype == PIC_DTYPE_BF16))
        lo = lo > cm->lo ? lo : cm->lo, hi = hi < cm->hi ? hi : cm->hi;
    if (lo < hi) {
        float *dst = state_array(m, a, lo, hi - lo, "pic_train_state_put_cuda", err);
        if (!dst) return -1;
        memcpy(dst, x + (lo - offset), (hi - lo) * sizeof *x);
    }
    if (a == PIC_STATE_MASTER && m->dtype == PIC_DTYPE_BF16) store(m, offset, x, n);
    return 0;
}

float *pic_train_array_cuda(pic_model *m, pic_state_array a, pic_err *err) {
    return state_array(m, a, 0, m->params.numel, "pic_train_array_cuda", err);
}

int pic_train_state_get_cuda(pic_model *m, pic_state_array a, size_t offset, float *x, size_t n, pic_err *err) {
    const float *src = state_array(m, a, offset, n, "pic_train_state_get_cuda", err);
    if (!src) return -1;
    memcpy(x, src, n * sizeof *x);
    return 0;
}

size_t pic_cuda_peak_bytes(const pic_model *m) {
    (void)m;
    return 0;
}

size_t pic_cuda_free_bytes(void) { return 0; }

const char *pic_cuda_graphs_off(const pic_model *m) {
    (void)m;
    return NULL;
}
