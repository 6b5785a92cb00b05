/* The safetensors writer. Tensors are laid out in the order they were added,
 * the header is padded with spaces to a multiple of 8 bytes (so f32 data is
 * aligned when mapped), and "__metadata__": {"format": "pt"} is written
 * because transformers refuses files without it. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "model/safetensors.h"

typedef struct {
    char *name;
    pic_dtype dtype;
    int ndim;
    int64_t shape[PIC_ST_MAX_DIMS];
    size_t numel;
    pic_st_fill fill;
    void *ctx;
} entry;

struct pic_st_writer {
    entry *e;
    size_t n, cap;
};

pic_st_writer *pic_st_writer_new(void) { return pic_calloc(1, sizeof(pic_st_writer)); }

void pic_st_writer_add_fill(pic_st_writer *w, const char *name, pic_dtype dtype, int ndim, const int64_t *shape,
                            pic_st_fill fill, void *ctx) {
    if (dtype != PIC_DT_F32 && dtype != PIC_DT_BF16 && dtype != PIC_DT_F16)
        pic_die("safetensors writer: F32, BF16 or F16 only");
    if (ndim < 0 || ndim > PIC_ST_MAX_DIMS) pic_die("safetensors writer: tensor '%s': %d dims", name, ndim);
    if (w->n == w->cap) w->e = pic_realloc(w->e, (w->cap = w->cap * 2 + 16) * sizeof *w->e);
    entry *e = &w->e[w->n++];
    e->name = pic_strdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) e->numel *= (size_t)(e->shape[i] = shape[i]);
    e->fill = fill;
    e->ctx = ctx;
}

/* A tensor in host memory is one whose fill copies. */
static int from_memory(void *ctx, size_t at, float *dst, size_t n, pic_err *err) {
    (void)err;
    memcpy(dst, (const float *)ctx + at, n * sizeof *dst);
    return 0;
}

void pic_st_writer_add(pic_st_writer *w, const char *name, pic_dtype dtype, int ndim,
                       const int64_t *shape, const float *data) {
    pic_st_writer_add_fill(w, name, dtype, ndim, shape, from_memory, (void *)data);
}

static size_t esize(pic_dtype d) { return d == PIC_DT_F32 ? 4 : 2; }

/* fwrite that keeps the errno of the first short write in *werr. */
static void put(FILE *fp, const void *p, size_t n, int *werr) {
    if (!*werr && fwrite(p, 1, n, fp) != n) *werr = errno ? errno : EIO;
}

/* One file of the tensors [lo, hi). */
static int write_range(pic_st_writer *w, size_t lo, size_t hi, const char *path, pic_err *err) {
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (size_t i = lo; i < hi; i++) {
        entry *e = &w->e[i];
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
        size_t nb = e->numel * esize(e->dtype);
        json_object_set_new(h, e->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype",
                                      e->dtype == PIC_DT_F32 ? "F32" : e->dtype == PIC_DT_BF16 ? "BF16" : "F16",
                                      "shape", shape, "data_offsets", (json_int_t)off, (json_int_t)(off + nb)));
        off += nb;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t hlen = strlen(text), padded = (hlen + 7) / 8 * 8;

    pic_atomic_file af;
    FILE *fp = pic_atomic_open(&af, path);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    /* The first failed write ends the file: on a full disk the rest of a
     * model's gigabytes would fail too, slowly. Its errno says why. */
    int werr = 0;
    put(fp, len8, 8, &werr);
    put(fp, text, hlen, &werr);
    for (size_t i = hlen; i < padded && !werr; i++) put(fp, " ", 1, &werr);
    free(text);
    /* a chunk large enough that a fill from a GPU is a copy of 4 MB, not
     * a copy a few microseconds long, and small beside any tensor's host copy */
    enum { CHUNK = 1 << 20 };
    float *vals = pic_malloc(CHUNK * sizeof *vals);
    unsigned char *buf = pic_malloc(CHUNK * 2);
    int rc = 0;
    for (size_t i = lo; i < hi && !rc && !werr; i++) {
        entry *e = &w->e[i];
        for (size_t at = 0; at < e->numel && !rc && !werr; at += CHUNK) {
            size_t n = e->numel - at < CHUNK ? e->numel - at : CHUNK;
            pic_err why;
            if ((rc = e->fill(e->ctx, at, vals, n, &why))) {
                pic_err_set(err, "%s: tensor '%s': %s", path, e->name, why.msg);
                break;
            }
            if (e->dtype == PIC_DT_F32) {
                put(fp, vals, n * 4, &werr);
                continue;
            }
            for (size_t j = 0; j < n && !rc; j++) {
                uint16_t b = e->dtype == PIC_DT_BF16 ? pic_f32_to_bf16(vals[j]) : pic_f32_to_f16(vals[j]);
                /* a finite weight past f16's range would be written as an
                 * infinity, which no reader of the checkpoint accepts */
                if (e->dtype == PIC_DT_F16 && (b & 0x7fff) == 0x7c00 && isfinite(vals[j]))
                    rc = pic_err_set(err, "%s: tensor '%s': element %zu is %g, beyond float16's range (65504)",
                                     path, e->name, at + j, vals[j]);
                buf[2 * j] = (unsigned char)b;
                buf[2 * j + 1] = (unsigned char)(b >> 8);
            }
            if (!rc) put(fp, buf, n * 2, &werr);
        }
    }
    free(vals);
    free(buf);
    if (rc) {
        pic_atomic_abort(&af);
        return -1;
    }
    if (werr || ferror(fp)) {
        pic_atomic_abort(&af);
        return pic_err_set(err, "%s: write error: %s", path, strerror(werr ? werr : EIO));
    }
    if (pic_atomic_commit(&af) != 0) return pic_err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* A name given twice (or the header's own "__metadata__") would leave one
 * header entry for two tensors' bytes, which safetensors' reader refuses
 * (MetadataIncompleteBuffer): refused before any file is written. */
static int names_unique(const pic_st_writer *w, const char *where, pic_err *err) {
    json_t *seen = json_object();
    json_object_set_new(seen, "__metadata__", json_true());
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        if (json_object_get(seen, w->e[i].name))
            rc = pic_err_set(err, "%s: tensor '%s' named twice (or the header's own name)", where, w->e[i].name);
        json_object_set_new(seen, w->e[i].name, json_true());
    }
    json_decref(seen);
    return rc;
}

int pic_st_write(pic_st_writer *w, const char *path, pic_err *err) {
    if (names_unique(w, path, err)) return -1;
    return write_range(w, 0, w->n, path, err);
}

/* As transformers' save_pretrained: tensors in order, a new shard when the
 * next tensor would take the current one past max_shard (a tensor larger
 * than that gets a shard of its own), and the index names each tensor's
 * file; with index, one file gets an index too. */
int pic_st_write_model(pic_st_writer *w, const char *dir, size_t max_shard, bool index, pic_err *err) {
    if (names_unique(w, dir, err)) return -1;
    size_t total = 0, n_shards = 0, size = 0;
    size_t *first = pic_malloc((w->n + 2) * sizeof *first); /* shard k: tensors [first[k], first[k+1]) */
    for (size_t i = 0; i < w->n; i++) {
        size_t nb = w->e[i].numel * esize(w->e[i].dtype);
        if (i == 0 || size + nb > max_shard) first[n_shards++] = i, size = 0;
        size += nb;
        total += nb;
    }
    first[n_shards] = w->n;
    int rc = 0;
    if (n_shards <= 1 && !index) {
        char *path = pic_asprintf("%s/model.safetensors", dir);
        rc = pic_st_write(w, path, err);
        free(path);
        free(first);
        return rc;
    }
    if (n_shards == 0) first[n_shards++] = 0, first[1] = w->n;
    json_t *map = json_object();
    for (size_t k = 0; k < n_shards && !rc; k++) {
        char *name = n_shards == 1 ? pic_strdup("model.safetensors")
                                   : pic_asprintf("model-%05zu-of-%05zu.safetensors", k + 1, n_shards);
        char *path = pic_asprintf("%s/%s", dir, name);
        rc = write_range(w, first[k], first[k + 1], path, err);
        for (size_t i = first[k]; i < first[k + 1]; i++) json_object_set_new(map, w->e[i].name, json_string(name));
        free(path);
        free(name);
    }
    if (!rc) {
        json_t *index = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
        char *text = json_dumps(index, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *path = pic_asprintf("%s/model.safetensors.index.json", dir);
        if (pic_write_file_atomic(path, text, strlen(text)) != 0) rc = pic_err_set(err, "%s: %s", path, strerror(errno));
        free(path);
        free(text);
        json_decref(index);
    } else {
        json_decref(map);
    }
    free(first);
    return rc;
}

void pic_st_writer_free(pic_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w);
}
