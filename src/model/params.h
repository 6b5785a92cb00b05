/* All parameters of a model in ONE contiguous buffer, with a view per
 * tensor (karpathy/llm.c's ParameterTensors), so that gradients and AdamW's
 * m and v can be buffers of the same layout, zeroed, updated and reduced
 * across GPUs in single calls. The layout is a table of offsets in ELEMENTS
 * (pic_param_offsets), so a bf16 buffer on a GPU and a float buffer on the
 * host share it; the float views below are that table applied to a float
 * buffer.
 *
 * The order is fixed (docs/model.md): embed_tokens; then for each layer
 * input_layernorm, q_proj.weight, k_proj.weight, v_proj.weight, q/k/v biases,
 * q_norm, k_norm, o_proj.weight, o_proj.bias, post_attention_layernorm,
 * gate_proj.weight, up_proj.weight, gate/up biases, down_proj.weight,
 * down_proj.bias (absent tensors take no space); then norm; then lm_head
 * unless tied. Because q, k and v (and gate and up) are adjacent, wqkv and
 * wgu are single row-major matrices: one GEMM each. */
#ifndef PIC_MODEL_PARAMS_H
#define PIC_MODEL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/error.h"
#include "model/safetensors.h"

/* Where each tensor of a layer starts, in elements from the buffer's start
 * (PIC_PARAM_ABSENT for a tensor the config leaves out). */
#define PIC_PARAM_ABSENT SIZE_MAX
typedef struct {
    size_t ln1, wqkv, bqkv, q_norm, k_norm, wo, bo, ln2, wgu, bgu, wd, bd;
} pic_layer_offsets;

typedef struct {
    size_t embed, norm, lm_head; /* lm_head == embed when tied: an alias */
    pic_layer_offsets *layer;    /* [L] */
} pic_param_offsets;

typedef struct {
    float *ln1;     /* [C] */
    float *wqkv;    /* [qdim + 2 kvdim, C]: q_proj rows, k_proj rows, v_proj rows */
    float *bqkv;    /* [qdim + 2 kvdim] or NULL */
    float *q_norm;  /* [head_dim] or NULL */
    float *k_norm;  /* [head_dim] or NULL */
    float *wo;      /* [C, qdim] */
    float *bo;      /* [C] or NULL */
    float *ln2;     /* [C] */
    float *wgu;     /* [2F, C]: gate_proj rows, up_proj rows */
    float *bgu;     /* [2F] or NULL */
    float *wd;      /* [C, F] */
    float *bd;      /* [C] or NULL */
} pic_layer_params;

/* One HuggingFace tensor and where it lives in the buffer. */
typedef struct {
    char name[96]; /* e.g. "model.layers.3.self_attn.q_proj.weight" */
    size_t offset; /* in elements from the start of the buffer */
    int ndim;
    int64_t shape[2];
    size_t numel;
} pic_param_desc;

typedef struct {
    float *data;   /* the one buffer (64-byte aligned); NULL for a model on a GPU */
    size_t numel;
    pic_param_desc *desc; /* in buffer order */
    size_t n_desc;
    pic_param_offsets off;
    float *embed;  /* [V, C] */
    pic_layer_params *layer; /* [L] */
    float *norm;   /* [C] */
    float *lm_head; /* [V, C]; == embed when tied */
} pic_params;

/* The layout for c, without allocating: returns the number of elements. */
size_t pic_params_layout(const pic_config *c, pic_param_desc **desc, size_t *n_desc);
/* Allocates the buffer (zeroed) and sets the views. */
void pic_params_alloc(pic_params *p, const pic_config *c);
/* Points views of c's layout into an existing buffer of the same layout
 * (gradients, AdamW moments); data may be NULL (the layout only). */
void pic_params_views(pic_params *p, const pic_config *c, float *data);
/* Frees what pic_params_views allocated (not the buffer). */
void pic_params_views_free(pic_params *p);
void pic_params_free(pic_params *p);

/* Loads every tensor from st: present, of a float dtype, of the shape the
 * config implies, finite. Tensors the model does not use are an error, except
 * rotary_emb.inv_freq buffers and a tied lm_head.weight. */
int pic_params_load(pic_params *p, const pic_config *c, const pic_safetensors *st, pic_err *err);
/* pic_params_load's names and shapes, before anything is allocated: a
 * config.json whose sizes the weights do not have fails here, not after
 * allocating what it claims (a vocab_size of 1e8: 6 GB and 15 s). */
int pic_params_check(const pic_config *c, const pic_safetensors *st, pic_err *err);
/* Writes the parameters under their HuggingFace names (F32 or BF16). */
int pic_params_save(const pic_params *p, const char *path, pic_dtype dtype, pic_err *err);
/* Normal(0, std) weights from a seeded generator; norms 1, biases 0. */
void pic_params_init_random(pic_params *p, uint64_t seed, float std);

#endif
