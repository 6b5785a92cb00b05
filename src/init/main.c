/* pic-init: a new, randomly initialised HuggingFace checkpoint — the demo's
 * model, or any architecture pic supports for tests and benchmarks. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "init/bytelevel.h"
#include "model/model.h"
#include "model/parallel.h"
#include "tokenizer/tokenizer.h"

static const char usage[] =
    "Usage: pic-init -o DIR [OPTION]...\n"
    "Write a new HuggingFace checkpoint directory: config.json,\n"
    "generation_config.json, tokenizer.json, tokenizer_config.json (not with\n"
    "--tokenizer) and model.safetensors with random weights (normal(0, --std),\n"
    "norms 1, biases 0).\n"
    "The directory appears whole or not at all.\n"
    "\n"
    "Architecture (a Qwen2 model by default: the demo's, about 0.33M parameters):\n"
    "      --config FILE      take the architecture from an HF config.json instead\n"
    "                         of the options below, which it excludes (its\n"
    "                         vocab_size at least the tokenizer's)\n"
    "      --model-type T     qwen2 (default), qwen3 or llama\n"
    "      --hidden N         hidden size (default 96)\n"
    "      --layers N         layers (default 3)\n"
    "      --heads N          attention heads (default 4)\n"
    "      --kv-heads N       key/value heads (default 2)\n"
    "      --intermediate N   MLP size (default 256)\n"
    "      --max-position N   context length (default 512)\n"
    "      --untied           a separate lm_head (default: tied to the embeddings)\n"
    "\n"
    "Tokenizer (byte-level BPE with Qwen2's normalizer (NFC) and pre-tokenizer and\n"
    "ChatML's special tokens <|endoftext|> <|im_start|> <|im_end|>):\n"
    "      --corpus FILE      learn merges from the text fields (problem, solution,\n"
    "                         prompt, response, text) of a JSON Lines file\n"
    "                         (default: none, one token per byte)\n"
    "      --merges N         merges --corpus teaches, at most (1 or more; default 64)\n"
    "      --tokenizer FILE   use this tokenizer.json as it is instead\n"
    "The ids that end generation (eos_token_id) are those of the tokenizer's\n"
    "<|im_end|>, <|eot_id|>, <|endoftext|>, <|end_of_text|> and </s> that it has,\n"
    "with no bos_token_id; a --tokenizer with none of them needs a --config\n"
    "whose ids name its tokens.\n"
    "\n"
    "      --seed S           random seed of the weights (default 1)\n"
    "      --threads N        threads drawing the weights (default: one per CPU;\n"
    "                         the weights are the same bits on any number)\n"
    "      --std X            standard deviation of the weights (default 0.02)\n"
    "      --bf16             store the weights in bfloat16 (default float32)\n"
    "  -o, --output DIR       the checkpoint to create (a checkpoint there is\n"
    "                         replaced; anything else but an empty directory\n"
    "                         is refused)\n"
    "  -q, --quiet            no summary line\n"
    "  -h, --help             show this help and exit\n"
    "      --version          show the version and exit\n";

static const char chatml_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

static const char *const corpus_fields[] = {"problem", "solution", "prompt", "response", "text"};

/* Every string of the corpus's text fields, for the BPE trainer; *lens gets
 * their lengths (a text may hold \u0000: all of it counts). */
static char **read_corpus(const char *path, size_t *n, size_t **lens) {
    char **texts = NULL;
    size_t cap = 0;
    *lens = NULL;
    *n = 0;
    pic_reader *r = pic_reader_open(path);
    json_t *rec;
    while ((rec = pic_reader_json(r))) {
        for (size_t f = 0; f < sizeof corpus_fields / sizeof *corpus_fields; f++) {
            const char *s = pic_field_string_opt((pic_rec){r, rec}, corpus_fields[f], NULL);
            if (!s) continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 1024;
                texts = pic_realloc(texts, cap * sizeof *texts);
                *lens = pic_realloc(*lens, cap * sizeof **lens);
            }
            size_t len = json_string_length(json_object_get(rec, corpus_fields[f]));
            texts[*n] = pic_malloc(len + 1);
            memcpy(texts[*n], s, len + 1);
            (*lens)[(*n)++] = len;
        }
        json_decref(rec);
    }
    pic_reader_close(r);
    if (*n == 0) pic_die("%s: no text fields (problem, solution, prompt, response, text)", path);
    return texts;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *path = pic_asprintf("%s/%s", dir, name);
    if (pic_write_file_atomic(path, text, strlen(text)) != 0) pic_die("%s: %s", path, strerror(errno));
    free(path);
}

typedef struct {
    const char *config_file, *corpus, *tokenizer_file, *out, *model_type;
    const char *shape_opt; /* the first shape option given, or NULL */
    int hidden, layers, heads, kv_heads, ffn, max_pos;
    int merges; /* -1 when not given */
    bool tied, bf16;
    long long seed;
    double std;
    int threads; /* 0: one per CPU */
} options;

static void parse_options(options *o, int argc, char **argv) {
    enum { OPT_CONFIG = 256, OPT_TYPE, OPT_HIDDEN, OPT_LAYERS, OPT_HEADS, OPT_KV, OPT_FFN, OPT_MAXPOS,
           OPT_UNTIED, OPT_CORPUS, OPT_MERGES, OPT_TOKENIZER, OPT_SEED, OPT_STD, OPT_BF16, OPT_VERSION,
           OPT_THREADS };
    static const struct option opts[] = {
        {"config", required_argument, 0, OPT_CONFIG}, {"model-type", required_argument, 0, OPT_TYPE},
        {"hidden", required_argument, 0, OPT_HIDDEN}, {"layers", required_argument, 0, OPT_LAYERS},
        {"heads", required_argument, 0, OPT_HEADS}, {"kv-heads", required_argument, 0, OPT_KV},
        {"intermediate", required_argument, 0, OPT_FFN}, {"max-position", required_argument, 0, OPT_MAXPOS},
        {"untied", no_argument, 0, OPT_UNTIED}, {"corpus", required_argument, 0, OPT_CORPUS},
        {"merges", required_argument, 0, OPT_MERGES}, {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"seed", required_argument, 0, OPT_SEED}, {"std", required_argument, 0, OPT_STD},
        {"bf16", no_argument, 0, OPT_BF16}, {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION}, {"threads", required_argument, 0, OPT_THREADS},
        {0, 0, 0, 0}};
    int c, idx;
    while ((c = pic_getopt(argc, argv, "o:qh", opts, &idx)) != -1) {
        if (c >= OPT_TYPE && c <= OPT_UNTIED && !o->shape_opt) o->shape_opt = opts[idx].name;
        switch (c) {
        case OPT_CONFIG: o->config_file = optarg; break;
        case OPT_TYPE:
            if (strcmp(optarg, "qwen2") && strcmp(optarg, "qwen3") && strcmp(optarg, "llama"))
                pic_usage_error("--model-type: '%s' is not qwen2, qwen3 or llama", optarg);
            o->model_type = optarg;
            break;
        case OPT_HIDDEN: o->hidden = (int)pic_parse_int("--hidden", optarg, 8, 65536); break;
        case OPT_LAYERS: o->layers = (int)pic_parse_int("--layers", optarg, 1, 1024); break;
        case OPT_HEADS: o->heads = (int)pic_parse_int("--heads", optarg, 1, 1024); break;
        case OPT_KV: o->kv_heads = (int)pic_parse_int("--kv-heads", optarg, 1, 1024); break;
        case OPT_FFN: o->ffn = (int)pic_parse_int("--intermediate", optarg, 1, 1 << 20); break;
        case OPT_MAXPOS: o->max_pos = (int)pic_parse_int("--max-position", optarg, 16, 1 << 24); break;
        case OPT_UNTIED: o->tied = false; break;
        case OPT_CORPUS: o->corpus = optarg; break;
        case OPT_MERGES: o->merges = (int)pic_parse_int("--merges", optarg, 0, 100000); break;
        case OPT_TOKENIZER: o->tokenizer_file = optarg; break;
        case OPT_SEED: o->seed = pic_parse_int("--seed", optarg, 0, 1LL << 62); break;
        case OPT_STD: o->std = pic_parse_double("--std", optarg, 0, 10); break;
        case OPT_THREADS: o->threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case OPT_BF16: o->bf16 = true; break;
        case 'o': o->out = optarg; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (!o->out) pic_usage_error("-o DIR is required");
    if (optind < argc) pic_usage_error("unexpected operand '%s'", argv[optind]);
    if (o->tokenizer_file && (o->corpus || o->merges >= 0))
        pic_usage_error("--tokenizer excludes --corpus and --merges");
    if (o->merges >= 0 && !o->corpus) pic_usage_error("--merges needs --corpus");
    if (o->merges == 0) pic_usage_error("--corpus with --merges 0 teaches nothing: leave both out");
    /* a corpus is read for its merges: with none it would be read and
     * ignored. 64 is the demo's count. */
    if (o->merges < 0) o->merges = o->corpus ? 64 : 0;
    /* --config gives the whole architecture; a shape option beside it would
     * be ignored */
    if (o->config_file && o->shape_opt) pic_usage_error("--%s cannot be combined with --config", o->shape_opt);
    /* the shape options must make a model: heads split the width evenly, in
     * pairs for RoPE, and share key/value heads evenly */
    if (o->hidden % o->heads || (o->hidden / o->heads) % 2)
        pic_usage_error("--heads %d: --hidden %d must be an even multiple of it", o->heads, o->hidden);
    if (o->heads % o->kv_heads)
        pic_usage_error("--kv-heads %d does not divide --heads %d", o->kv_heads, o->heads);
}

/* The ids that end generation, looked up in the tokenizer written: a chat
 * turn's end first, then the document's, as Qwen2's and Llama 3's instruct
 * models list them (ChatML's, Llama 3's, then SentencePiece's </s>). */
static const char *const end_tokens[] = {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>"};
enum { N_END_TOKENS = sizeof end_tokens / sizeof *end_tokens };

typedef struct {
    int vocab; /* one past the largest id, as src/tokenizer counts it */
    int n_eos, eos[N_END_TOKENS];
    int pad; /* <|endoftext|>'s id, or -1 */
} tok_ids;

/* content: n bytes (an added token's may hold \u0000: "</s>\u0000" is
 * not "</s>") */
static void note_id(tok_ids *ti, const char *content, size_t n, json_int_t id) {
    if (id >= ti->vocab) ti->vocab = (int)id + 1;
    for (int e = 0; e < N_END_TOKENS; e++)
        if (n == strlen(end_tokens[e]) && !memcmp(content, end_tokens[e], n)) ti->eos[e] = (int)id;
}

/* The vocabulary and end ids of tokenizer.json's text; name is used in
 * messages. Ids, not counts: an added token may repeat a vocabulary entry
 * (GPT-2's <|endoftext|>). */
static tok_ids tokenizer_ids(const char *tok_json, size_t len, const char *name) {
    json_error_t jerr;
    json_t *t = pic_json_loadb(tok_json, len, JSON_ALLOW_NUL, &jerr);
    if (!t) pic_die("%s:%d:%d: malformed JSON: %s", name, jerr.line, jerr.column, jerr.text);
    json_t *v = json_object_get(json_object_get(t, "model"), "vocab");
    if (!json_is_object(v)) pic_die("%s: field 'model.vocab': expected an object", name);
    tok_ids ti;
    ti.vocab = 0, ti.n_eos = 0;
    for (int e = 0; e < N_END_TOKENS; e++) ti.eos[e] = -1;
    const char *content;
    json_t *id;
    /* keys hold no NUL: jansson refuses one in a key */
    json_object_foreach(v, content, id) note_id(&ti, content, strlen(content), json_integer_value(id));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(t, "added_tokens"), i, a) {
        json_t *c = json_object_get(a, "content");
        if (json_is_string(c))
            note_id(&ti, json_string_value(c), json_string_length(c), json_integer_value(json_object_get(a, "id")));
    }
    json_decref(t);
    ti.pad = ti.eos[2]; /* <|endoftext|>, before the list closes up */
    for (int e = 0; e < N_END_TOKENS; e++)
        if (ti.eos[e] >= 0) ti.eos[ti.n_eos++] = ti.eos[e];
    return ti;
}

/* The tokenizer first: it fixes the vocabulary and the end ids (*ids).
 * Returns tokenizer.json's text. */
static char *make_tokenizer(const options *o, tok_ids *ids) {
    if (o->tokenizer_file) {
        /* through the loader pic-rollout and pic-update use: a file they
         * would refuse (an id past int, a float id, an unknown model type)
         * is refused now, naming its field, not in a checkpoint later */
        pic_tokenizer_free(pic_tokenizer_load(o->tokenizer_file));
        size_t len;
        char *tok_json = pic_read_file(o->tokenizer_file, &len);
        *ids = tokenizer_ids(tok_json, len, o->tokenizer_file);
        return tok_json;
    }
    size_t n_texts = 0;
    size_t *lens = NULL;
    char **texts = o->corpus ? read_corpus(o->corpus, &n_texts, &lens) : NULL;
    int vocab;
    char *tok_json = bytelevel_tokenizer_json((const char *const *)texts, lens, n_texts, o->merges, &vocab);
    for (size_t i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    free(lens);
    *ids = tokenizer_ids(tok_json, strlen(tok_json), "the built-in tokenizer");
    return tok_json;
}

/* The special ids a config names must be the tokenizer's, or generation
 * never stops: its end tokens when it has them (no bos: ChatML has none),
 * else a --config's own ids, when they name tokens. */
static void set_special_ids(const options *o, const tok_ids *ids, pic_config *cfg) {
    if (ids->n_eos > 0) {
        cfg->bos_id = -1;
        cfg->n_eos = ids->n_eos;
        memcpy(cfg->eos_ids, ids->eos, sizeof ids->eos);
        return;
    }
    if (!o->config_file || cfg->n_eos == 0)
        pic_die("%s: no end token (<|im_end|>, <|eot_id|>, <|endoftext|>, <|end_of_text|>, </s>) to end "
                "generation; a --config with the "
                "tokenizer's eos_token_id can name it", o->tokenizer_file);
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos_ids[i] >= ids->vocab)
            pic_die("%s: eos id %d is not a token of %s (%d tokens)", o->config_file, cfg->eos_ids[i],
                    o->tokenizer_file, ids->vocab);
    if (cfg->bos_id >= ids->vocab)
        pic_die("%s: bos id %d is not a token of %s (%d tokens)", o->config_file, cfg->bos_id,
                o->tokenizer_file, ids->vocab);
}

/* --config, or the shape options over the vocabulary. */
static void make_config(const options *o, const tok_ids *ids, pic_config *cfg) {
    pic_err err = {0};
    if (o->config_file) {
        if (pic_config_load(cfg, o->config_file, &err)) pic_die("%s", err.msg);
        if (cfg->vocab_size < ids->vocab)
            pic_die("%s: vocab_size %d is smaller than the tokenizer's %d", o->config_file, cfg->vocab_size,
                    ids->vocab);
    } else {
        /* head_dim written out: absent, Qwen3 takes 128, not --hidden over --heads */
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"model_type\":\"%s\",\"vocab_size\":%d,\"hidden_size\":%d,\"intermediate_size\":%d,"
                 "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"head_dim\":%d,"
                 "\"max_position_embeddings\":%d,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-6,"
                 "\"tie_word_embeddings\":%s}",
                 o->model_type, ids->vocab, o->hidden, o->ffn, o->layers, o->heads, o->kv_heads,
                 o->hidden / o->heads, o->max_pos, o->tied ? "true" : "false");
        if (pic_config_parse(cfg, text, "the built-in config", &err)) pic_die("%s", err.msg);
    }
    set_special_ids(o, ids, cfg);
    /* the dtype a config declares is that of the weights written, not of
     * the model a --config came from */
    snprintf(cfg->dtype, sizeof cfg->dtype, "%s", o->bf16 ? "bfloat16" : "float32");
}

/* The checkpoint directory, atomically: config, generation config,
 * tokenizer files and random weights. */
static void write_checkpoint(const options *o, const pic_config *cfg, const tok_ids *ids, const char *tok_json,
                             const pic_params *params) {
    char *tmp = pic_atomic_dir_begin(o->out);
    char *cfg_json = pic_config_to_json(cfg);
    write_text(tmp, "config.json", cfg_json);
    json_t *eos = json_array();
    for (int i = 0; i < cfg->n_eos; i++) json_array_append_new(eos, json_integer(cfg->eos_ids[i]));
    json_t *g = json_pack("{s:o,s:o}", "bos_token_id", cfg->bos_id >= 0 ? json_integer(cfg->bos_id) : json_null(),
                          "eos_token_id", eos);
    /* the pad token tokenizer_config.json names, as Qwen2.5-Instruct's
     * generation_config has it: without one, transformers' generate()
     * warns on every call and pads with the first eos id instead */
    if (!o->tokenizer_file && ids->pad >= 0) json_object_set_new(g, "pad_token_id", json_integer(ids->pad));
    /* as GenerationConfig.to_json_string writes it (json.dumps, indent 2,
     * sort_keys), as config.json */
    pic_buf gen = {0};
    pic_json_dump_indented(&gen, g);
    json_decref(g);
    write_text(tmp, "generation_config.json", gen.data);
    write_text(tmp, "tokenizer.json", tok_json);
    if (!o->tokenizer_file) {
        /* clean-up off, as Qwen2.5's: transformers 4 before 4.45 took a
         * missing key as true and decoded "11 ." as "11." */
        json_t *tc = json_pack("{s:n,s:s,s:s,s:s,s:i,s:s,s:b}", "bos_token", "eos_token", "<|im_end|>",
                               "pad_token", "<|endoftext|>", "chat_template", chatml_template,
                               "model_max_length", cfg->max_position, "tokenizer_class", "Qwen2Tokenizer",
                               "clean_up_tokenization_spaces", 0);
        char *s = json_dumps(tc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        write_text(tmp, "tokenizer_config.json", s);
        free(s);
        json_decref(tc);
    }
    char *weights = pic_asprintf("%s/model.safetensors", tmp);
    pic_err err = {0};
    if (pic_params_save(params, weights, o->bf16 ? PIC_DT_BF16 : PIC_DT_F32, &err)) pic_die("%s", err.msg);
    if (pic_atomic_dir_commit(tmp, o->out) != 0) pic_die("%s: %s", o->out, strerror(errno));
    free(weights), pic_buf_free(&gen), free(cfg_json), free(tmp);
}

int main(int argc, char **argv) {
    pic_init("pic-init");
    options o = {.model_type = "qwen2", .hidden = 96, .layers = 3, .heads = 4, .kv_heads = 2, .ffn = 256,
                 .max_pos = 512, .tied = true, .merges = -1, .seed = 1, .std = 0.02};
    parse_options(&o, argc, argv);
    pic_atomic_dir_check(o.out);
    tok_ids ids;
    char *tok_json = make_tokenizer(&o, &ids);
    pic_config cfg;
    make_config(&o, &ids, &cfg);

    pic_params params;
    pic_params_alloc(&params, &cfg);
    pic_set_threads(o.threads);
    pic_params_init_random(&params, (uint64_t)o.seed, (float)o.std);
    write_checkpoint(&o, &cfg, &ids, tok_json, &params);
    pic_info("%s: %s, %zu parameters, vocabulary %d", o.out, cfg.model_type, params.numel, cfg.vocab_size);

    free(tok_json);
    pic_params_free(&params);
    return 0;
}
