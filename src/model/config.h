/* A HuggingFace config.json (model_type qwen2, qwen3, llama, mistral) reduced
 * to the numbers the transformer needs. Both key layouts are read: the hub's
 * classic one (rope_theta, rope_scaling, torch_dtype) and transformers 5's
 * (rope_parameters, dtype). generation_config.json, when present beside it,
 * adds its eos ids. */
#ifndef PIC_MODEL_CONFIG_H
#define PIC_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/error.h"

enum { PIC_MAX_EOS = 16, PIC_MAX_HEAD_DIM = 512 };

typedef enum {
    PIC_ROPE_DEFAULT,
    PIC_ROPE_LINEAR,
    PIC_ROPE_LLAMA3,
    PIC_ROPE_YARN,
    PIC_ROPE_DYNAMIC, /* dynamic NTK: the base grows only past max_position_embeddings, where pic never goes */
} pic_rope_type;

typedef struct {
    pic_rope_type type;
    double theta;
    double factor;                 /* linear, llama3, yarn, dynamic */
    double low_freq_factor;        /* llama3 */
    double high_freq_factor;       /* llama3 */
    int original_max_position;     /* llama3, yarn; dynamic: max_position_embeddings */
    double beta_fast, beta_slow;   /* yarn */
    double attention_factor;       /* yarn: scales cos and sin; 1 otherwise */
    bool truncate;                 /* yarn */
} pic_rope_config;

typedef struct {
    char model_type[32];
    int vocab_size;
    int hidden_size;        /* C */
    int intermediate_size;  /* F */
    int n_layers;           /* L */
    int n_heads;
    int n_kv_heads;
    int head_dim;           /* may differ from hidden_size / n_heads (qwen3) */
    int max_position;
    float rms_eps;
    bool tie_embeddings;
    bool qkv_bias;          /* qwen2 always; llama/qwen3 when attention_bias */
    bool o_bias;            /* llama/qwen3 attention_bias */
    bool mlp_bias;          /* llama mlp_bias */
    bool qk_norm;           /* qwen3 */
    pic_rope_config rope;
    int bos_id;             /* -1 when none */
    int pad_id;             /* pad_token_id, the embedding's padding_idx: -1 when none */
    int n_eos;
    int eos_ids[PIC_MAX_EOS];
    char dtype[16];         /* the checkpoint's declared dtype ("float32", "bfloat16", ...) */
} pic_config;

/* path is a model directory (its config.json is read, and its
 * generation_config.json when present) or a config.json file. Returns 0, or
 * -1 with a message naming the file and the key in err. */
int pic_config_load(pic_config *c, const char *path, pic_err *err);
/* The same from JSON text of len bytes (a NUL byte among them is malformed);
 * name is used in messages. */
int pic_config_parseb(pic_config *c, const char *text, size_t len, const char *name, pic_err *err);
/* pic_config_parseb of a C string: the built-in configs. */
int pic_config_parse(pic_config *c, const char *text, const char *name, pic_err *err);
/* Checks the numbers are consistent (divisibility, positivity). */
int pic_config_validate(const pic_config *c, const char *name, pic_err *err);

bool pic_config_is_eos(const pic_config *c, int id);
/* Writes config.json text (malloc'd) for checkpoints: transformers 5's keys
 * (rope_parameters, dtype) and 4.x's beside them (rope_theta, rope_scaling,
 * torch_dtype), which either reads as the same config. */
char *pic_config_to_json(const pic_config *c);

/* The benchmarks' built-in model: a 9.35M-parameter Llama (hidden 256, 10
 * layers, vocabulary 8192), so forward and training speeds compare. */
extern const char pic_bench_config_json[];

#endif
