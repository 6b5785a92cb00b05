/* config.json -> pic_config. HuggingFace's defaults are reproduced where a key
 * is absent, since the hub's files omit whatever equals the class default. */
#include "model/config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cli.h"
#include "common/json.h"

typedef struct {
    const char *file;
    pic_err *err;
} ctx;

/* An integer key: absent or null gives dflt (or an error when dflt < -1). */
static int get_int(ctx *x, const json_t *o, const char *key, long long dflt, long long min,
                   long long max, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (dflt == LLONG_MIN) return pic_err_set(x->err, "%s: missing key '%s'", x->file, key);
        *out = (int)dflt;
        return 0;
    }
    if (!json_is_integer(v))
        return pic_err_set(x->err, "%s: key '%s': expected an integer", x->file, key);
    long long n = json_integer_value(v);
    if (n < min || n > max)
        return pic_err_set(x->err, "%s: key '%s': %lld is out of range [%lld, %lld]", x->file, key, n,
                           min, max);
    *out = (int)n;
    return 0;
}

static int get_num(ctx *x, const json_t *o, const char *key, double dflt, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (isnan(dflt)) return pic_err_set(x->err, "%s: missing key '%s'", x->file, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return pic_err_set(x->err, "%s: key '%s': expected a number", x->file, key);
    *out = json_number_value(v);
    if (!isfinite(*out)) return pic_err_set(x->err, "%s: key '%s': not finite", x->file, key);
    return 0;
}

static int get_bool(ctx *x, const json_t *o, const char *key, bool dflt, bool *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return pic_err_set(x->err, "%s: key '%s': expected true or false", x->file, key);
    *out = json_is_true(v);
    return 0;
}

/* eos_token_id is a number, a list of numbers or null; ids are merged into c
 * without duplicates so generation_config.json can add to config.json's. */
static int add_eos(ctx *x, pic_config *c, const json_t *v, const char *key) {
    if (!v || json_is_null(v)) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX)
            return pic_err_set(x->err, "%s: key '%s': expected a token id or a list of them", x->file,
                               key);
        int id = (int)json_integer_value(e);
        if (pic_config_is_eos(c, id)) continue;
        if (c->n_eos == PIC_MAX_EOS)
            return pic_err_set(x->err, "%s: key '%s': more than %d eos ids", x->file, key, PIC_MAX_EOS);
        c->eos_ids[c->n_eos++] = id;
    }
    return 0;
}

static int parse_rope(ctx *x, pic_config *c, const json_t *root) {
    pic_rope_config *r = &c->rope;
    /* transformers 5 keeps everything in rope_parameters; the classic layout
     * has rope_theta beside rope_scaling (null for the default type). With
     * both, rope_scaling wins, as in transformers (rope_scaling or
     * rope_parameters). */
    const json_t *params = json_object_get(root, "rope_scaling");
    const char *where = "rope_scaling";
    if (!params || json_is_null(params) || (json_is_object(params) && !json_object_size(params))) {
        params = json_object_get(root, "rope_parameters");
        where = "rope_parameters";
    }
    if (params && !json_is_null(params) && !json_is_object(params))
        return pic_err_set(x->err, "%s: key '%s': expected an object", x->file, where);
    if (params && json_is_null(params)) params = NULL;
    /* transformers 5 nests the parameters per layer type when they differ
     * ({"full_attention": {...}, "sliding_attention": {...}}); only full
     * attention layers get here (layer_types is checked first), so theirs
     * are the ones that apply */
    const json_t *full = params ? json_object_get(params, "full_attention") : NULL;
    if (full && json_is_object(full) && !json_object_get(params, "rope_type") && !json_object_get(params, "type")) {
        params = full;
        where = !strcmp(where, "rope_scaling") ? "rope_scaling.full_attention" : "rope_parameters.full_attention";
    }

    double theta = NAN;
    if (params && json_object_get(params, "rope_theta")) {
        if (get_num(x, params, "rope_theta", NAN, &theta)) return -1;
    } else if (get_num(x, root, "rope_theta", 10000.0, &theta)) {
        return -1;
    }
    if (theta <= 0) return pic_err_set(x->err, "%s: rope_theta must be positive", x->file);
    r->theta = theta;
    r->factor = 1;
    r->attention_factor = 1;
    r->type = PIC_ROPE_DEFAULT;

    double prf = 1;
    if (get_num(x, root, "partial_rotary_factor", 1, &prf)) return -1;
    if (params && get_num(x, params, "partial_rotary_factor", prf, &prf)) return -1;
    if (prf != 1)
        return pic_err_set(x->err, "%s: partial_rotary_factor %g is not supported (only 1)", x->file,
                           prf);
    if (!params) return 0;

    const json_t *t = json_object_get(params, "rope_type");
    if (!t) t = json_object_get(params, "type");
    const char *type = t && json_is_string(t) ? json_string_value(t) : NULL;
    if (t && !type) return pic_err_set(x->err, "%s: key '%s.rope_type': expected a string", x->file, where);
    if (!type || !strcmp(type, "default")) return 0;
    /* the type first: longrope (Phi-3's) has no factor, and was refused
     * as "missing key 'factor'" rather than as the type it is */
    static const char *const known[] = {"linear", "dynamic", "llama3", "yarn"};
    bool supported = false;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) supported |= !strcmp(type, known[i]);
    if (!supported)
        return pic_err_set(x->err,
                           "%s: unsupported rope_type %s in '%s' (supported: default, linear, dynamic, llama3, yarn)",
                           x->file, type, where);

    /* transformers' standardize_rope_params: a top-level
     * original_max_position_embeddings replaces the rope object's */
    int orig_top = 0;
    if (get_int(x, root, "original_max_position_embeddings", 0, 1, INT32_MAX, &orig_top)) return -1;
    json_t *fv = json_object_get(params, "factor");
    bool factor_null = fv && json_is_null(fv) && !strcmp(type, "yarn");
    if (!factor_null && get_num(x, params, "factor", NAN, &r->factor)) return -1;
    if (!factor_null && r->factor <= 0)
        return pic_err_set(x->err, "%s: key '%s.factor' must be positive", x->file, where);
    if (!strcmp(type, "linear")) {
        r->type = PIC_ROPE_LINEAR;
    } else if (!strcmp(type, "dynamic")) {
        /* transformers recomputes the base from the longest position of a
         * call once it passes max_position_embeddings; up to there (all pic
         * ever computes: longer sequences are refused) the base is
         * theta * (factor * L / L - (factor - 1)) ** (d / (d - 2)), L =
         * max_position_embeddings, evaluated in that order in rope.c */
        r->type = PIC_ROPE_DYNAMIC;
        r->original_max_position = c->max_position;
        if (c->head_dim <= 2)
            return pic_err_set(x->err, "%s: dynamic rope needs head_dim > 2 (transformers divides by head_dim - 2)",
                               x->file);
    } else if (!strcmp(type, "llama3")) {
        r->type = PIC_ROPE_LLAMA3;
        /* without original_max_position_embeddings, transformers takes
         * max_position_embeddings */
        if (get_num(x, params, "low_freq_factor", NAN, &r->low_freq_factor) ||
            get_num(x, params, "high_freq_factor", NAN, &r->high_freq_factor) ||
            get_int(x, params, "original_max_position_embeddings", c->max_position, 1, INT32_MAX,
                    &r->original_max_position))
            return -1;
        if (orig_top) r->original_max_position = orig_top;
        if (r->high_freq_factor <= r->low_freq_factor)
            return pic_err_set(x->err, "%s: llama3 rope needs high_freq_factor > low_freq_factor",
                               x->file);
    } else if (!strcmp(type, "yarn")) {
        r->type = PIC_ROPE_YARN;
        if (get_int(x, params, "original_max_position_embeddings", c->max_position, 1, INT32_MAX,
                    &r->original_max_position) ||
            get_num(x, params, "beta_fast", 32, &r->beta_fast) ||
            get_num(x, params, "beta_slow", 1, &r->beta_slow) ||
            get_bool(x, params, "truncate", true, &r->truncate))
            return -1;
        if (orig_top) r->original_max_position = orig_top;
        /* transformers reads these with `or`: 0 (or null) means the default,
         * and a truncate of null means no truncation (None is falsy) */
        if (r->beta_fast == 0) r->beta_fast = 32;
        if (r->beta_slow == 0) r->beta_slow = 1;
        json_t *tv = json_object_get(params, "truncate");
        if (tv && json_is_null(tv)) r->truncate = false;
        /* a null factor: the context's growth over the pretrained length */
        if (factor_null) r->factor = (double)c->max_position / r->original_max_position;
        double mscale = 0, mscale_all = 0, af = NAN;
        if (get_num(x, params, "mscale", 0, &mscale) ||
            get_num(x, params, "mscale_all_dim", 0, &mscale_all))
            return -1;
        json_t *afv = json_object_get(params, "attention_factor");
        if (afv && !json_is_null(afv) && get_num(x, params, "attention_factor", 1, &af)) return -1;
        /* HF's get_mscale: 0.1 * m * ln(factor) + 1, and 1 for factor <= 1 */
#define MSCALE(f, m) ((f) <= 1 ? 1.0 : 0.1 * (m) * log(f) + 1.0)
        if (!isnan(af))
            r->attention_factor = af;
        else if (mscale != 0 && mscale_all != 0)
            r->attention_factor = MSCALE(r->factor, mscale) / MSCALE(r->factor, mscale_all);
        else
            r->attention_factor = MSCALE(r->factor, 1.0);
#undef MSCALE
    }
    return 0;
}

/* A JSON file's whole text, through the one reader of pic's JSON
 * (pic_json_loadb): a raw NUL byte is malformed, not the end of the text, and
 * so is anything after the value. NULL with err filled naming the file, the
 * line and the column. */
static json_t *load_json(const char *text, size_t len, const char *name, pic_err *err) {
    json_error_t je;
    json_t *root = pic_json_loadb(text, len, 0, &je);
    if (!root) pic_err_set(err, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
    return root;
}

int pic_config_parse(pic_config *c, const char *text, const char *name, pic_err *err) {
    return pic_config_parseb(c, text, strlen(text), name, err);
}

int pic_config_parseb(pic_config *c, const char *text, size_t len, const char *name, pic_err *err) {
    ctx x = {name, err};
    memset(c, 0, sizeof *c);
    json_t *root = load_json(text, len, name, err);
    if (!root) return -1;
    int rc = -1;
    if (!json_is_object(root)) {
        pic_err_set(err, "%s: expected a JSON object", name);
        goto out;
    }
    const json_t *mt = json_object_get(root, "model_type");
    if (!mt || !json_is_string(mt)) {
        pic_err_set(err, "%s: missing key 'model_type'", name);
        goto out;
    }
    const char *type = json_string_value(mt);
    bool qwen2 = !strcmp(type, "qwen2"), qwen3 = !strcmp(type, "qwen3");
    bool mistral = !strcmp(type, "mistral"), llama = !strcmp(type, "llama") || mistral;
    if (!qwen2 && !qwen3 && !llama) {
        pic_err_set(err, "%s: unsupported model_type %s (supported: qwen2, qwen3, llama, mistral)", name,
                    type);
        goto out;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", type);

    const long long big = 1 << 30;
    if (get_int(&x, root, "vocab_size", LLONG_MIN, 1, INT32_MAX, &c->vocab_size) ||
        get_int(&x, root, "hidden_size", LLONG_MIN, 1, big, &c->hidden_size) ||
        get_int(&x, root, "intermediate_size", LLONG_MIN, 1, big, &c->intermediate_size) ||
        get_int(&x, root, "num_hidden_layers", LLONG_MIN, 1, 100000, &c->n_layers) ||
        get_int(&x, root, "num_attention_heads", LLONG_MIN, 1, 100000, &c->n_heads))
        goto out;
    /* The class defaults of the keys a config may leave out: Qwen2Config
     * and Qwen3Config take 32 key/value heads and 32768 positions,
     * MistralConfig 8 and 131072, LlamaConfig the attention heads and 2048.
     * An explicit null means the attention heads in all four. */
    const json_t *kv = json_object_get(root, "num_key_value_heads");
    long long kv_default = kv ? c->n_heads : qwen2 || qwen3 ? 32 : mistral ? 8 : c->n_heads;
    if (get_int(&x, root, "num_key_value_heads", kv_default, 1, 100000, &c->n_kv_heads) ||
        get_int(&x, root, "max_position_embeddings", qwen2 || qwen3 ? 32768 : mistral ? 131072 : 2048, 1,
                INT32_MAX, &c->max_position))
        goto out;
    /* Qwen3's class default is 128, not hidden/heads */
    long long hd_default = qwen3 ? 128 : c->hidden_size / c->n_heads;
    if (!hd_default && !json_is_integer(json_object_get(root, "head_dim"))) {
        pic_err_set(err, "%s: hidden_size %d over num_attention_heads %d gives a head size of 0; give head_dim",
                    name, c->hidden_size, c->n_heads);
        goto out;
    }
    if (get_int(&x, root, "head_dim", hd_default, 1, big, &c->head_dim)) goto out;

    double eps;
    if (get_num(&x, root, "rms_norm_eps", 1e-6, &eps)) goto out;
    if (!((float)eps > 0)) { /* 0 divides by zero on an all-zero row; < 0 takes a root of a negative */
        pic_err_set(err, "%s: key 'rms_norm_eps': %g must be positive", name, eps);
        goto out;
    }
    c->rms_eps = (float)eps;
    if (get_bool(&x, root, "tie_word_embeddings", false, &c->tie_embeddings)) goto out;

    /* quantized weights (GPTQ, AWQ, bitsandbytes, FP8 with block scales)
     * are other tensors under other names: say so before the weights do */
    const json_t *quant = json_object_get(root, "quantization_config");
    if (quant && !json_is_null(quant)) {
        const json_t *qm = json_is_object(quant) ? json_object_get(quant, "quant_method") : NULL;
        pic_err_set(err, "%s: key 'quantization_config': quantized checkpoints%s%s are not supported", name,
                    json_is_string(qm) ? " of method " : "", json_is_string(qm) ? json_string_value(qm) : "");
        goto out;
    }
    /* Which projections have biases is the architecture's: Qwen2 always on
     * q/k/v and never on o or the MLP; Qwen3 attention_bias on q/k/v/o;
     * Llama attention_bias on q/k/v/o and mlp_bias on the MLP; Mistral none.
     * transformers ignores the keys a class does not read, and so does pic. */
    bool attention_bias = false;
    if ((qwen3 || (llama && !mistral)) && get_bool(&x, root, "attention_bias", false, &attention_bias)) goto out;
    if (llama && !mistral && get_bool(&x, root, "mlp_bias", false, &c->mlp_bias)) goto out;
    c->qkv_bias = qwen2 || attention_bias;
    c->o_bias = attention_bias;
    c->qk_norm = qwen3;

    /* ACT2FN: "swish" is the same SiLU */
    const json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_null(act) &&
        (!json_is_string(act) || (strcmp(json_string_value(act), "silu") && strcmp(json_string_value(act), "swish")))) {
        pic_err_set(err, "%s: key 'hidden_act': only \"silu\" is supported", name);
        goto out;
    }
    /* Sliding-window attention changes which keys a query sees. Qwen2/Qwen3
     * apply it only with use_sliding_window, on the layers layer_types marks
     * (sliding from max_window_layers on when layer_types is absent);
     * Mistral on every layer. Either way a window of 4096 when the key is
     * absent, which only matters when a sequence can be longer. */
    bool swa = false;
    int window_layers = 28; /* max_window_layers, transformers' default */
    if ((qwen2 || qwen3) && (get_bool(&x, root, "use_sliding_window", false, &swa) ||
                             get_int(&x, root, "max_window_layers", 28, 0, INT32_MAX, &window_layers)))
        goto out;
    const json_t *sw = json_object_get(root, "sliding_window");
    /* a window of another type (4096.0, "4096") was taken for none and the
     * attention left full, where MistralConfig keeps the value and masks
     * with it (Qwen2Config and Qwen3Config declare it int | None) */
    if ((mistral || qwen2 || qwen3) && sw && !json_is_null(sw) && !json_is_integer(sw)) {
        pic_err_set(err, "%s: key 'sliding_window': expected an integer or null", name);
        goto out;
    }
    long long window = !sw ? 4096 : json_is_integer(sw) ? json_integer_value(sw) : -1;
    bool binds = window >= 0 && window < c->max_position;
    const json_t *lt = json_object_get(root, "layer_types");
    bool listed = lt && !json_is_null(lt); /* the layers are then layer_types' (checked below) */
    /* a null max_window_layers is not the default 28 when a window applies:
     * Qwen2Config/Qwen3Config compare each layer index with it (i >=
     * max_window_layers), which fails in transformers; pic loaded it as
     * full attention */
    const json_t *mwl = json_object_get(root, "max_window_layers");
    if (swa && window >= 0 && !listed && mwl && json_is_null(mwl)) {
        pic_err_set(err, "%s: key 'max_window_layers': null with use_sliding_window and a sliding_window", name);
        goto out;
    }
    if ((mistral && binds) || (swa && binds && !listed && window_layers < c->n_layers)) {
        pic_err_set(err, "%s: key '%s': sliding-window attention is not supported", name,
                    swa ? "use_sliding_window" : "sliding_window");
        goto out;
    }
    if ((qwen2 || qwen3) && listed) {
        if (!json_is_array(lt)) {
            pic_err_set(err, "%s: key 'layer_types': expected a list", name);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(lt); i++) {
            const json_t *e = json_array_get(lt, i);
            if (!json_is_string(e) || strcmp(json_string_value(e), "full_attention")) {
                pic_err_set(err, "%s: key 'layer_types': layer %zu is %s; only \"full_attention\" is supported", name,
                            i, json_is_string(e) ? json_string_value(e) : "not a string");
                goto out;
            }
        }
    }

    if (parse_rope(&x, c, root)) goto out;

    /* LlamaConfig and MistralConfig take bos_token_id 1 and eos_token_id 2
     * when the key is absent (a null is none); Qwen2Config and Qwen3Config
     * none. transformers' generate stops at that 2 (GenerationConfig
     * from_model_config); an id the vocabulary lacks is never sampled */
    const json_t *bos = json_object_get(root, "bos_token_id"), *eos = json_object_get(root, "eos_token_id");
    int bos_default = llama && !bos && c->vocab_size > 1 ? 1 : -1;
    /* only pic-init writes it back; a list (as eos may be) gives its first */
    c->bos_id = -1;
    if (json_is_array(bos) && json_array_size(bos) && json_is_integer(json_array_get(bos, 0)) &&
        json_integer_value(json_array_get(bos, 0)) >= 0 && json_integer_value(json_array_get(bos, 0)) <= INT32_MAX)
        c->bos_id = (int)json_integer_value(json_array_get(bos, 0));
    else if (!json_is_array(bos) && get_int(&x, root, "bos_token_id", bos_default, -1, INT32_MAX, &c->bos_id))
        goto out;
    if (add_eos(&x, c, eos, "eos_token_id")) goto out;
    if (llama && !eos && c->vocab_size > 2) c->eos_ids[c->n_eos++] = 2;
    /* nn.Embedding(vocab, hidden, padding_idx=pad_token_id) in all four
     * classes: that row gets no gradient from the tokens read (a negative
     * index counts from the end, as torch's does) */
    c->pad_id = -1;
    const json_t *pad = json_object_get(root, "pad_token_id");
    if (pad && !json_is_null(pad)) {
        if (get_int(&x, root, "pad_token_id", -1, -(long long)c->vocab_size, c->vocab_size - 1LL, &c->pad_id)) goto out;
        if (c->pad_id < 0) c->pad_id += c->vocab_size;
    }

    const json_t *dt = json_object_get(root, "dtype");
    if (!dt || json_is_null(dt)) dt = json_object_get(root, "torch_dtype");
    snprintf(c->dtype, sizeof c->dtype, "%s", dt && json_is_string(dt) ? json_string_value(dt) : "float32");

    rc = pic_config_validate(c, name, err);
out:
    json_decref(root);
    return rc;
}

/* The parameters the layout (params.c) can hold at most: every optional
 * tensor counted, in 128 bits, which the largest sizes the keys allow
 * (about 2^79) cannot overflow. */
static unsigned __int128 max_params(const pic_config *c) {
    typedef unsigned __int128 u128;
    u128 C = (u128)c->hidden_size, V = (u128)c->vocab_size, F = (u128)c->intermediate_size, hd = (u128)c->head_dim;
    u128 qd = (u128)c->n_heads * hd, kvd = (u128)c->n_kv_heads * hd;
    u128 layer = 2 * C + C * (2 * qd + 2 * kvd) + 3 * F * C + (qd + 2 * kvd + C + 2 * F + C) + 2 * hd;
    return (u128)c->n_layers * layer + 2 * V * C + C;
}

int pic_config_validate(const pic_config *c, const char *name, pic_err *err) {
    /* the float copy of the weights is one buffer sized in size_t: a count
     * past it wrapped to a small buffer, which the weights then overran
     * (pic-init --config with a 2^64-parameter model crashed) */
    if (max_params(c) > (unsigned __int128)(PTRDIFF_MAX / sizeof(float)))
        return pic_err_set(err,
                           "%s: about %.3g parameters (hidden_size %d, intermediate_size %d, num_hidden_layers "
                           "%d, vocab_size %d), more than a float buffer can address",
                           name, (double)max_params(c), c->hidden_size, c->intermediate_size, c->n_layers,
                           c->vocab_size);
    if (c->n_heads % c->n_kv_heads)
        return pic_err_set(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                           name, c->n_heads, c->n_kv_heads);
    if (c->head_dim < 1) return pic_err_set(err, "%s: head_dim %d must be positive", name, c->head_dim);
    if (!(c->rms_eps > 0)) return pic_err_set(err, "%s: rms_norm_eps %g must be positive", name, c->rms_eps);
    if (c->head_dim > PIC_MAX_HEAD_DIM)
        return pic_err_set(err, "%s: head_dim %d is larger than %d", name, c->head_dim, PIC_MAX_HEAD_DIM);
    if (c->head_dim % 2) return pic_err_set(err, "%s: head_dim %d is odd; RoPE needs pairs", name, c->head_dim);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab_size)
            return pic_err_set(err, "%s: eos id %d is outside the vocabulary (%d)", name, c->eos_ids[i],
                               c->vocab_size);
    if (c->bos_id >= c->vocab_size)
        return pic_err_set(err, "%s: bos id %d is outside the vocabulary (%d)", name, c->bos_id,
                           c->vocab_size);
    return 0;
}

static int load_generation_config(pic_config *c, const char *dir, pic_err *err) {
    char *path = pic_asprintf("%s/generation_config.json", dir);
    ctx x = {path, err};
    struct stat st;
    size_t len;
    char *text = NULL;
    json_t *g = NULL;
    int rc = 0;
    if (stat(path, &st) != 0)
        rc = 0; /* none: config.json's ids stand */
    else if (!(text = pic_try_read_file(path, &len)))
        rc = pic_err_set(err, "%s: %s", path, strerror(errno));
    else if (!(g = load_json(text, len, path, err)))
        rc = -1;
    else if (!json_is_object(g))
        rc = pic_err_set(err, "%s: expected a JSON object", path);
    else if (!(rc = add_eos(&x, c, json_object_get(g, "eos_token_id"), "eos_token_id")))
        rc = pic_config_validate(c, path, err);
    json_decref(g);
    free(text);
    free(path);
    return rc;
}

int pic_config_load(pic_config *c, const char *path, pic_err *err) {
    struct stat st;
    if (stat(path, &st) != 0) return pic_err_set(err, "%s: %s", path, strerror(errno));
    bool isdir = S_ISDIR(st.st_mode);
    char *file = isdir ? pic_asprintf("%s/config.json", path) : pic_strdup(path);
    size_t len;
    char *text = pic_try_read_file(file, &len);
    int rc = text ? pic_config_parseb(c, text, len, file, err) : pic_err_set(err, "%s: %s", file, strerror(errno));
    free(text);
    free(file);
    if (!rc && isdir) rc = load_generation_config(c, path, err);
    return rc;
}

bool pic_config_is_eos(const pic_config *c, int id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == id) return true;
    return false;
}

char *pic_config_to_json(const pic_config *c) {
    json_t *o = json_object();
    const char *arch = !strcmp(c->model_type, "qwen2")   ? "Qwen2ForCausalLM"
                       : !strcmp(c->model_type, "qwen3") ? "Qwen3ForCausalLM"
                       : !strcmp(c->model_type, "mistral") ? "MistralForCausalLM"
                                                          : "LlamaForCausalLM";
    json_object_set_new(o, "architectures", json_pack("[s]", arch));
    json_object_set_new(o, "model_type", json_string(c->model_type));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position));
    /* the shortest decimal of the float pic computes with (1e-06, as
     * Qwen2's config says it), not that float widened to a double
     * (9.9999999747524271e-07: transformers keeps it as a Python float
     * and config.rms_norm_eps == 1e-6 was false); pic reads either back
     * as the same float, and so does torch once it meets a float32 tensor */
    char eps[32];
    pic_format_real_repr(eps, c->rms_eps, true);
    json_object_set_new(o, "rms_norm_eps", json_real(strtod(eps, NULL)));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
    /* a Mistral config without the key has a window of 4096; pic loads
     * only those whose window never binds, which none says as well */
    if (!strcmp(c->model_type, "mistral")) json_object_set_new(o, "sliding_window", json_null());
    if (strcmp(c->model_type, "qwen2")) {
        json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
        if (strcmp(c->model_type, "qwen3")) json_object_set_new(o, "mlp_bias", json_boolean(c->mlp_bias));
    }
    const pic_rope_config *r = &c->rope;
    json_t *rp = json_object();
    json_object_set_new(rp, "rope_theta", json_real(r->theta));
    static const char *names[] = {"default", "linear", "llama3", "yarn", "dynamic"};
    json_object_set_new(rp, "rope_type", json_string(names[r->type]));
    if (r->type != PIC_ROPE_DEFAULT) json_object_set_new(rp, "factor", json_real(r->factor));
    if (r->type == PIC_ROPE_LLAMA3) {
        json_object_set_new(rp, "low_freq_factor", json_real(r->low_freq_factor));
        json_object_set_new(rp, "high_freq_factor", json_real(r->high_freq_factor));
    }
    if (r->type == PIC_ROPE_LLAMA3 || r->type == PIC_ROPE_YARN)
        json_object_set_new(rp, "original_max_position_embeddings", json_integer(r->original_max_position));
    if (r->type == PIC_ROPE_YARN) {
        json_object_set_new(rp, "beta_fast", json_real(r->beta_fast));
        json_object_set_new(rp, "beta_slow", json_real(r->beta_slow));
        json_object_set_new(rp, "attention_factor", json_real(r->attention_factor));
        json_object_set_new(rp, "truncate", json_boolean(r->truncate));
    }
    /* Both layouts, read the same by either transformers: 4.x reads only
     * the top-level rope_theta and rope_scaling (rope_parameters is an
     * unknown key to it, so a theta of 1e6 written only there loaded as
     * 10000); 5 takes rope_scaling over rope_parameters and fills its
     * rope_theta from the top-level key (RotaryEmbeddingConfigMixin
     * .convert_rope_params_to_dict), so rope_scaling is rope_parameters
     * less rope_theta, and null for the default type as 4.x writes it */
    json_object_set_new(o, "rope_theta", json_real(r->theta));
    json_t *rs = json_deep_copy(rp);
    json_object_del(rs, "rope_theta");
    if (r->type == PIC_ROPE_DEFAULT) {
        json_decref(rs);
        rs = json_null();
    }
    json_object_set_new(o, "rope_scaling", rs);
    json_object_set_new(o, "rope_parameters", rp);
    json_object_set_new(o, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
    json_t *eos = json_array();
    for (int i = 0; i < c->n_eos; i++) json_array_append_new(eos, json_integer(c->eos_ids[i]));
    json_object_set_new(o, "eos_token_id", c->n_eos == 1 ? json_integer(c->eos_ids[0]) : eos);
    if (c->n_eos == 1) json_decref(eos);
    /* transformers 5 reads dtype (and torch_dtype when dtype is none),
     * 4.x before 4.56 only torch_dtype */
    json_object_set_new(o, "dtype", json_string(c->dtype));
    json_object_set_new(o, "torch_dtype", json_string(c->dtype));
    /* as transformers' to_json_string writes it (json.dumps, indent 2,
     * sort_keys): the keys sorted, reals as Python's repr, not jansson's
     * 17 digits */
    pic_buf b = {0};
    pic_json_dump_indented(&b, o);
    json_decref(o);
    return b.data;
}

const char pic_bench_config_json[] =
    "{\"model_type\":\"llama\",\"vocab_size\":8192,\"hidden_size\":256,\"intermediate_size\":688,"
    "\"num_hidden_layers\":10,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
    "\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,\"tie_word_embeddings\":true}";
