/* The safetensors writer. Tensors are laid out in the order they were added,
 * the header is padded with spaces to a multiple of 8 bytes (so f32 data is
 * aligned when mapped), and "__metadata__": {"format": "pt"} is written
 * because transformers refuses files without it. */
#include <errno.h>
#include <jansson.h>
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
    const float *data;
} entry;

struct pic_st_writer {
    entry *e;
    size_t n, cap;
};

pic_st_writer *pic_st_writer_new(void) { return pic_calloc(1, sizeof(pic_st_writer)); }

void pic_st_writer_add(pic_st_writer *w, const char *name, pic_dtype dtype, int ndim,
                       const int64_t *shape, const float *data) {
    if (dtype != PIC_DT_F32 && dtype != PIC_DT_BF16) pic_die("safetensors writer: F32 or BF16 only");
    if (ndim < 0 || ndim > PIC_ST_MAX_DIMS) pic_die("safetensors writer: tensor '%s': %d dims", name, ndim);
    if (w->n == w->cap) w->e = pic_realloc(w->e, (w->cap = w->cap * 2 + 16) * sizeof *w->e);
    entry *e = &w->e[w->n++];
    e->name = pic_strdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) e->numel *= (size_t)(e->shape[i] = shape[i]);
    e->data = data;
}

static size_t esize(pic_dtype d) { return d == PIC_DT_F32 ? 4 : 2; }

int pic_st_write(pic_st_writer *w, const char *path, pic_err *err) {
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        entry *e = &w->e[i];
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
        size_t nb = e->numel * esize(e->dtype);
        json_object_set_new(h, e->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", e->dtype == PIC_DT_F32 ? "F32" : "BF16",
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
    fwrite(len8, 1, 8, fp);
    fwrite(text, 1, hlen, fp);
    for (size_t i = hlen; i < padded; i++) fputc(' ', fp);
    free(text);
    enum { CHUNK = 1 << 14 };
    unsigned char *buf = pic_malloc(CHUNK * 4);
    for (size_t i = 0; i < w->n; i++) {
        entry *e = &w->e[i];
        for (size_t at = 0; at < e->numel; at += CHUNK) {
            size_t n = e->numel - at < CHUNK ? e->numel - at : CHUNK;
            if (e->dtype == PIC_DT_F32) {
                memcpy(buf, e->data + at, n * 4);
            } else {
                for (size_t j = 0; j < n; j++) {
                    uint16_t b = pic_f32_to_bf16(e->data[at + j]);
                    buf[2 * j] = (unsigned char)b;
                    buf[2 * j + 1] = (unsigned char)(b >> 8);
                }
            }
            fwrite(buf, 1, n * esize(e->dtype), fp);
        }
    }
    free(buf);
    if (ferror(fp)) {
        pic_atomic_abort(&af);
        return pic_err_set(err, "%s: write error", path);
    }
    if (pic_atomic_commit(&af) != 0) return pic_err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

void pic_st_writer_free(pic_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w);
}
