/* pic-kernel-bench: a decode step's two largest kernels alone, on the shapes
 * of bench/rollout.sh's model (hidden 256, 10 layers, 8 query and 4 kv
 * heads of 32, FFN 688): the batch-invariant matrix product over every
 * layer's weights, and decode attention over a KV cache. They are where a
 * decode step's time goes (docs/model.md), and timed alone they show what
 * the memory system gives them: the product over one layer's weights again
 * and again (hot: they stay in cache) against ten layers' distinct weights
 * (cold: 29 MB, as in a step), attention with a read between layers that
 * pushes the cache out as a step's products do. With --logits V it times
 * instead the head's log-softmax statistics (logits.c) over rows of V
 * logits, the sampler's per token and training's per position; with --glue,
 * a step's element-wise and per-row layers (RMSNorm, RoPE, SwiGLU), which a
 * decode step at small batches runs on one thread. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/parallel.h"

static const char usage[] =
    "Usage: pic-kernel-bench [OPTION]...\n"
    "Times a decode step's matrix products (matmul_bi over the 10 layers of\n"
    "bench/rollout.sh's model, 29 MB of weights) and its attention alone, best of\n"
    "--reps runs, one line each:\n"
    "  matmul_bi ROWS rows cold|hot: ms a step, GFLOP/s, GB/s of weights\n"
    "  attention B x T: ms a step, GB/s of keys and values\n"
    "Cold reads every layer's own weights; hot reads the first layer's ten times\n"
    "(they stay in cache). With --logits V, instead, the log-probabilities and\n"
    "entropies of ROWS rows of V logits and their gradient:\n"
    "  logits ROWS x V forward|backward: ms, GB/s of logits read, ns an element\n"
    "With --glue, instead, a step's RMSNorm (21: two a layer and the final one),\n"
    "RoPE of the queries and keys and SwiGLU at ROWS rows, each alone:\n"
    "  glue ROWS rows: rmsnorm, rope, swiglu: us a step\n"
    "PIC_ISA chooses the kernels as in pic-rollout.\n"
    "\n"
    "Options:\n"
    "      --rows LIST       comma-separated rows (batch sizes) (default 1,8,64)\n"
    "      --positions T     positions each sequence attends to (default 80: the\n"
    "                        mean of bench/rollout.sh's 16 + 128)\n"
    "      --logits V        time the log-softmax statistics over V logits a row\n"
    "      --glue            time the element-wise and per-row layers instead\n"
    "      --reps N          runs of each, the best kept (default 20)\n"
    "      --threads N       threads (default: one per CPU)\n"
    "  -h, --help            this help\n"
    "      --version         the version\n";

enum { LAYERS = 10, C = 256, F = 688, NH = 8, NKV = 4, HD = 32 };

/* IC, OC of each layer's products: qkv, o, gate-up, down */
static const int shapes[4][2] = {{C, (NH + 2 * NKV) * HD}, {NH * HD, C}, {C, 2 * F}, {F, C}};

static float *random_floats(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) pic_die("out of memory (%zu floats)", n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(rand() % 2001 - 1000) * 1e-3f;
    return p;
}

static void bench_matmul(int rows, int reps) {
    float *w[LAYERS][4];
    size_t bytes = 0;
    for (int l = 0; l < LAYERS; l++)
        for (int i = 0; i < 4; i++) {
            size_t n = (size_t)shapes[i][0] * shapes[i][1];
            w[l][i] = random_floats(n);
            bytes += n * sizeof(float);
        }
    float *x = random_floats((size_t)rows * 2 * F), *y = random_floats((size_t)rows * 2 * F);
    for (int hot = 0; hot < 2; hot++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = pic_now();
            for (int l = 0; l < LAYERS; l++)
                for (int i = 0; i < 4; i++)
                    matmul_bi_forward(y, x, w[hot ? 0 : l][i], NULL, (size_t)rows, shapes[i][0], shapes[i][1], false);
            double t = pic_now() - t0;
            if (t < best) best = t;
        }
        double flops = 2.0 * rows * (double)bytes / sizeof(float);
        printf("matmul_bi %2d rows %s: %7.3f ms a step, %6.1f GFLOP/s, %5.1f GB/s of weights (%.1f MB)\n", rows,
               hot ? "hot " : "cold", best * 1e3, flops / best * 1e-9, (double)bytes / best * 1e-9, bytes * 1e-6);
    }
    for (int l = 0; l < LAYERS; l++)
        for (int i = 0; i < 4; i++) free(w[l][i]);
    free(x), free(y);
}

/* B sequences of one new token each at position T - 1, their keys and
 * values in a cache laid out as pic_kvcache's ([layer][slot][position]). */
static void bench_attention(int B, int T, int reps) {
    size_t kvd = NKV * HD, per_layer = (size_t)B * T * kvd;
    float *k = random_floats(LAYERS * per_layer), *v = random_floats(LAYERS * per_layer);
    float *q = random_floats((size_t)B * NH * HD), *out = random_floats((size_t)B * NH * HD);
    int *seq = pic_malloc((size_t)B * sizeof *seq), *pos = pic_malloc((size_t)B * sizeof *pos);
    size_t *off = pic_malloc((size_t)B * sizeof *off);
    for (int s = 0; s < B; s++) seq[s] = s, pos[s] = T - 1, off[s] = (size_t)s * T * kvd;
    size_t work_bytes = attention_workspace_size((size_t)B, T, NH, NKV);
    void *work = aligned_alloc(64, (work_bytes + 63) / 64 * 64);
    /* what a step's products read between two layers' attention */
    size_t junk_n = (3u << 20) / sizeof(float) * LAYERS;
    float *junk = random_floats(junk_n);
    volatile float sink = 0;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = 0;
        for (int l = 0; l < LAYERS; l++) {
            pic_attn_input in = {(size_t)B, seq, pos, k + l * per_layer, v + l * per_layer, off, kvd, NULL};
            double t0 = pic_now();
            attention_forward(out, NULL, q, &in, NH, NKV, HD, work, work_bytes);
            t += pic_now() - t0;
            float acc = 0;
            for (size_t i = (size_t)l * junk_n / LAYERS; i < (size_t)(l + 1) * junk_n / LAYERS; i += 16) acc += junk[i];
            sink += acc;
        }
        if (t < best) best = t;
    }
    double bytes = 2.0 * LAYERS * per_layer * sizeof(float);
    printf("attention %2d x %d positions: %7.3f ms a step, %5.1f GB/s of keys and values (%.1f MB)\n", B, T,
           best * 1e3, bytes / best * 1e-9, bytes * 1e-6);
    free(k), free(v), free(q), free(out), free(seq), free(pos), free(off), free(work), free(junk);
}

/* The head's statistics over rows x V logits (random, spread as a model's),
 * forward and backward (its gradient beside the logits, so each rep reads
 * the same). GB/s counts the logits read once, though each pass reads a
 * row again (from cache where it fits): the rate a caller sees. */
static void bench_logits(int rows, int V, int reps) {
    size_t n = (size_t)rows * V;
    float *x = random_floats(n), *dx = random_floats(n), *lp = random_floats((size_t)rows),
          *ent = random_floats((size_t)rows), *dlp = random_floats((size_t)rows), *dent = random_floats((size_t)rows);
    int32_t *tg = pic_malloc((size_t)rows * sizeof *tg);
    for (size_t i = 0; i < n; i++) x[i] *= 8;
    for (int r = 0; r < rows; r++) tg[r] = (int32_t)((size_t)rand() % (size_t)V);
    for (int back = 0; back < 2; back++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = pic_now();
            if (back)
                logprob_entropy_backward(dx, x, tg, dlp, dent, (size_t)rows, V, 0.7f);
            else
                logprob_entropy_forward(lp, ent, x, tg, (size_t)rows, V, 0.7f);
            double t = pic_now() - t0;
            if (t < best) best = t;
        }
        printf("logits %2d x %d %s: %7.3f ms, %6.2f GB/s of logits, %6.3f ns an element\n", rows, V,
               back ? "backward" : "forward ", best * 1e3, (double)n * sizeof(float) / best * 1e-9,
               best / (double)n * 1e9);
    }
    free(x), free(dx), free(lp), free(ent), free(dlp), free(dent), free(tg);
}

/* Best of reps of a step's calls of each glue layer at the bench model's
 * shapes; the inputs stay in cache, as a decode step's few rows do. */
static void bench_glue(int rows, int reps) {
    size_t n = (size_t)rows;
    float *x = random_floats(n * C), *y = random_floats(n * C), *w = random_floats(C), *r = random_floats(n);
    float *q = random_floats(n * NH * HD), *k = random_floats(n * NKV * HD), *gu = random_floats(n * 2 * F),
          *h = random_floats(n * F), *cs = random_floats(n * HD / 2), *sn = random_floats(n * HD / 2);
    double best[3] = {1e30, 1e30, 1e30};
    for (int rep = 0; rep < reps; rep++) {
        double t[4];
        t[0] = pic_now();
        for (int l = 0; l < 2 * LAYERS + 1; l++) rmsnorm_forward(y, r, x, w, n, C, 1e-6f);
        t[1] = pic_now();
        for (int l = 0; l < LAYERS; l++) rope_forward(q, n, NH, HD, cs, sn), rope_forward(k, n, NKV, HD, cs, sn);
        t[2] = pic_now();
        for (int l = 0; l < LAYERS; l++) swiglu_forward(h, gu, n, F);
        t[3] = pic_now();
        for (int i = 0; i < 3; i++)
            if (t[i + 1] - t[i] < best[i]) best[i] = t[i + 1] - t[i];
    }
    printf("glue %2d rows: rmsnorm %7.1f us, rope %7.1f us, swiglu %7.1f us a step\n", rows, best[0] * 1e6,
           best[1] * 1e6, best[2] * 1e6);
    free(x), free(y), free(w), free(r), free(q), free(k), free(gu), free(h), free(cs), free(sn);
}

int main(int argc, char **argv) {
    pic_init("pic-kernel-bench");
    enum { OPT_ROWS = 256, OPT_POSITIONS, OPT_LOGITS, OPT_GLUE, OPT_REPS, OPT_THREADS, OPT_VERSION };
    static const struct option opts[] = {
        {"rows", required_argument, NULL, OPT_ROWS},     {"positions", required_argument, NULL, OPT_POSITIONS},
        {"logits", required_argument, NULL, OPT_LOGITS}, {"reps", required_argument, NULL, OPT_REPS},
        {"threads", required_argument, NULL, OPT_THREADS}, {"glue", no_argument, NULL, OPT_GLUE},
        {"help", no_argument, NULL, 'h'},                {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *rows = "1,8,64";
    int T = 80, V = 0, reps = 20, threads = 0, glue = 0, c;
    while ((c = pic_getopt(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROWS: rows = optarg; break;
        case OPT_POSITIONS: T = (int)pic_parse_int("--positions", optarg, 1, 1 << 16); break;
        case OPT_LOGITS: V = (int)pic_parse_int("--logits", optarg, 1, 1 << 24); break;
        case OPT_GLUE: glue = 1; break;
        case OPT_REPS: reps = (int)pic_parse_int("--reps", optarg, 1, 1 << 20); break;
        case OPT_THREADS: threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option or missing argument");
        }
    }
    if (optind < argc) pic_usage_error("unexpected argument '%s'", argv[optind]);
    int list[16], n = 0;
    pic_list l;
    pic_option_list(&l, "--rows", rows); /* an empty item is an error, not passed over */
    for (size_t i = 0; i < l.n; i++) {
        if (n == 16) pic_usage_error("--rows: at most 16 sizes");
        list[n++] = (int)pic_parse_int("--rows", l.items[i], 1, 4096);
    }
    pic_list_free(&l);
    pic_set_threads(threads);
    printf("kernels: %s, %d threads\n", pic_matmul_bi_isa(), pic_threads());
    if (V && glue) pic_usage_error("--logits and --glue: choose one");
    if (glue) {
        for (int i = 0; i < n; i++) bench_glue(list[i], reps);
        return 0;
    }
    if (V) {
        for (int i = 0; i < n; i++) bench_logits(list[i], V, reps);
        return 0;
    }
    for (int i = 0; i < n; i++) bench_matmul(list[i], reps);
    for (int i = 0; i < n; i++) bench_attention(list[i], T, reps);
    return 0;
}
