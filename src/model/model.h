/* A loaded model and its forward pass (CPU, float32). The sampler calls
 * pic_forward with a KV cache (prefill, then one token per sequence per
 * step); the scorer and the trainer call it without one over packed
 * sequences, and read the final hidden states or the activations. */
#ifndef PIC_MODEL_MODEL_H
#define PIC_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/error.h"
#include "model/kvcache.h"
#include "model/params.h"

/* One layer's activations, [N, ...] for the N tokens of the last forward:
 * what a backward pass needs (llm.c's ActivationTensors). */
typedef struct {
    float *ln1, *ln1_rstd;    /* [N, C], [N]: input_layernorm output and 1/rms */
    float *qkv;               /* [N, qd + 2 kvd]: fused projection (+ bias) */
    float *q, *k, *v;         /* [N, qd], [N, kvd] x2: after q/k norm and RoPE */
    float *qn_rstd, *kn_rstd; /* [N, n_heads], [N, n_kv_heads]: qwen3 q/k norm */
    float *att, *att_lse;     /* [N, qd], [N, n_heads]: attention output, softmax log-sum-exp */
    float *res1;              /* [N, C]: residual after attention */
    float *ln2, *ln2_rstd;    /* [N, C], [N] */
    float *gu;                /* [N, 2F]: gate and up projections */
    float *h;                 /* [N, F]: silu(gate) * up */
    float *res2;              /* [N, C]: residual after the MLP, the layer's output */
} pic_layer_acts;

typedef struct {
    size_t cap;             /* tokens the buffers hold */
    bool retain;            /* keep every layer's activations (else one set, reused) */
    float *mem;
    float *x;               /* [N, C]: token embeddings, the input of layer 0 */
    pic_layer_acts *layer;  /* [L] when retain, else [1] */
    float *lnf, *lnf_rstd;  /* [N, C], [N]: final norm, the lm_head's input */
    float *cos, *sin;       /* [N, head_dim / 2] */
    int *tok_seq, *tok_pos; /* [N] */
} pic_acts;

typedef struct {
    pic_config cfg;
    pic_params params;
    float *inv_freq; /* [head_dim / 2] */
    pic_acts acts;
    size_t n_tokens; /* of the last forward */
} pic_model;

/* Loads config.json (+ generation_config.json) and the safetensors weights
 * of a model directory. */
int pic_model_load(pic_model *m, const char *dir, pic_err *err);
/* A model of config c with zeroed parameters (fill them, or random-init). */
void pic_model_init(pic_model *m, const pic_config *c);
void pic_model_free(pic_model *m);
/* Keep all layers' activations after a forward (for a backward pass). */
void pic_model_retain(pic_model *m, bool retain);

typedef struct {
    int n_seq;
    const int *len;        /* new tokens of each sequence (>= 1) */
    const int32_t *tokens; /* sum(len) tokens, sequence after sequence */
    const int *slot;       /* with a cache: each sequence's slot (NULL: slot i) */
} pic_batch;

typedef enum {
    PIC_LOGITS_NONE, /* hidden states only (m->acts.lnf) */
    PIC_LOGITS_LAST, /* [n_seq, V]: each sequence's last new token */
    PIC_LOGITS_ALL,  /* [N, V] */
} pic_logits;

/* Runs the model over the batch. Without a cache every sequence starts at
 * position 0; with one, sequence i continues slot[i] from its length and
 * the slot grows by len[i]. Returns 0, or -1 (bad token id, slot overflow)
 * with a message. */
int pic_forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, float *logits,
                pic_err *err);

/* After pic_forward: for n rows (token indices of the last batch), log p of
 * targets[i] under softmax(logits / T) and the entropy of that softmax.
 * Logits are computed a block of rows at a time. logp or ent may be NULL. */
void pic_forward_stats(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                       float *logp, float *ent);

#endif
