/* Checkpoints (ckpt.h). */
#include "update/ckpt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/dist.h"

/* Everything but the weights that transformers reads from a model dir. */
static const char *const copied[] = {"config.json", "generation_config.json", "tokenizer.json",
                                     "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                     "merges.txt", "chat_template.jinja", NULL};

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

bool pic_optstate_load(pic_trainer *t, const char *dir) {
    char *marker = pic_asprintf("%s/%s", dir, NO_STATE);
    if (access(marker, F_OK) == 0)
        pic_die("%s: a checkpoint written without its optimizer state (%s): resume from one that has %s, or "
                "--reset-optimizer to train from its weights with AdamW reset",
                dir, NO_STATE, STATE);
    free(marker);
    char *path = pic_asprintf("%s/%s", dir, STATE);
    if (access(path, F_OK) != 0) {
        free(path);
        return false;
    }
    pic_safetensors st;
    pic_err err;
    if (pic_st_open(&st, path, &err)) pic_die("%s", err.msg);
    const pic_params *p = &t->model->params;
    for (size_t i = 0; i < p->n_desc; i++)
        for (int k = 0; k < 2; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", k ? "v" : "m", p->desc[i].name);
            const pic_st_tensor *x = pic_st_find(&st, name);
            if (!x) pic_die("%s: tensor '%s' is missing", path, name);
            check_state(path, x, &p->desc[i]);
            /* the file holds the whole state; this rank keeps its slice */
            float *all = pic_malloc((x->numel + 1) * sizeof *all);
            if (pic_st_read_f32(x, all, &err)) pic_die("%s", err.msg);
            pic_trainer_set_moment(t, k, p->desc[i].offset, all, x->numel);
            free(all);
        }
    /* a checkpoint in bf16 keeps its fp32 master weights here: they, not
     * the rounded weights, are what training resumes from */
    for (size_t i = 0; i < p->n_desc; i++) {
        char name[128];
        snprintf(name, sizeof name, "master.%s", p->desc[i].name);
        const pic_st_tensor *x = pic_st_find(&st, name);
        if (!x) break;
        check_state(path, x, &p->desc[i]);
        if (pic_st_read_f32(x, p->data + p->desc[i].offset, &err)) pic_die("%s", err.msg);
    }
    /* AEC's state is there only when the run that wrote it used AEC */
    const char *scalars[3] = {"step", "aec_coef", "aec_entropy"};
    for (int k = 0; k < 3; k++) {
        const pic_st_tensor *x = pic_st_find(&st, scalars[k]);
        float v = 0;
        if (!x && k == 0) pic_die("%s: tensor 'step' is missing", path);
        if (!x && k > 0) continue;
        if (x->numel != 1 || pic_st_read_f32(x, &v, &err) || !isfinite(v))
            pic_die("%s: tensor '%s' is not one finite number", path, scalars[k]);
        if (k == 0) {
            if (v < 0 || v != (float)(long)v) pic_die("%s: tensor 'step' is %g, not a step count", path, v);
            t->step = (long)v;
        } else if (k == 1) {
            t->aec_coef = v;
        } else {
            t->aec_entropy = v;
        }
    }
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

static void add_state(pic_st_writer *w, const pic_params *p, const float *buf, const char *prefix, char **names) {
    for (size_t i = 0; i < p->n_desc; i++) {
        names[i] = pic_asprintf("%s.%s", prefix, p->desc[i].name);
        pic_st_writer_add(w, names[i], PIC_DT_F32, p->desc[i].ndim, p->desc[i].shape, buf + p->desc[i].offset);
    }
}

char *pic_ckpt_write(const pic_trainer *t, const pic_ckpt_src *src, const char *out, pic_dtype dtype,
                     size_t max_shard, bool with_state) {
    /* AdamW's state is written whole, whatever the number of ranks that
     * kept it in slices, so that a run resumes on any number of them */
    float *moment[2] = {NULL, NULL};
    if (with_state) moment[0] = pic_trainer_moment(t, 0), moment[1] = pic_trainer_moment(t, 1);
    if (pic_dist_rank() != 0) return NULL;
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
    const float *master = pic_trainer_params(t);
    pic_st_writer *w = pic_st_writer_new();
    for (size_t i = 0; i < p->n_desc; i++)
        pic_st_writer_add(w, p->desc[i].name, dtype, p->desc[i].ndim, p->desc[i].shape, master + p->desc[i].offset);
    if (pic_st_write_model(w, tmp, max_shard, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
    char *path;
    if (!with_state) {
        static const char note[] = "{\"optimizer_state\": false, \"written_by\": \"pic-update --serve\"}\n";
        path = pic_asprintf("%s/%s", tmp, NO_STATE);
        write_whole(path, note, sizeof note - 1);
        free(path);
        return tmp;
    }

    w = pic_st_writer_new();
    char **names = pic_calloc(3 * p->n_desc + 1, sizeof *names);
    add_state(w, p, moment[0], "m", names);
    add_state(w, p, moment[1], "v", names + p->n_desc);
    bool rounded = dtype != PIC_DT_F32;
    if (rounded) add_state(w, p, master, "master", names + 2 * p->n_desc);
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
    for (size_t i = 0; i < (rounded ? 3 : 2) * p->n_desc; i++) free(names[i]);
    free(names);
    free(path);
    free(moment[0]), free(moment[1]);
    return tmp;
}

void pic_ckpt_commit(char *tmp, const char *out) {
    if (!tmp) return;
    if (pic_atomic_dir_commit(tmp, out)) pic_die("%s: %s", out, strerror(errno));
    free(tmp);
}

void pic_grads_save(const pic_trainer *t, const char *path) {
    const pic_params *p = &t->model->params;
    pic_st_writer *w = pic_st_writer_new();
    for (size_t i = 0; i < p->n_desc; i++)
        pic_st_writer_add(w, p->desc[i].name, PIC_DT_F32, p->desc[i].ndim, p->desc[i].shape,
                          t->grad + p->desc[i].offset);
    pic_err err;
    if (pic_st_write(w, path, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
}
