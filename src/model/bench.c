/* pic-model-bench: forward-pass throughput of a randomly initialised model
 * (prefill and decode, at several batch sizes), each against the floor set
 * by OpenBLAS sgemm alone on the same matrix shapes, measured in the same
 * run (docs/model.md explains the arithmetic). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/floor.h"
#include "model/model.h"
#include "model/parallel.h"

static const char usage[] =
    "Usage: pic-model-bench [OPTION]...\n"
    "Forward-pass tokens/s of a random model (llama architecture; about 9.5M\n"
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
    "  -h, --help          this help\n"
    "      --version       the version\n";


static void report(const char *what, int B, int n, double tokens, double t, double floor_t, double flops) {
    printf("%-8s batch %3d x %4d: %9.0f tokens/s | sgemm floor %9.0f tokens/s (%6.1f GFLOP/s) | ratio %.2f\n", what,
           B, n, tokens / t, tokens / floor_t, flops / floor_t / 1e9, floor_t / t);
}

int main(int argc, char **argv) {
    pic_init("pic-model-bench");
    enum { OPT_CONFIG = 256, OPT_BATCH, OPT_PROMPT, OPT_DECODE, OPT_THREADS, OPT_VERSION };
    static const struct option opts[] = {
        {"config", required_argument, 0, OPT_CONFIG}, {"batch", required_argument, 0, OPT_BATCH},
        {"prompt", required_argument, 0, OPT_PROMPT}, {"decode", required_argument, 0, OPT_DECODE},
        {"threads", required_argument, 0, OPT_THREADS}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},     {0, 0, 0, 0},
    };
    const char *config = NULL, *batches = "1,32";
    int prompt = 128, decode = 32, threads = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: config = optarg; break;
        case OPT_BATCH: batches = optarg; break;
        case OPT_PROMPT: prompt = (int)pic_parse_int("--prompt", optarg, 1, 1 << 16); break;
        case OPT_DECODE: decode = (int)pic_parse_int("--decode", optarg, 1, 1 << 16); break;
        case OPT_THREADS: threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (optind < argc) pic_usage_error("unexpected operand '%s'", argv[optind]);
    int bs[16], nb = 0;
    for (const char *s = batches; *s && nb < 16;) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s || v < 1 || v > 4096 || (*e && *e != ',')) pic_usage_error("--batch: bad list '%s'", batches);
        bs[nb++] = (int)v;
        s = *e ? e + 1 : e;
    }

    pic_config cfg;
    pic_err err;
    if (config ? pic_config_load(&cfg, config, &err) : pic_config_parse(&cfg, pic_bench_config_json, "built-in config", &err))
        pic_die("%s", err.msg);
    pic_set_threads(threads);
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
        pic_kvcache *kv = pic_kvcache_new(&cfg, B, prompt + decode);
        for (int s = 0; s < B; s++) len[s] = prompt;
        pic_batch pre = {B, len, tok, NULL};
        /* a warm-up pass pages the buffers in and starts the threads */
        if (pic_forward(&m, NULL, &pre, PIC_LOGITS_LAST, logits, &err)) pic_die("%s", err.msg);
        double flops, tf = pic_sgemm_floor(&m.cfg, &m.params, (size_t)B * prompt, (size_t)B, 1, &flops);
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
