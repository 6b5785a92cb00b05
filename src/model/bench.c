/* pic-model-bench: forward-pass throughput of a randomly initialised model
 * (prefill and decode, at several batch sizes), each against the floor set
 * by OpenBLAS sgemm alone on the same matrix shapes, measured in the same
 * run (docs/model.md explains the arithmetic); or, with --score, scoring
 * throughput (forward plus fused log-prob and entropy) on the CPU or a GPU
 * as one JSON line (docs/gpu.md). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/backward.h"
#include "model/cuda/entry.h"
#include "model/floor.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/adamw.h"

static const char usage[] =
    "Usage: pic-model-bench [OPTION]...\n"
    "Forward-pass tokens/s of a random model (llama architecture; about 9.35M\n"
    "parameters by default, tied embeddings) for prefill and for decode with the KV cache, each with\n"
    "the tokens/s that OpenBLAS sgemm alone reaches on the same matrix products\n"
    "(the FLOP floor) and the ratio of the two.\n"
    "\n"
    "Options:\n"
    "      --config FILE   a config.json instead of the built-in model\n"
    "      --batch LIST    comma-separated batch sizes (default 1,32)\n"
    "      --prompt N      prefill length per sequence (default 128)\n"
    "      --decode N      decode steps per sequence (default 32)\n"
    "      --threads N     threads (default: one per CPU)\n"
    "      --score BxT     instead: score B sequences of T random tokens (forward,\n"
    "                      then log-prob and entropy of every token) and print one\n"
    "                      JSON line: device, dtype, config, batch, seq, params,\n"
    "                      tokens, seconds, tokens_per_s, model_flops (the matrix\n"
    "                      products of the forward, lm_head and attention included),\n"
    "                      peak_bytes (GPU: device memory the run holds; CPU: peak RSS)\n"
    "      --train BxT     instead, not with --score: one training step on B\n"
    "                      sequences of T random tokens (forward, the mean NLL's\n"
    "                      head backward and backward, clipping, AdamW), the same\n"
    "                      JSON line, with model_flops three times the forward's\n"
    "                      (issue 11)\n"
    "      --device D      with --score or --train: cpu, cuda or auto (default auto)\n"
    "      --dtype T       with --score or --train: f32 or bf16 (default: bf16 on a\n"
    "                      GPU, f32 on the CPU)\n"
    "      --exact         with --score or --train: the forward's products in the\n"
    "                      fixed, batch-invariant order that pic-rollout and\n"
    "                      pic-update use by default (without it: cuBLASLt or\n"
    "                      OpenBLAS, as their --fast); the JSON line's products\n"
    "                      key says which ran\n"
    "  -h, --help          this help\n"
    "      --version       the version\n";


/* Matrix-product FLOPs of one scoring pass over B sequences of T tokens:
 * the four products of each layer, causal attention's QK^T and PV (T(T+1)/2
 * query-key pairs per sequence and head), and lm_head over every token. */
static double score_flops(const pic_config *c, double B, double T) {
    double C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    double qd = nh * hd, kvd = nkv * hd, N = B * T;
    double layer = 2 * N * (C * (qd + 2 * kvd) + qd * C + 2 * C * F + F * C) + 4 * hd * nh * B * T * (T + 1) / 2;
    return c->n_layers * layer + 2 * N * C * c->vocab_size;
}

/* One training step: the mean NLL of every next token (dlogp = -1/N),
 * its gradient through the head and the layers, clipping to 1, AdamW. */
static void train_step(pic_model *m, const pic_batch *b, const size_t *rows, size_t N, const int32_t *targets,
                       float *dlogp, float *grad, float *mom1, float *mom2, long t) {
    pic_err err;
    double norm;
    pic_adamw_cfg c;
    pic_adamw_defaults(&c);
    for (size_t i = 0; i < N; i++) dlogp[i] = -1.0f / (float)N;
    if (m->device == PIC_DEVICE_CUDA) {
        if (pic_grad_zero_cuda(m, &err)) pic_die("%s", err.msg);
        pic_head_backward(m, rows, N, targets, 1.0f, dlogp, NULL, NULL, NULL);
        pic_backward(m, b, NULL, NULL);
        if (pic_clip_grad_norm_cuda(m, 1.0, &norm, &err) ||
            pic_adamw_step_cuda(m, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, t, &err))
            pic_die("%s", err.msg);
        return;
    }
    pic_params g;
    pic_params_views(&g, &m->cfg, grad);
    memset(grad, 0, m->params.numel * sizeof(float));
    float *dlnf = pic_calloc(N * m->cfg.hidden_size + 1, sizeof(float));
    pic_head_backward(m, rows, N, targets, 1.0f, dlogp, NULL, dlnf, &g);
    pic_backward(m, b, dlnf, &g);
    pic_clip_grad_norm(grad, m->params.numel, 1.0);
    pic_adamw_step(m->params.data, grad, mom1, mom2, m->params.numel, c.lr, &c, t);
    free(dlnf);
    pic_params_views_free(&g);
}

/* One JSON line (docs/gpu.md); the GPU harness reads exactly these keys.
 * train: a training step instead of a scoring pass. */
static int bench_score(const pic_config *cfg, const char *config, int B, int T, pic_model_opts *o, bool train,
                       bool exact) {
    pic_err err;
    pic_model model, *m = &model;
    size_t N = (size_t)B * T;
    o->max_batch_tokens = N;
    o->training = train; /* its arena without a layer's activations, as pic-update's */
    if (pic_model_random(m, cfg, o, 42, 0.02f, &err)) pic_die("%s", err.msg);
    m->batch_invariant = exact;
    size_t numel = m->params.numel;
    float *grad = NULL, *mom1 = NULL, *mom2 = NULL, *dlogp = pic_malloc(N * sizeof *dlogp);
    if (train && m->device == PIC_DEVICE_CUDA && pic_train_init_cuda(m, false, 0, m->params.numel, &err))
        pic_die("%s", err.msg);
    if (train && m->device == PIC_DEVICE_CPU) {
        pic_model_retain(m, true);
        grad = pic_malloc(numel * sizeof *grad), mom1 = pic_calloc(numel, sizeof *mom1), mom2 = pic_calloc(numel, sizeof *mom2);
    }
    int32_t *tok = pic_malloc((N + 1) * sizeof *tok);
    int *len = pic_malloc((size_t)B * sizeof *len);
    size_t *rows = pic_malloc(N * sizeof *rows);
    float *lp = pic_malloc(N * sizeof *lp), *h = pic_malloc(N * sizeof *h);
    uint64_t seed = 7;
    for (size_t i = 0; i <= N; i++)
        tok[i] = (int32_t)(((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33) % m->cfg.vocab_size);
    for (int s = 0; s < B; s++) len[s] = T;
    for (size_t i = 0; i < N; i++) rows[i] = i;
    pic_batch b = {B, len, tok, NULL};
    double seconds = 0;
    for (int pass = 0; pass < 2; pass++) { /* the first warms up (threads, plans, pages) */
        double t0 = pic_now();
        if (pic_forward(m, NULL, &b, PIC_LOGITS_NONE, NULL, &err) ||
            pic_forward_stats(m, rows, N, tok + 1, 1.0f, lp, h, &err))
            pic_die("%s", err.msg);
        if (train) train_step(m, &b, rows, N, tok + 1, dlogp, grad, mom1, mom2, pass + 1);
        seconds = pic_now() - t0;
    }
    size_t peak = 0;
    if (m->device == PIC_DEVICE_CUDA) {
        peak = pic_cuda_peak_bytes(m);
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        peak = (size_t)ru.ru_maxrss * 1024;
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:f, s:f, s:f, s:I, s:s}", "device",
                          pic_device_name(m->device), "dtype", pic_model_dtype_name(m->dtype), "config",
                          config ? config : "built-in", "batch", B, "seq", T, "params", (json_int_t)numel, "tokens",
                          (json_int_t)N, "seconds", seconds, "tokens_per_s", N / seconds, "model_flops",
                          (train ? 3 : 1) * score_flops(&m->cfg, B, T), "peak_bytes", (json_int_t)peak, "products",
                          exact ? "exact" : "fast");
    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", line);
    free(line);
    json_decref(j);
    free(tok), free(len), free(rows), free(lp), free(h), free(dlogp), free(grad), free(mom1), free(mom2);
    pic_model_free(m);
    return 0;
}

static void report(const char *what, int B, int n, double tokens, double t, double floor_t, double flops) {
    printf("%-8s batch %3d x %4d: %9.0f tokens/s | sgemm floor %9.0f tokens/s (%6.1f GFLOP/s) | ratio %.2f\n", what,
           B, n, tokens / t, tokens / floor_t, flops / floor_t / 1e9, floor_t / t);
}

int main(int argc, char **argv) {
    pic_init("pic-model-bench");
    enum { OPT_CONFIG = 256, OPT_BATCH, OPT_PROMPT, OPT_DECODE, OPT_THREADS, OPT_VERSION, OPT_SCORE, OPT_DEVICE, OPT_DTYPE, OPT_TRAIN,
           OPT_EXACT };
    static const struct option opts[] = {
        {"config", required_argument, 0, OPT_CONFIG}, {"batch", required_argument, 0, OPT_BATCH},
        {"prompt", required_argument, 0, OPT_PROMPT}, {"decode", required_argument, 0, OPT_DECODE},
        {"threads", required_argument, 0, OPT_THREADS}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},     {"score", required_argument, 0, OPT_SCORE},
        {"device", required_argument, 0, OPT_DEVICE}, {"dtype", required_argument, 0, OPT_DTYPE},
        {"train", required_argument, 0, OPT_TRAIN},   {"exact", no_argument, 0, OPT_EXACT},
        {0, 0, 0, 0},
    };
    const char *config = NULL, *batches = "1,32";
    int prompt = 128, decode = 32, threads = 0, c, score_b = 0, score_t = 0, d;
    bool device_given = false, train = false, exact = false;
    const char *decode_opt = NULL; /* the last of --batch, --prompt, --decode given */
    pic_model_opts mo = {.device = PIC_DEVICE_AUTO, .dtype = PIC_DTYPE_AUTO};
    while ((c = pic_getopt(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: config = optarg; break;
        case OPT_BATCH: batches = optarg, decode_opt = "--batch"; break;
        case OPT_PROMPT: prompt = (int)pic_parse_int("--prompt", optarg, 1, 1 << 16), decode_opt = "--prompt"; break;
        case OPT_DECODE: decode = (int)pic_parse_int("--decode", optarg, 1, 1 << 16), decode_opt = "--decode"; break;
        case OPT_THREADS: threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case OPT_SCORE:
        case OPT_TRAIN: {
            char *e, *f;
            long bb = strtol(optarg, &e, 10), tt = *e == 'x' ? strtol(e + 1, &f, 10) : 0;
            /* the two are one slot: the later silently replaced the other */
            if (score_b && train != (c == OPT_TRAIN)) pic_usage_error("--score and --train: choose one");
            train = c == OPT_TRAIN;
            if (*e != 'x' || *f || bb < 1 || bb > 65536 || tt < 1 || tt > 1 << 20)
                pic_usage_error("--%s: expected BxT (e.g. 16x2048), got '%s'", train ? "train" : "score", optarg);
            score_b = (int)bb, score_t = (int)tt;
            break;
        }
        case OPT_DEVICE:
            if ((d = pic_device_parse(optarg)) < 0) pic_usage_error("--device: expected cpu, cuda or auto, got '%s'", optarg);
            mo.device = (pic_device)d, device_given = true;
            break;
        case OPT_DTYPE:
            if ((d = pic_model_dtype_parse(optarg)) < 1) pic_usage_error("--dtype: expected f32 or bf16, got '%s'", optarg);
            mo.dtype = (pic_model_dtype)d, device_given = true;
            break;
        case OPT_EXACT: exact = true; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (optind < argc) pic_usage_error("unexpected operand '%s'", argv[optind]);
    if (device_given && !score_b)
        pic_usage_error("--device and --dtype belong to --score and --train (prefill and decode run on the CPU)");
    if (exact && !score_b) pic_usage_error("--exact belongs to --score and --train");
    if (decode_opt && score_b) pic_usage_error("%s belongs to the prefill and decode run, not --score or --train", decode_opt);
    if (pic_device_resolve(mo.device) == PIC_DEVICE_CPU && mo.dtype == PIC_DTYPE_BF16)
        pic_usage_error("--dtype bf16: the CPU computes in f32 only");
    int bs[16], nb = 0;
    /* the one list splitter (docs/conventions.md): items trimmed, so '1, 32'
     * is 1 and 32 as pic-kernel-bench's --rows; "" and "1," are errors */
    pic_list bl;
    pic_option_list(&bl, "--batch", batches);
    for (size_t i = 0; i < bl.n; i++) {
        if (nb == 16) pic_usage_error("--batch: at most 16 sizes, got more in '%s'", batches);
        bs[nb++] = (int)pic_parse_int("--batch", bl.items[i], 1, 4096);
    }
    pic_list_free(&bl);

    pic_config cfg;
    pic_err err;
    if (config ? pic_config_load(&cfg, config, &err) : pic_config_parse(&cfg, pic_bench_config_json, "built-in config", &err))
        pic_die("%s", err.msg);
    pic_set_threads(threads);
    if (score_b) return bench_score(&cfg, config, score_b, score_t, &mo, train, exact);
    pic_model m;
    pic_model_init(&m, &cfg);
    pic_params_init_random(&m.params, 42, 0.02f);
    printf("model: %s, %.2fM parameters (hidden %d, layers %d, heads %d/%d x %d, ffn %d, vocab %d); %d threads\n",
           cfg.model_type, m.params.numel / 1e6, cfg.hidden_size, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads,
           cfg.head_dim, cfg.intermediate_size, cfg.vocab_size, pic_threads());

    int maxB = 0;
    for (int i = 0; i < nb; i++) maxB = bs[i] > maxB ? bs[i] : maxB;
    size_t rows = (size_t)maxB * prompt;
    float *logits = pic_malloc((size_t)maxB * cfg.vocab_size * sizeof(float));
    int32_t *tok = pic_malloc(rows * sizeof *tok);
    int *len = pic_malloc((size_t)maxB * sizeof *len);
    uint64_t seed = 7;
    for (size_t i = 0; i < rows; i++) tok[i] = (int32_t)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33) % cfg.vocab_size;

    for (int i = 0; i < nb; i++) {
        int B = bs[i];
        pic_kvcache *kv = pic_kvcache_new(&cfg, B, prompt + decode, 0);
        for (int s = 0; s < B; s++) len[s] = prompt;
        pic_batch pre = {B, len, tok, NULL};
        /* a warm-up pass pages the buffers in and starts the threads */
        if (pic_forward(&m, NULL, &pre, PIC_LOGITS_LAST, logits, &err)) pic_die("%s", err.msg);
        /* the floor's best of 3: one timing, OpenBLAS's threads waking
         * from pic's one-thread products, now and then came out slower
         * than pic's own pass (ratios of 1.4 to 1.6 at batch 1) */
        double flops, tf = pic_sgemm_floor(&m.cfg, &m.params, (size_t)B * prompt, (size_t)B, 3, &flops);
        double t0 = pic_now();
        if (pic_forward(&m, kv, &pre, PIC_LOGITS_LAST, logits, &err)) pic_die("%s", err.msg);
        double tp = pic_now() - t0;
        report("prefill", B, prompt, (double)B * prompt, tp, tf, flops);

        for (int s = 0; s < B; s++) len[s] = 1;
        double td = 0, tfd = 0, fd = 0;
        for (int step = 0; step < decode; step++) {
            for (int s = 0; s < B; s++) tok[s] = (int32_t)((step * 31 + s) % cfg.vocab_size);
            pic_batch one = {B, len, tok, NULL};
            t0 = pic_now();
            if (pic_forward(&m, kv, &one, PIC_LOGITS_LAST, logits, &err)) pic_die("%s", err.msg);
            td += pic_now() - t0;
            double f;
            tfd += pic_sgemm_floor(&m.cfg, &m.params, (size_t)B, (size_t)B, 1, &f);
            fd += f;
        }
        report("decode", B, decode, (double)B * decode, td, tfd, fd);
        pic_kvcache_free(kv);
    }
    free(logits);
    free(tok);
    free(len);
    pic_model_free(&m);
    return 0;
}
