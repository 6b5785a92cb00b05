/* safetensors files: read memory-mapped and validated (single files and
 * shards under model.safetensors.index.json), and written (f32, bf16 or f16) for
 * checkpoints. Format: an 8-byte little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {}},
 * then the data, which the tensors must cover exactly, without overlap. */
#ifndef PIC_MODEL_SAFETENSORS_H
#define PIC_MODEL_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/error.h"

typedef enum {
    PIC_DT_F32,
    PIC_DT_BF16,
    PIC_DT_F16,
    PIC_DT_OTHER, /* a valid safetensors dtype the model cannot use (I64, F64, ...) */
} pic_dtype;

enum { PIC_ST_MAX_DIMS = 8 };

typedef struct {
    char *name;
    pic_dtype dtype;
    char dtype_name[12]; /* as in the file: "F32", "BF16", "I64", ... */
    int ndim;
    int64_t shape[PIC_ST_MAX_DIMS];
    size_t numel;
    const unsigned char *data; /* inside the mapping; no alignment promised */
    size_t nbytes;
    const char *file;          /* the path it was read from */
} pic_st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t size;
    pic_st_tensor *tensors;
    size_t n;
} pic_st_file;

typedef struct {
    char *path; /* as opened */
    pic_st_file *files;
    size_t n_files;
    pic_st_tensor **sorted; /* every tensor of every file, by name */
    size_t n;
} pic_safetensors;

/* path: a .safetensors file, a model.safetensors.index.json, or a directory
 * holding either (model.safetensors wins, as in transformers). Returns 0, or -1 with a message naming the
 * file and, where it applies, the tensor. */
int pic_st_open(pic_safetensors *st, const char *path, pic_err *err);
void pic_st_close(pic_safetensors *st);
const pic_st_tensor *pic_st_find(const pic_safetensors *st, const char *name);

/* Converts F32/BF16/F16 to float32 into out (numel floats) and checks that
 * every value is finite; -1 with "FILE: tensor 'NAME': ..." otherwise. */
int pic_st_read_f32(const pic_st_tensor *t, float *out, pic_err *err);
/* The same into bfloat16 (numel values), as pic_st_read_f32 then
 * pic_f32_to_bf16 would give, without the floats: a BF16 tensor is its
 * own bytes (a model loaded onto a GPU in bf16, model.c). */
int pic_st_read_bf16(const pic_st_tensor *t, uint16_t *out, pic_err *err);

/* Scalar conversions, shared with the writer and later the GPU code. */
static inline float pic_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}
uint16_t pic_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
float pic_f16_to_f32(uint16_t h);
uint16_t pic_f32_to_f16(float f); /* round to nearest even; past 65504 infinity, NaN stays NaN */

/* A writer: tensors are referenced (not copied) until pic_st_write, which
 * converts to the requested dtype and writes the file atomically. */
typedef struct pic_st_writer pic_st_writer;
pic_st_writer *pic_st_writer_new(void);
void pic_st_writer_add(pic_st_writer *w, const char *name, pic_dtype dtype, int ndim,
                       const int64_t *shape, const float *data);
/* Where a tensor's values come from when they are not in host memory (a
 * GPU's training state): n values from element at of the tensor into dst.
 * Returns 0, or -1 with a message. */
typedef int (*pic_st_fill)(void *ctx, size_t at, float *dst, size_t n, pic_err *err);
/* A tensor whose values fill gives, a chunk at a time, while the file is
 * written: the host holds a chunk, never the tensor. */
void pic_st_writer_add_fill(pic_st_writer *w, const char *name, pic_dtype dtype, int ndim,
                            const int64_t *shape, pic_st_fill fill, void *ctx);
int pic_st_write(pic_st_writer *w, const char *path, pic_err *err);
/* A model's weights into dir as transformers writes them: model.safetensors,
 * or beyond max_shard bytes model-0000K-of-0000N.safetensors files and
 * model.safetensors.index.json. */
int pic_st_write_model(pic_st_writer *w, const char *dir, size_t max_shard, bool index, pic_err *err);
void pic_st_writer_free(pic_st_writer *w);

#endif
