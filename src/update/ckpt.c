/* Checkpoints (ckpt.h). */
#include "update/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/dist.h"

/* Everything but the weights that transformers reads from a model dir:
 * AutoTokenizer reads added_tokens.json beside tokenizer.json, and a
 * tokenizer's own vocabulary files (vocab.json and merges.txt for Qwen2,
 * tokenizer.model for Llama and Mistral, which LlamaTokenizerFast needs
 * when it converts from the slow tokenizer). */
static const char *const copied[] = {"config.json", "generation_config.json", "tokenizer.json",
                                     "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                     "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", NULL};

static const char *const STATE = "optimizer.safetensors";
/* In a checkpoint written without its optimizer state (pic-update --serve's
 * "state": false): training cannot resume from it exactly, and this file
 * says so, where a missing optimizer.safetensors alone would read as a
 * fresh HuggingFace model and resume with AdamW reset, silently. */
static const char *const NO_STATE = "optimizer-not-saved.json";

/* "[a, b]" into buf. */
static const char *shape_text(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* A state tensor (m., v. or master.) is F32 of its parameter's shape: the
 * same count of values is not enough, since a transposed [b, a] for [a, b]
 * would resume AdamW with every moment on another weight. */
static void check_state(const char *path, const pic_st_tensor *x, const pic_param_desc *d) {
    bool same = x->dtype == PIC_DT_F32 && x->ndim == d->ndim;
    for (int i = 0; same && i < d->ndim; i++) same = x->shape[i] == d->shape[i];
    if (same) return;
    char got[200], want[64];
    pic_die("%s: tensor '%s' is %s %s; the model needs F32 %s (as its parameter '%s')", path, x->name, x->dtype_name,
            shape_text(got, sizeof got, x->ndim, x->shape), shape_text(want, sizeof want, d->ndim, d->shape), d->name);
}

/* Opens dir's optimizer state into *st (false: there is none) and checks
 * all of it against the layout p before a value is taken: a file that does
 * not fit dies naming it and the tensor, whole, not half loaded. */
static bool state_open(pic_safetensors *st, char **path, const pic_params *p, const char *dir) {
    char *marker = pic_asprintf("%s/%s", dir, NO_STATE);
    if (access(marker, F_OK) == 0)
        pic_die("%s: a checkpoint written without its optimizer state (%s): resume from one that has %s, or "
                "--reset-optimizer to train from its weights with AdamW reset",
                dir, NO_STATE, STATE);
    free(marker);
    *path = pic_asprintf("%s/%s", dir, STATE);
    if (access(*path, F_OK) != 0) {
        free(*path);
        return false;
    }
    pic_err err;
    if (pic_st_open(st, *path, &err)) pic_die("%s", err.msg);
    /* m and v of every parameter; the master weights of all or of none */
    size_t masters = 0;
    for (size_t i = 0; i < p->n_desc; i++)
        for (int k = 0; k < 3; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", k == 0 ? "m" : k == 1 ? "v" : "master", p->desc[i].name);
            const pic_st_tensor *x = pic_st_find(st, name);
            if (!x && k < 2) pic_die("%s: tensor '%s' is missing", *path, name);
            if (!x) continue;
            check_state(*path, x, &p->desc[i]);
            masters += k == 2;
        }
    if (masters && masters != p->n_desc)
        pic_die("%s: master weights for %zu of the %zu parameters: a file has all of them or none", *path, masters,
                p->n_desc);
    /* AEC's state is there only when the run that wrote it used AEC */
    const char *scalars[3] = {"step", "aec_coef", "aec_entropy"};
    /* and nothing else: a tensor of no parameter (a deeper model's layer,
     * an untied head) says the file is another model's, whose moments of
     * the layers this one has fitted by shape and would have been taken */
    for (size_t j = 0; j < st->n; j++) {
        const char *name = st->sorted[j]->name, *dot = strchr(name, '.');
        bool known = !strcmp(name, scalars[0]) || !strcmp(name, scalars[1]) || !strcmp(name, scalars[2]);
        if (dot && (!strncmp(name, "m.", 2) || !strncmp(name, "v.", 2) || !strncmp(name, "master.", 7)))
            for (size_t i = 0; !known && i < p->n_desc; i++) known = !strcmp(dot + 1, p->desc[i].name);
        if (!known)
            pic_die("%s: tensor '%s' is the state of no parameter of the model (its m., v. and master. tensors, "
                    "step, aec_coef, aec_entropy): another model's optimizer state",
                    *path, name);
    }
    for (int k = 0; k < 3; k++) {
        const pic_st_tensor *x = pic_st_find(st, scalars[k]);
        float v = 0;
        if (!x && k == 0) pic_die("%s: tensor 'step' is missing", *path);
        if (!x) continue;
        if (x->numel != 1) pic_die("%s: tensor '%s' holds %zu numbers, not one", *path, scalars[k], x->numel);
        /* its own words: a dtype that is no float, a NaN or an infinity */
        if (pic_st_read_f32(x, &v, &err)) pic_die("%s", err.msg);
        /* (bounded before the cast: a float of 2^63 or more made it undefined,
         * refused on x86 by chance, LONG_MAX on aarch64) */
        if (k == 0 && (v < 0 || v >= 0x1p63f || v != (float)(long)v))
            pic_die("%s: tensor 'step' is %g, not a step count", *path, v);
    }
    return true;
}

bool pic_optstate_check(const pic_params *p, const char *dir) {
    pic_safetensors st;
    char *path;
    if (!state_open(&st, &path, p, dir)) return false;
    pic_st_close(&st);
    free(path);
    return true;
}

/* The scalar name of st, checked by state_open; missing: fallback. */
static double scalar(const pic_safetensors *st, const char *name, double fallback) {
    const pic_st_tensor *x = pic_st_find(st, name);
    float v = 0;
    pic_err err;
    if (!x) return fallback;
    if (pic_st_read_f32(x, &v, &err)) pic_die("%s", err.msg);
    return v;
}

/* x's master weights (in master) are those the checkpoint's weights were
 * rounded from: each rounds, in the weight's dtype, to the weight. Another
 * checkpoint's optimizer.safetensors beside these weights (another step's,
 * copied in; weights edited or replaced after pic wrote them) resumed from
 * its own master weights and dropped the directory's, silently. */
static void check_master(const char *path, const pic_st_tensor *x, const float *master, const pic_safetensors *model,
                         float *weights) {
    const pic_st_tensor *w = pic_st_find(model, x->name + strlen("master."));
    pic_err err;
    if (!w) pic_die("%s: tensor '%s' is missing", model->path, x->name + strlen("master."));
    if (pic_st_read_f32(w, weights, &err)) pic_die("%s", err.msg);
    for (size_t j = 0; j < x->numel; j++) {
        float r = w->dtype == PIC_DT_BF16  ? pic_bf16_to_f32(pic_f32_to_bf16(master[j]))
                  : w->dtype == PIC_DT_F16 ? pic_f16_to_f32(pic_f32_to_f16(master[j]))
                                           : master[j];
        if (r != weights[j])
            pic_die("%s: tensor '%s': element %zu is %.9g, which is not the checkpoint's weight %.9g (%s, "
                    "tensor '%s') rounded to %s: the optimizer state of other weights (another checkpoint's); "
                    "resume from the checkpoint it was written with, or --reset-optimizer to train from these "
                    "weights with AdamW reset",
                    path, x->name, j, master[j], weights[j], w->file, w->name, w->dtype_name);
    }
}

bool pic_optstate_load(pic_trainer *t, const char *dir) {
    const pic_params *p = &t->model->params;
    pic_safetensors st;
    char *path;
    if (!state_open(&st, &path, p, dir)) return false;
    /* a tensor at a time through one buffer: the file holds the whole
     * state, this rank keeps its slice, and a GPU takes it from there */
    size_t most = 1;
    for (size_t i = 0; i < p->n_desc; i++) most = p->desc[i].numel > most ? p->desc[i].numel : most;
    float *stage = pic_malloc(most * sizeof *stage), *weights = NULL;
    pic_err err;
    /* the checkpoint's weights, which its master weights must round to */
    pic_safetensors model;
    bool masters = false;
    for (size_t i = 0; i < p->n_desc && !masters; i++) {
        char name[128];
        snprintf(name, sizeof name, "master.%s", p->desc[i].name);
        masters = pic_st_find(&st, name) != NULL;
    }
    if (masters) {
        if (pic_st_open(&model, dir, &err)) pic_die("%s", err.msg);
        weights = pic_malloc(most * sizeof *weights);
    }
    for (size_t i = 0; i < p->n_desc; i++)
        for (int k = 0; k < 3; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", k == 0 ? "m" : k == 1 ? "v" : "master", p->desc[i].name);
            const pic_st_tensor *x = pic_st_find(&st, name);
            /* a checkpoint in bf16 keeps its fp32 master weights here: they,
             * not the rounded weights, are what training resumes from */
            if (!x) continue;
            if (pic_st_read_f32(x, stage, &err)) pic_die("%s", err.msg);
            /* AdamW divides by sqrt(v): a negative one (a corrupt file) made
             * a NaN weight, written into the next checkpoint with exit 0 */
            for (size_t j = 0; k == 1 && j < x->numel; j++)
                if (stage[j] < 0)
                    pic_die("%s: tensor '%s': element %zu is %g; a second moment is at least 0", path, name, j,
                            stage[j]);
            if (k == 2) check_master(path, x, stage, &model, weights);
            if (k < 2)
                pic_trainer_set_moment(t, k, p->desc[i].offset, stage, x->numel);
            else
                pic_trainer_set_master(t, p->desc[i].offset, stage, x->numel);
        }
    if (masters) pic_st_close(&model);
    free(stage);
    free(weights);
    t->step = (long)scalar(&st, "step", 0);
    t->aec_coef = scalar(&st, "aec_coef", t->aec_coef);
    t->aec_entropy = scalar(&st, "aec_entropy", t->aec_entropy);
    pic_st_close(&st);
    free(path);
    return true;
}

struct pic_ckpt_src {
    char *dir;
    char *data[sizeof copied / sizeof *copied];
    size_t len[sizeof copied / sizeof *copied];
    bool present[sizeof copied / sizeof *copied];
};

pic_ckpt_src *pic_ckpt_src_read(const char *dir) {
    pic_ckpt_src *s = pic_calloc(1, sizeof *s);
    s->dir = pic_strdup(dir);
    for (int i = 0; copied[i]; i++) {
        char *from = pic_asprintf("%s/%s", dir, copied[i]);
        if (access(from, F_OK) == 0) s->data[i] = pic_read_file(from, &s->len[i]), s->present[i] = true;
        free(from);
    }
    return s;
}

void pic_ckpt_src_free(pic_ckpt_src *s) {
    if (!s) return;
    for (int i = 0; copied[i]; i++) free(s->data[i]);
    free(s->dir);
    free(s);
}

static void write_whole(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) pic_die("%s: %s", path, strerror(errno));
}

/* A tensor of the trainer's state, filled from wherever it lives (the
 * host, a GPU, another rank's slice) a chunk at a time as the writer asks. */
typedef struct {
    const pic_trainer *t;
    pic_state_array a;
    size_t offset;
} span;

static int fill_span(void *ctx, size_t at, float *dst, size_t n, pic_err *err) {
    const span *s = ctx;
    return pic_trainer_read_any(s->t, s->a, s->offset + at, dst, n, err);
}

/* Array a of t as tensors "prefix.name" (no prefix: the names alone) in
 * dtype; names and spans keep what the writer refers to until it has
 * written. */
static void add_state(pic_st_writer *w, const pic_trainer *t, pic_state_array a, const char *prefix,
                      pic_dtype dtype, char **names, span *spans) {
    const pic_params *p = &t->model->params;
    for (size_t i = 0; i < p->n_desc; i++) {
        const pic_param_desc *d = &p->desc[i];
        names[i] = prefix ? pic_asprintf("%s.%s", prefix, d->name) : pic_strdup(d->name);
        spans[i] = (span){t, a, d->offset};
        pic_st_writer_add_fill(w, names[i], dtype, d->ndim, d->shape, fill_span, &spans[i]);
    }
}

/* What a writer of up to k arrays of t's state refers to. */
typedef struct {
    size_t n;
    char **names;
    span *spans;
} refs;

static refs refs_new(const pic_trainer *t, int k) {
    size_t n = (size_t)k * t->model->params.n_desc;
    return (refs){n, pic_calloc(n + 1, sizeof(char *)), pic_calloc(n + 1, sizeof(span))};
}

static void refs_free(refs *r) {
    for (size_t i = 0; i < r->n; i++) free(r->names[i]);
    free(r->names), free(r->spans);
}

char *pic_ckpt_write(const pic_trainer *t, const pic_ckpt_src *src, const char *out, pic_dtype dtype,
                     size_t max_shard, bool with_state) {
    /* AdamW's state is written whole, whatever the number of ranks that
     * kept it in slices, so that a run resumes on any number of them: rank
     * 0 writes, asking the others for their slices as it goes (the moments,
     * and on GPUs in bf16 the master weights: the weights' source; in f32
     * they are the weights, which every rank holds whole) */
    bool asks = with_state || pic_trainer_spread(t, PIC_STATE_MASTER);
    if (pic_dist_rank() != 0) {
        if (asks) pic_trainer_answer_reads(t);
        return NULL;
    }
    char *tmp = pic_atomic_dir_begin(out);
    pic_err err;
    for (int i = 0; copied[i]; i++) {
        if (src->present[i]) {
            char *to = pic_asprintf("%s/%s", tmp, copied[i]);
            write_whole(to, src->data[i], src->len[i]);
            free(to);
        } else if (!strcmp(copied[i], "tokenizer.json")) {
            /* the weights are still a transformers checkpoint, but no pic
             * program can generate from it: a run goes on, said once */
            pic_warn("%s has no tokenizer.json, so neither has %s: pic-rollout cannot load it (copy one in)",
                     src->dir, out);
        }
    }
    const pic_params *p = &t->model->params;
    pic_st_writer *w = pic_st_writer_new();
    refs r = refs_new(t, 1);
    add_state(w, t, PIC_STATE_MASTER, NULL, dtype, r.names, r.spans);
    /* an index even for one file: vLLM and SGLang load every *.safetensors
     * of a folder without one, optimizer.safetensors too, and filter by the
     * index when there is (weight_utils.py filter_duplicate_safetensors_files) */
    if (pic_st_write_model(w, tmp, max_shard, true, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
    refs_free(&r);
    char *path;
    if (!with_state) {
        static const char note[] = "{\"optimizer_state\": false, \"written_by\": \"pic-update --serve\"}\n";
        path = pic_asprintf("%s/%s", tmp, NO_STATE);
        write_whole(path, note, sizeof note - 1);
        free(path);
        if (asks) pic_trainer_reads_done();
        return tmp;
    }

    w = pic_st_writer_new();
    r = refs_new(t, 3);
    size_t nd = p->n_desc;
    add_state(w, t, PIC_STATE_M, "m", PIC_DT_F32, r.names, r.spans);
    add_state(w, t, PIC_STATE_V, "v", PIC_DT_F32, r.names + nd, r.spans + nd);
    if (dtype != PIC_DT_F32)
        add_state(w, t, PIC_STATE_MASTER, "master", PIC_DT_F32, r.names + 2 * nd, r.spans + 2 * nd);
    float step = (float)t->step, aec = (float)t->aec_coef, aec_h = (float)t->aec_entropy;
    int64_t one = 1;
    pic_st_writer_add(w, "step", PIC_DT_F32, 1, &one, &step);
    if (t->cfg.aec) {
        pic_st_writer_add(w, "aec_coef", PIC_DT_F32, 1, &one, &aec);
        pic_st_writer_add(w, "aec_entropy", PIC_DT_F32, 1, &one, &aec_h);
    }
    path = pic_asprintf("%s/%s", tmp, STATE);
    if (pic_st_write(w, path, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
    refs_free(&r);
    free(path);
    pic_trainer_reads_done();
    return tmp;
}

void pic_ckpt_commit(char *tmp, const char *out) {
    if (!tmp) return;
    if (pic_atomic_dir_commit(tmp, out)) pic_die("%s: %s", out, strerror(errno));
    free(tmp);
}

void pic_grads_save(const pic_trainer *t, const char *path) {
    /* each rank holds its slice of the sum (the reduce-scatter) */
    if (pic_dist_rank() != 0) {
        pic_trainer_answer_reads(t);
        return;
    }
    pic_st_writer *w = pic_st_writer_new();
    refs r = refs_new(t, 1);
    add_state(w, t, PIC_STATE_GRAD, NULL, PIC_DT_F32, r.names, r.spans);
    pic_err err;
    if (pic_st_write(w, path, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
    refs_free(&r);
    pic_trainer_reads_done();
}
