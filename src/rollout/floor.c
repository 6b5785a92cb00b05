/* pic-rollout-floor: the floor of a generation run on this machine, for
 * bench/rollout.sh: B samples of NEW tokens from one prompt of P tokens, as
 * pic-rollout makes them. The run is a prefill of the prompt (one
 * sequence, P rows, which gives every sample its first token) and NEW - 1
 * decode steps of B rows, step i attending over P + i positions. Every step
 * must at least read the weights once and the keys and values of the
 * positions it attends to, at the rate this machine's threads read a buffer
 * that large, and do its matrix and attention FLOPs at the rate OpenBLAS
 * sgemm reaches on the model's shapes with 256 rows. The run's floor is the
 * sum over steps of the larger of the two times. */
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
    "Usage: pic-rollout-floor --prompt-tokens P --new-tokens N [OPTION]... MODEL_DIR B [THREADS]\n"
    "The floor, in tokens/s, of generating B samples of N tokens from one prompt of\n"
    "P tokens with the model in MODEL_DIR on THREADS threads (default: one per CPU),\n"
    "as pic-rollout does it: a prefill of the prompt, then N - 1 decode steps of B\n"
    "sequences, step i attending over P + i positions. Each step takes at least the\n"
    "larger of: reading the weights once and the keys and values it attends to (at\n"
    "the rate THREADS threads read a buffer as large as the last step's bytes), and\n"
    "its matrix and attention FLOPs at OpenBLAS sgemm's rate on the model's shapes\n"
    "with 256 rows. floor = B x N / the sum over steps. The line also gives the\n"
    "parts: weights and KV cache read by the last step, the read rate, the last\n"
    "step's GFLOP, the sgemm rate, how many steps the reads bound, and what sgemm\n"
    "alone does for one decode step's matrix products at B rows.\n"
    "\n"
    "  -p, --prompt-tokens P   the prompt's length in tokens (>= 1)\n"
    "  -n, --new-tokens N      tokens generated per sample (>= 1); P + N must fit\n"
    "                          the model's context (max_position_embeddings)\n"
    "      --read-rate GB/s    use this read rate instead of measuring it (another\n"
    "                          machine's, a data sheet's)\n"
    "      --sgemm-rate GFLOP/s  use this FLOP rate instead of measuring it\n"
    "  -h, --help              this text\n"
    "      --version           the version\n";

/* Bytes of keys and values one sequence caches per position: every layer's
 * kv heads, float. */
static double kv_bytes_per_position(const pic_config *c) {
    return 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * sizeof(float);
}

/* Attention FLOPs of one query token over ctx positions: q.k and the
 * weighted sum of v, a multiply-add each per head_dim, every query head,
 * every layer. */
static double attention_flops(const pic_config *c, double ctx) {
    return 2.0 * 2.0 * ctx * c->head_dim * c->n_heads * c->n_layers;
}

/* Bytes of weights a step of rows tokens reads: every parameter, except
 * that of an untied embedding table it reads only the rows' rows. */
static double weight_bytes(const pic_model *m, double rows) {
    const pic_config *c = &m->cfg;
    double n = (double)m->params.numel;
    if (!c->tie_embeddings) {
        double V = c->vocab_size, C = c->hidden_size;
        n -= V * C - (rows < V ? rows : V) * C;
    }
    return n * sizeof(float);
}

typedef struct {
    double weight_bytes, kv_bytes, flops;
} step_cost;

/* Step 0 is the prefill of the prompt (logits for its last row only);
 * step i >= 1 feeds B sequences one token each, over P + i positions. */
static step_cost step_at(const pic_model *m, int B, int P, int i) {
    const pic_config *c = &m->cfg;
    step_cost s;
    if (i == 0) {
        s.weight_bytes = weight_bytes(m, P);
        s.kv_bytes = P * kv_bytes_per_position(c);
        s.flops = pic_matmul_flops(c, (size_t)P, 1) + attention_flops(c, (double)P * (P + 1) / 2);
    } else {
        double ctx = (double)P + i;
        s.weight_bytes = weight_bytes(m, B);
        s.kv_bytes = B * ctx * kv_bytes_per_position(c);
        s.flops = pic_matmul_flops(c, (size_t)B, (size_t)B) + B * attention_flops(c, ctx);
    }
    return s;
}

int main(int argc, char **argv) {
    pic_init("pic-rollout-floor");
    enum { OPT_VERSION = 256, OPT_READ_RATE, OPT_SGEMM_RATE };
    static const struct option opts[] = {
        {"prompt-tokens", required_argument, 0, 'p'},       {"new-tokens", required_argument, 0, 'n'},
        {"read-rate", required_argument, 0, OPT_READ_RATE}, {"sgemm-rate", required_argument, 0, OPT_SGEMM_RATE},
        {"help", no_argument, 0, 'h'},                      {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    int P = 0, N = 0, c;
    double read_rate = 0, flop_rate = 0; /* 0: measured */
    while ((c = pic_getopt(argc, argv, "p:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': P = (int)pic_parse_int("--prompt-tokens", optarg, 1, 1 << 20); break;
        case 'n': N = (int)pic_parse_int("--new-tokens", optarg, 1, 1 << 20); break;
        case OPT_READ_RATE: read_rate = pic_parse_double("--read-rate", optarg, 1e-3, 1e6) * 1e9; break;
        case OPT_SGEMM_RATE: flop_rate = pic_parse_double("--sgemm-rate", optarg, 1e-3, 1e9) * 1e9; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (!P || !N) pic_usage_error("--prompt-tokens and --new-tokens are required");
    if (argc - optind < 2) pic_usage_error("expected MODEL_DIR B [THREADS]");
    if (argc - optind > 3) pic_usage_error("unexpected operand '%s'", argv[optind + 3]);
    const char *dir = argv[optind];
    int B = (int)pic_parse_int("B", argv[optind + 1], 1, 1 << 16);
    int threads = argc - optind > 2 ? (int)pic_parse_int("THREADS", argv[optind + 2], 1, 1024) : 0;
    pic_model m;
    pic_err err;
    if (pic_model_load(&m, dir, NULL, &err)) pic_die("%s", err.msg);
    if ((long long)P + N > m.cfg.max_position)
        pic_usage_error("--prompt-tokens %d + --new-tokens %d exceed %s's context of %d positions", P, N, dir,
                        m.cfg.max_position);
    pic_set_threads(threads);

    step_cost last = step_at(&m, B, P, N - 1), first = step_at(&m, B, P, 0);
    double biggest = last.weight_bytes + last.kv_bytes;
    if (first.weight_bytes + first.kv_bytes > biggest) biggest = first.weight_bytes + first.kv_bytes;
    if (!read_rate) read_rate = pic_read_rate((size_t)biggest, 5);
    if (!flop_rate) {
        double flops256, t_256 = pic_sgemm_floor(&m.cfg, &m.params, 256, 256, 5, &flops256);
        flop_rate = flops256 / t_256;
    }
    double decode_flops;
    double t_b = pic_sgemm_floor(&m.cfg, &m.params, (size_t)B, (size_t)B, 5, &decode_flops);

    double total = 0;
    int read_bound = 0;
    for (int i = 0; i < N; i++) {
        step_cost s = step_at(&m, B, P, i);
        double t_read = (s.weight_bytes + s.kv_bytes) / read_rate, t_flop = s.flops / flop_rate;
        total += t_read > t_flop ? t_read : t_flop;
        read_bound += t_read > t_flop;
    }
    printf("floor %.0f tokens/s (weights %.1f MB + KV %.3f MB at the last step, read at %.1f GB/s on %d threads; "
           "%.3f GFLOP at the last step at %.1f GFLOP/s sgemm; reads bound %d of %d steps; "
           "sgemm alone at %d rows: %.0f tokens/s)\n",
           (double)B * N / total, last.weight_bytes / 1e6, last.kv_bytes / 1e6, read_rate / 1e9, pic_threads(),
           last.flops / 1e9, flop_rate / 1e9, read_bound, N, B, B / t_b);
    pic_model_free(&m);
    pic_stdout_close();
    return 0;
}
