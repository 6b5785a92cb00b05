/* The parameter layout, and loading / saving it under HuggingFace names. */
#include "model/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/rng.h"
#include "model/parallel.h"

typedef struct {
    pic_param_desc *desc; /* NULL when only counting */
    size_t n, off;
} builder;

static size_t add(builder *b, int ndim, int64_t s0, int64_t s1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static size_t add(builder *b, int ndim, int64_t s0, int64_t s1, const char *fmt, ...) {
    size_t numel = (size_t)s0 * (size_t)(ndim == 2 ? s1 : 1);
    if (b->desc) {
        pic_param_desc *d = &b->desc[b->n];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->name, sizeof d->name, fmt, ap);
        va_end(ap);
        d->offset = b->off;
        d->ndim = ndim;
        d->shape[0] = s0;
        d->shape[1] = ndim == 2 ? s1 : 0;
        d->numel = numel;
    }
    size_t at = b->off;
    b->n++;
    b->off += numel;
    return at;
}

/* The one place the order is decided (see params.h). o may be NULL (count). */
static void build(const pic_config *c, builder *b, pic_param_offsets *o) {
    int64_t C = c->hidden_size, V = c->vocab_size, F = c->intermediate_size, hd = c->head_dim;
    int64_t qd = (int64_t)c->n_heads * hd, kvd = (int64_t)c->n_kv_heads * hd;
    const size_t none = PIC_PARAM_ABSENT;
    size_t embed = add(b, 2, V, C, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        pic_layer_offsets lp = {none, none, none, none, none, none, none, none, none, none, none, none};
        const char *a = "self_attn", *m = "mlp";
        lp.ln1 = add(b, 1, C, 0, "model.layers.%d.input_layernorm.weight", l);
        lp.wqkv = add(b, 2, qd, C, "model.layers.%d.%s.q_proj.weight", l, a);
        add(b, 2, kvd, C, "model.layers.%d.%s.k_proj.weight", l, a);
        add(b, 2, kvd, C, "model.layers.%d.%s.v_proj.weight", l, a);
        if (c->qkv_bias) {
            lp.bqkv = add(b, 1, qd, 0, "model.layers.%d.%s.q_proj.bias", l, a);
            add(b, 1, kvd, 0, "model.layers.%d.%s.k_proj.bias", l, a);
            add(b, 1, kvd, 0, "model.layers.%d.%s.v_proj.bias", l, a);
        }
        if (c->qk_norm) {
            lp.q_norm = add(b, 1, hd, 0, "model.layers.%d.%s.q_norm.weight", l, a);
            lp.k_norm = add(b, 1, hd, 0, "model.layers.%d.%s.k_norm.weight", l, a);
        }
        lp.wo = add(b, 2, C, qd, "model.layers.%d.%s.o_proj.weight", l, a);
        if (c->o_bias) lp.bo = add(b, 1, C, 0, "model.layers.%d.%s.o_proj.bias", l, a);
        lp.ln2 = add(b, 1, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        lp.wgu = add(b, 2, F, C, "model.layers.%d.%s.gate_proj.weight", l, m);
        add(b, 2, F, C, "model.layers.%d.%s.up_proj.weight", l, m);
        if (c->mlp_bias) {
            lp.bgu = add(b, 1, F, 0, "model.layers.%d.%s.gate_proj.bias", l, m);
            add(b, 1, F, 0, "model.layers.%d.%s.up_proj.bias", l, m);
        }
        lp.wd = add(b, 2, C, F, "model.layers.%d.%s.down_proj.weight", l, m);
        if (c->mlp_bias) lp.bd = add(b, 1, C, 0, "model.layers.%d.%s.down_proj.bias", l, m);
        if (o) o->layer[l] = lp;
    }
    size_t norm = add(b, 1, C, 0, "model.norm.weight");
    size_t lm_head = c->tie_embeddings ? embed : add(b, 2, V, C, "lm_head.weight");
    if (o) o->embed = embed, o->norm = norm, o->lm_head = lm_head;
}

size_t pic_params_layout(const pic_config *c, pic_param_desc **desc, size_t *n_desc) {
    builder count = {0};
    build(c, &count, NULL);
    if (desc) {
        builder b = {.desc = pic_calloc(count.n, sizeof(pic_param_desc))};
        build(c, &b, NULL);
        *desc = b.desc;
        if (n_desc) *n_desc = b.n;
    }
    return count.off;
}

static float *at(float *data, size_t off) { return data && off != PIC_PARAM_ABSENT ? data + off : NULL; }

void pic_params_views(pic_params *p, const pic_config *c, float *data) {
    memset(p, 0, sizeof *p);
    p->off.layer = pic_calloc((size_t)c->n_layers + 1, sizeof *p->off.layer);
    builder count = {0};
    build(c, &count, NULL);
    builder b = {.desc = pic_calloc(count.n, sizeof(pic_param_desc))};
    build(c, &b, &p->off);
    p->desc = b.desc;
    p->n_desc = b.n;
    p->numel = b.off;
    p->data = data;
    p->layer = pic_calloc((size_t)c->n_layers + 1, sizeof *p->layer);
    p->embed = at(data, p->off.embed);
    p->norm = at(data, p->off.norm);
    p->lm_head = at(data, p->off.lm_head);
    for (int l = 0; l < c->n_layers; l++) {
        const pic_layer_offsets *o = &p->off.layer[l];
        p->layer[l] = (pic_layer_params){at(data, o->ln1), at(data, o->wqkv), at(data, o->bqkv), at(data, o->q_norm),
                                         at(data, o->k_norm), at(data, o->wo), at(data, o->bo), at(data, o->ln2),
                                         at(data, o->wgu), at(data, o->bgu), at(data, o->wd), at(data, o->bd)};
    }
}

void pic_params_alloc(pic_params *p, const pic_config *c) {
    size_t n = pic_params_layout(c, NULL, NULL);
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *data = pic_alloc_pages(bytes);
    if (!data) pic_die("out of memory for %zu parameters", n);
    memset(data, 0, bytes);
    pic_params_views(p, c, data);
}

void pic_params_views_free(pic_params *p) {
    free(p->desc);
    free(p->layer);
    free(p->off.layer);
    memset(p, 0, sizeof *p);
}

void pic_params_free(pic_params *p) {
    free(p->data);
    pic_params_views_free(p);
}

static int is_ignored(const pic_config *c, const char *name) {
    const char *inv = strstr(name, "rotary_emb.inv_freq");
    return (inv && !inv[19]) || (c->tie_embeddings && !strcmp(name, "lm_head.weight"));
}

/* Every tensor of the layout present with its shape, and none besides. */
static int check_tensors(const pic_param_desc *desc, size_t n_desc, const pic_config *c, const pic_safetensors *st,
                         pic_err *err) {
    for (size_t i = 0; i < n_desc; i++) {
        const pic_param_desc *d = &desc[i];
        const pic_st_tensor *t = pic_st_find(st, d->name);
        if (!t)
            return pic_err_set(err, "%s: tensor '%s' is missing%s", st->n_files == 1 ? st->files[0].path : st->path,
                               d->name,
                               !strcmp(d->name, "lm_head.weight") ? " (config says tie_word_embeddings: false)" : "");
        bool same = t->ndim == d->ndim && t->shape[0] == d->shape[0] && (d->ndim == 1 || t->shape[1] == d->shape[1]);
        if (!same) {
            char got[96] = "", *g = got;
            for (int k = 0; k < t->ndim; k++)
                g += snprintf(g, (size_t)(got + sizeof got - g), "%s%lld", k ? ", " : "", (long long)t->shape[k]);
            return pic_err_set(err, "%s: tensor '%s': shape [%s], the config implies [%lld%s%.0lld]", t->file,
                               t->name, got, (long long)d->shape[0], d->ndim == 2 ? ", " : "",
                               d->ndim == 2 ? (long long)d->shape[1] : 0LL);
        }
    }
    for (size_t i = 0; i < st->n; i++) {
        const pic_st_tensor *t = st->sorted[i];
        bool known = is_ignored(c, t->name);
        for (size_t j = 0; j < n_desc && !known; j++) known = !strcmp(desc[j].name, t->name);
        if (!known)
            return pic_err_set(err, "%s: tensor '%s' is not part of a %s model with this config", t->file,
                               t->name, c->model_type);
    }
    return 0;
}

int pic_params_check(const pic_config *c, const pic_safetensors *st, pic_err *err) {
    pic_param_desc *desc;
    size_t n_desc;
    pic_params_layout(c, &desc, &n_desc);
    int rc = check_tensors(desc, n_desc, c, st, err);
    free(desc);
    return rc;
}

int pic_params_load(pic_params *p, const pic_config *c, const pic_safetensors *st, pic_err *err) {
    if (check_tensors(p->desc, p->n_desc, c, st, err)) return -1;
    for (size_t i = 0; i < p->n_desc; i++)
        if (pic_st_read_f32(pic_st_find(st, p->desc[i].name), p->data + p->desc[i].offset, err)) return -1;
    return 0;
}

int pic_params_save(const pic_params *p, const char *path, pic_dtype dtype, pic_err *err) {
    pic_st_writer *w = pic_st_writer_new();
    for (size_t i = 0; i < p->n_desc; i++) {
        const pic_param_desc *d = &p->desc[i];
        pic_st_writer_add(w, d->name, dtype, d->ndim, d->shape, p->data + d->offset);
    }
    int rc = pic_st_write(w, path, err);
    pic_st_writer_free(w);
    return rc;
}

/* splitmix64 + Box-Muller: reproducible across platforms for a given seed */
static uint64_t next(uint64_t *s) { return pic_splitmix64(s); }

/* One tensor's normal draws: element j takes the stream's draws 2 (first +
 * j) and 2 (first + j) + 1, so a range of elements starts where the
 * sequential loop would have been (pic_splitmix64_skip) and the weights are
 * the same bits on any number of threads. */
typedef struct {
    float *x;
    uint64_t seed;
    size_t first;
    float std;
} draw_job;

static void draw_normals(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const draw_job *J = ctx;
    uint64_t s = pic_splitmix64_skip(J->seed, 2 * (uint64_t)(J->first + begin));
    for (size_t j = begin; j < end; j++) {
        double u1 = ((next(&s) >> 11) + 1.0) / 9007199254740993.0, u2 = (next(&s) >> 11) / 9007199254740992.0;
        J->x[j] = (float)(J->std * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

void pic_params_init_random(pic_params *p, uint64_t seed, float std) {
    size_t drawn = 0; /* elements drawn so far: biases and norms draw nothing */
    for (size_t i = 0; i < p->n_desc; i++) {
        const pic_param_desc *d = &p->desc[i];
        float *x = p->data + d->offset;
        const char *tail = strrchr(d->name, '.');
        bool bias = tail && !strcmp(tail, ".bias");
        bool norm = strstr(d->name, "norm") != NULL;
        if (bias || norm) {
            for (size_t j = 0; j < d->numel; j++) x[j] = norm ? 1.0f : 0.0f;
            continue;
        }
        draw_job J = {x, seed, drawn, std};
        pic_parallel_for(d->numel, 1 << 16, draw_normals, &J);
        drawn += d->numel;
    }
}
