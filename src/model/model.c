/* Loading a model onto its device, and the device and dtype names. */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/acts.h"
#include "model/cuda/entry.h"
#include "model/layers.h"
#include "model/safetensors.h"

void pic_model_init(pic_model *m, const pic_config *c) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->device = PIC_DEVICE_CPU;
    m->dtype = PIC_DTYPE_F32;
    pic_params_alloc(&m->params, c);
    m->inv_freq = pic_malloc((size_t)c->head_dim / 2 * sizeof(float));
    rope_inv_freq(m->inv_freq, &c->rope, c->head_dim);
}

bool pic_cuda_available(void) { return pic_cuda_visible(); }

pic_device pic_device_resolve(pic_device d) {
    return d != PIC_DEVICE_AUTO ? d : pic_cuda_available() ? PIC_DEVICE_CUDA : PIC_DEVICE_CPU;
}

pic_model_dtype pic_model_dtype_resolve(pic_model_dtype t, pic_device d) {
    return t != PIC_DTYPE_AUTO ? t : d == PIC_DEVICE_CUDA ? PIC_DTYPE_BF16 : PIC_DTYPE_F32;
}

/* opts resolved: device and dtype never AUTO, a token budget; -1 for bf16 on the CPU. */
static int resolve(const pic_model_opts *opts, pic_model_opts *o, pic_err *err) {
    /* no options: the CPU, whatever is visible (the trainer's models) */
    *o = opts ? *opts : (pic_model_opts){.device = PIC_DEVICE_CPU, .dtype = PIC_DTYPE_F32};
    o->device = pic_device_resolve(o->device);
    o->dtype = pic_model_dtype_resolve(o->dtype, o->device);
    if (!o->max_batch_tokens) o->max_batch_tokens = PIC_DEFAULT_BATCH_TOKENS;
    if (o->device == PIC_DEVICE_CPU && o->dtype != PIC_DTYPE_F32)
        return pic_err_set(err, "the CPU computes in f32 only (--dtype f32)");
    return 0;
}

/* A model of config c whose weights will live on a GPU in dtype: the
 * layout only on the host, no float copy of the weights. */
static void init_layout(pic_model *m, const pic_config *c, pic_model_dtype dtype) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->device = PIC_DEVICE_CPU;
    m->dtype = dtype;
    pic_params_views(&m->params, c, NULL);
    m->inv_freq = pic_malloc((size_t)c->head_dim / 2 * sizeof(float));
    rope_inv_freq(m->inv_freq, &c->rope, c->head_dim);
}

int pic_model_random(pic_model *m, const pic_config *c, const pic_model_opts *opts, uint64_t seed, float std,
                     pic_err *err) {
    pic_model_opts o;
    if (resolve(opts, &o, err)) return -1;
    if (o.device == PIC_DEVICE_CPU) {
        pic_model_init(m, c);
        pic_params_init_random(&m->params, seed, std);
        return 0;
    }
    init_layout(m, c, o.dtype); /* the weights are drawn on the GPU */
    m->gpu = o.gpu;
    if (pic_model_random_cuda(m, o.max_batch_tokens, o.training, seed, std, err)) {
        pic_model_free(m);
        return -1;
    }
    m->device = PIC_DEVICE_CUDA;
    return 0;
}

int pic_model_to_device(pic_model *m, const pic_model_opts *opts, pic_err *err) {
    pic_model_opts o;
    if (resolve(opts, &o, err)) return -1;
    if (o.device == PIC_DEVICE_CPU) return 0;
    if (m->device != PIC_DEVICE_CPU) return pic_err_set(err, "pic_model_to_device: the model is already on a GPU");
    m->dtype = o.dtype;
    m->gpu = o.gpu;
    if (pic_model_load_cuda(m, o.max_batch_tokens, o.training, err)) {
        m->dtype = PIC_DTYPE_F32;
        return -1;
    }
    /* the GPU holds the weights now: keep the layout, drop the host copy */
    m->device = PIC_DEVICE_CUDA;
    pic_acts_free(&m->acts);
    free(m->params.data);
    pic_params views = m->params;
    pic_params_views(&m->params, &m->cfg, NULL);
    pic_params_views_free(&views);
    return 0;
}

/* Straight onto a GPU: each tensor converted on the host to the storage
 * type (a BF16 tensor into bf16 is its own bytes), one at a time, and
 * copied into its place in the device buffer. Through host floats, a 7B
 * model took 30 GB of host memory and a pass of conversion both ways; the
 * bits are the same (pic_st_read_bf16 is pic_st_read_f32 then
 * pic_f32_to_bf16, the conversion the upload of host floats applies). */
static int load_onto_gpu(pic_model *m, const pic_config *c, const pic_safetensors *st, const pic_model_opts *o,
                         pic_err *err) {
    init_layout(m, c, o->dtype);
    m->gpu = o->gpu;
    if (pic_model_alloc_cuda(m, o->max_batch_tokens, o->training, err)) return -1;
    m->device = PIC_DEVICE_CUDA;
    bool bf = o->dtype == PIC_DTYPE_BF16;
    size_t most = 1;
    for (size_t i = 0; i < m->params.n_desc; i++) most = m->params.desc[i].numel > most ? m->params.desc[i].numel : most;
    void *stage = pic_malloc(most * (bf ? 2 : 4));
    int rc = 0;
    for (size_t i = 0; i < m->params.n_desc && !rc; i++) {
        const pic_param_desc *d = &m->params.desc[i];
        const pic_st_tensor *t = pic_st_find(st, d->name);
        rc = bf ? pic_st_read_bf16(t, stage, err) : pic_st_read_f32(t, stage, err);
        if (!rc) rc = pic_model_upload_cuda(m, d->offset, stage, d->numel, err);
    }
    free(stage);
    return rc;
}

int pic_model_layout(pic_model *m, const char *dir, pic_err *err) {
    pic_config c;
    pic_safetensors st;
    if (pic_config_load(&c, dir, err) || pic_st_open(&st, dir, err)) return -1;
    int rc = pic_params_check(&c, &st, err);
    pic_st_close(&st);
    if (!rc) init_layout(m, &c, PIC_DTYPE_F32);
    return rc;
}

int pic_model_load(pic_model *m, const char *dir, const pic_model_opts *opts, pic_err *err) {
    pic_config c;
    pic_model_opts o;
    if (pic_config_load(&c, dir, err) || resolve(opts, &o, err)) return -1;
    pic_safetensors st;
    if (pic_st_open(&st, dir, err)) return -1;
    if (pic_params_check(&c, &st, err)) { /* before the buffer config.json sizes */
        pic_st_close(&st);
        return -1;
    }
    int rc;
    if (o.device == PIC_DEVICE_CUDA && !getenv("PIC_LOAD_VIA_HOST")) {
        rc = load_onto_gpu(m, &c, &st, &o, err);
    } else {
        pic_model_init(m, &c);
        rc = pic_params_load(&m->params, &c, &st, err);
        if (!rc) rc = pic_model_to_device(m, &o, err);
    }
    pic_st_close(&st);
    if (rc) pic_model_free(m);
    return rc;
}

void pic_model_free(pic_model *m) {
    if (m->device == PIC_DEVICE_CUDA) pic_model_free_cuda(m);
    pic_params_free(&m->params);
    free(m->inv_freq);
    pic_acts_free(&m->acts);
    memset(m, 0, sizeof *m);
}

void pic_model_retain(pic_model *m, bool retain) {
    if (m->acts.retain == retain && !m->acts.recompute) return;
    pic_acts_free(&m->acts);
    m->acts.retain = retain;
    m->acts.recompute = false;
}

void pic_model_recompute(pic_model *m, bool recompute) {
    if (m->acts.recompute == recompute && m->acts.retain) return;
    pic_acts_free(&m->acts);
    m->acts.retain = true;
    m->acts.recompute = recompute;
}

void pic_model_reserve(pic_model *m, size_t tokens, int n_seq, int ctx) {
    if (m->device == PIC_DEVICE_CPU) pic_acts_reserve(&m->acts, &m->cfg, tokens, n_seq, ctx);
}

static const char *const device_names[] = {"auto", "cpu", "cuda"};
static const char *const dtype_names[] = {"auto", "f32", "bf16"};

const char *pic_device_name(pic_device d) { return device_names[d]; }
const char *pic_model_dtype_name(pic_model_dtype t) { return dtype_names[t]; }

static int lookup(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

int pic_device_parse(const char *s) { return lookup(device_names, 3, s); }
int pic_model_dtype_parse(const char *s) { return lookup(dtype_names, 3, s); }
