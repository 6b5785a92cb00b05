/* A loaded model and its forward pass, on the CPU (float32) or on a CUDA
 * GPU (bf16 or float32). The device is chosen once, at load; the programs
 * call the same functions whatever it is, and only the model library
 * branches (forward.c -> cuda/forward.cu, docs/gpu.md). The sampler calls
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

/* The CPU's arena: one allocation for the activations of up to cap tokens
 * and every scratch buffer a forward pass needs, so that pic_forward and
 * pic_forward_stats allocate nothing once it is big enough (pic_model_reserve
 * sizes it ahead; a forward over more tokens grows it first). */
typedef struct {
    size_t cap;             /* tokens the buffers hold */
    int cap_seq, cap_ctx;   /* sequences per batch, positions per sequence */
    bool retain;            /* keep every layer's activations (else one set, reused) */
    bool recompute;         /* with retain: keep every layer's output only (res2), the rest in one
                             * set that the backward refills layer by layer (pic_model_recompute) */
    float *mem;
    float *x;               /* [N, C]: token embeddings, the input of layer 0 */
    pic_layer_acts *layer;  /* [L] when retain, else [1] */
    float *lnf, *lnf_rstd;  /* [N, C], [N]: final norm, the lm_head's input */
    float *cos, *sin;       /* [N, head_dim / 2] */
    int *tok_seq, *tok_pos; /* [N] */
    size_t *first;          /* [n_seq]: each sequence's first token in the batch */
    size_t *seq_off;        /* [n_seq]: elements from a key base to the sequence's position 0 */
    float *head_x, *head_z; /* [PIC_HEAD_ROWS, C], [PIC_HEAD_ROWS, V]: a block of rows through lm_head */
    float *dlnf;            /* [N, C] with retain: the loss's gradient at lnf (the trainer's) */
    float *bwd;             /* with retain: pic_backward's scratch (backward.c) */
    void *attn_work;        /* attention_forward's workspace, for `threads` threads */
    size_t attn_work_bytes;
    int threads;
} pic_acts;

/* Rows of logits that exist at once (pic_forward_stats, PIC_LOGITS_*). */
enum { PIC_HEAD_ROWS = 64 };

typedef enum {
    PIC_DEVICE_AUTO, /* a CUDA GPU when this build has CUDA and one is visible, else the CPU */
    PIC_DEVICE_CPU,
    PIC_DEVICE_CUDA,
} pic_device;

typedef enum {
    PIC_DTYPE_AUTO, /* the device's default: f32 on the CPU, bf16 on a GPU */
    PIC_DTYPE_F32,
    PIC_DTYPE_BF16,
} pic_model_dtype;

typedef struct {
    pic_device device;
    pic_model_dtype dtype;
    /* tokens one forward may hold on a GPU (the arena allocated at load);
     * 0: PIC_DEFAULT_BATCH_TOKENS. The CPU's arena grows instead. */
    size_t max_batch_tokens;
    /* on a GPU, a model to train: its forward's activations will live in
     * the training state (pic_train_init_cuda, which must follow), so the
     * arena holds no layer activations of its own (5.5 GB at 7B for 32k
     * tokens); a forward before that state exists is refused */
    bool training;
    /* which of the visible GPUs, modulo their count: the ranks of a job
     * pass their rank on their machine (pic_dist_local_rank), so that each
     * takes its own, as pic_nccl_init does */
    int gpu;
} pic_model_opts;

/* The arrays of a training state (pic-update's), each in the parameters'
 * layout: the fp32 master weights, the gradient, AdamW's two moments. */
typedef enum { PIC_STATE_MASTER, PIC_STATE_GRAD, PIC_STATE_M, PIC_STATE_V } pic_state_array;

enum { PIC_DEFAULT_BATCH_TOKENS = 32768 };

typedef struct pic_cuda_model pic_cuda_model; /* cuda/model.cu */

typedef struct {
    pic_config cfg;
    pic_device device;      /* CPU or CUDA, never AUTO once loaded */
    int gpu;                /* on a GPU: pic_model_opts.gpu */
    pic_model_dtype dtype;  /* F32 or BF16 */
    /* Matrix products in one fixed order whatever the batch (matmul_bi.h),
     * for this model's forward passes: generation and scoring set it, so
     * that a sample scores exactly as it was generated. On a GPU it selects
     * the device's fixed-order product (cuda/matmul_bi.cu) over cuBLASLt. */
    bool batch_invariant;
    pic_params params;      /* on a GPU: the layout only (data NULL) */
    float *inv_freq;        /* [head_dim / 2] */
    pic_acts acts;          /* CPU only */
    size_t n_tokens;        /* of the last forward */
    pic_cuda_model *cuda;   /* the device state of a model on a GPU */
} pic_model;

/* Loads config.json (+ generation_config.json) and the safetensors weights
 * of a model directory onto the device of opts (NULL: the CPU, float32). */
int pic_model_load(pic_model *m, const char *dir, const pic_model_opts *opts, pic_err *err);
/* A CPU model of config c with zeroed parameters (fill them, or random-init). */
void pic_model_init(pic_model *m, const pic_config *c);
/* Moves a CPU model to the device of opts (the host copy of its weights is
 * freed when that is a GPU). Fails with a message when the device is not
 * available or its memory does not hold the weights and the arena. */
int pic_model_to_device(pic_model *m, const pic_model_opts *opts, pic_err *err);
/* The model of dir's config.json with its weights' names, shapes and
 * dtypes checked, the layout only (params.data NULL, the CPU's device):
 * for one whose weights go straight onto a GPU later (pic_model_load with
 * the device's options), never whole on the host. */
int pic_model_layout(pic_model *m, const char *dir, pic_err *err);
/* A model of config c with random weights (pic_params_init_random's
 * distribution) on the device of opts: on a GPU they are drawn there, and
 * the host never holds them (benchmarks of large models). */
int pic_model_random(pic_model *m, const pic_config *c, const pic_model_opts *opts, uint64_t seed, float std,
                     pic_err *err);
void pic_model_free(pic_model *m);
/* A KV cache of n_pages pages for generating with m, on m's device
 * (model's storage type on a GPU); n_pages 0: enough for every slot at
 * max_len, or on a GPU as many as its free memory holds when that is
 * fewer (kvcache.c). NULL with a message when the GPU's memory does not
 * hold it. */
pic_kvcache *pic_kvcache_for(const pic_model *m, int n_slots, int max_len, int n_pages, pic_err *err);
/* Keep all layers' activations after a forward (for a backward pass; CPU). */
void pic_model_retain(pic_model *m, bool retain);
/* Keep each layer's input only, and let the backward recompute the rest of
 * a layer's activations just before its backward (CPU; the gradient is the
 * same bits: the forward is deterministic). Implies retain. */
void pic_model_recompute(pic_model *m, bool recompute);
/* Sizes the arena for forwards of up to `tokens` tokens in up to n_seq
 * sequences of up to ctx positions, so that they allocate nothing. */
void pic_model_reserve(pic_model *m, size_t tokens, int n_seq, int ctx);

/* Whether this build has the CUDA backend and a GPU is visible. */
bool pic_cuda_available(void);
/* "cpu" / "cuda", "f32" / "bf16" (for summaries); parse a flag's value (-1: unknown). */
const char *pic_device_name(pic_device d);
const char *pic_model_dtype_name(pic_model_dtype t);
int pic_device_parse(const char *s);
int pic_model_dtype_parse(const char *s);
/* The device AUTO resolves to here, and the dtype of a device. */
pic_device pic_device_resolve(pic_device d);
pic_model_dtype pic_model_dtype_resolve(pic_model_dtype t, pic_device d);

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
 * the slot grows by len[i]. Returns 0, or -1 (bad token id, slot overflow,
 * more tokens than a GPU's arena holds) with a message. kv must be on m's
 * device (pic_kvcache_for). logits are host memory, computed a block of
 * rows at a time. */
int pic_forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, float *logits,
                pic_err *err);

/* pic_forward for a caller that works on the logits where they are, on a
 * GPU (the device sampler, rollout/cuda/sampler.h): instead of a copy to
 * the host, fn(ctx, i, k, z, stream, err) for each block of the wanted rows
 * (rows i..i+k-1 of which's [n_seq or N] rows), z being that block's
 * logits [k, V] in the model's device memory, valid during the call, and
 * stream the cudaStream_t they were computed on, where fn queues its work
 * and which it synchronizes before it returns. fn returns 0, or -1 with a
 * message, which stops the pass. On the CPU it fails with a message (the
 * logits are host memory there: pic_forward). */
typedef int (*pic_head_fn)(void *ctx, size_t i, size_t k, const float *z, void *stream, pic_err *err);
int pic_forward_head(pic_model *m, pic_kvcache *kv, const pic_batch *b, pic_logits which, pic_head_fn fn, void *ctx,
                     pic_err *err);

/* After pic_forward: for n rows (token indices of the last batch), log p of
 * targets[i] under softmax(logits / T) and the entropy of that softmax.
 * Logits are computed a block of rows at a time. logp or ent may be NULL.
 * All arrays are host memory. Returns 0, or -1 with a message (a row
 * outside the last batch, a device error). */
int pic_forward_stats(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T, float *logp,
                      float *ent, pic_err *err);

#endif
