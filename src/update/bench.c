/* pic-update-bench: training tokens/s on the CPU (forward, loss, backward,
 * AdamW) of a randomly initialised ~9.4M-parameter model, against the FLOP
 * floor: 6 x params x tokens at the rate OpenBLAS sgemm reaches on the
 * model's own weight shapes, measured in the same run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/dist.h"
#include "common/progress.h"
#include "common/rng.h"
#include "model/floor.h"
#include "model/model.h"
#include "model/parallel.h"
#include "update/train.h"

static const char usage[] =
    "Usage: pic-update-bench [OPTION]...\n"
    "Training tokens/s of a random llama model (about 9.35M parameters, tied\n"
    "embeddings) with the PPO-clip + EntroPIC loss, against 6 x params x tokens\n"
    "at the sgemm rate measured on the model's weight shapes in the same run.\n"
    "\n"
    "      --config FILE   a config.json instead of the built-in model\n"
    "      --seqs N        sequences per step (default 16)\n"
    "      --prompt N      prompt tokens per sequence (default 64)\n"
    "      --response N    response tokens per sequence (default 192)\n"
    "      --steps N       timed optimizer steps (default 3)\n"
    "      --micro-tokens N  micro-batch token budget (default 0: none)\n"
    "      --fast          the forward's products through OpenBLAS (pic-update --fast)\n"
    "      --threads N     (default: one per CPU)\n"
    "  -h, --help          this help\n"
    "      --version       the version\n"
    "Under mpirun as R ranks, each takes its share of the step, the stats\n"
    "add the collectives' share of the step's time (bench/dist.sh), and the\n"
    "floor is the sum of the ranks' sgemm rates, measured at once\n"
    "(rank_sgemm_gflops: each rank's).\n";


/* GFLOP/s of sgemm over the forward's weight products for N tokens, the
 * best of three rounds. */
static double sgemm_rate(const pic_config *c, const pic_params *p, size_t N) {
    double flops, t = pic_sgemm_floor(c, p, N, N, 3, &flops);
    return flops / t / 1e9;
}

int main(int argc, char **argv) {
    pic_init("pic-update-bench");
    static const struct option opts[] = {{"config", 1, 0, 'c'}, {"seqs", 1, 0, 's'}, {"prompt", 1, 0, 'p'},
                                         {"response", 1, 0, 'r'}, {"steps", 1, 0, 'k'}, {"micro-tokens", 1, 0, 'u'},
                                         {"threads", 1, 0, 't'}, {"fast", 0, 0, 'f'}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'v'},
                                         {0, 0, 0, 0}};
    const char *cfgfile = NULL;
    int seqs = 16, prompt = 64, response = 192, steps = 3, threads = 0, o;
    bool fast = false;
    size_t micro = 0;
    while ((o = pic_getopt(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfgfile = optarg; break;
        case 's': seqs = (int)pic_parse_int("--seqs", optarg, 1, 1 << 20); break;
        case 'p': prompt = (int)pic_parse_int("--prompt", optarg, 1, 1 << 20); break;
        case 'r': response = (int)pic_parse_int("--response", optarg, 1, 1 << 20); break;
        case 'k': steps = (int)pic_parse_int("--steps", optarg, 1, 1 << 20); break;
        case 'u': micro = (size_t)pic_parse_int("--micro-tokens", optarg, 0, 1ll << 40); break;
        case 'f': fast = true; break;
        case 't': threads = (int)pic_parse_int("--threads", optarg, 0, 4096); break;
        case 'h': pic_print_help(usage);
        case 'v': pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    pic_dist_init(NULL, NULL);
    pic_set_threads(threads ? threads : pic_dist_threads());
    pic_config cfg;
    pic_err err;
    if (cfgfile ? pic_config_load(&cfg, cfgfile, &err) : pic_config_parse(&cfg, pic_bench_config_json, "built-in", &err))
        pic_die("%s", err.msg);
    pic_model m;
    pic_model_init(&m, &cfg);
    pic_params_init_random(&m.params, 1, 0.02f);
    m.batch_invariant = !fast; /* as pic-update: the generator's forward unless --fast */

    pic_rng rng;
    pic_rng_seed(&rng, 1, 2, 3);
    pic_sample *s = pic_calloc((size_t)seqs, sizeof *s);
    for (int i = 0; i < seqs; i++) {
        s[i].n_prompt = prompt, s[i].n_resp = response;
        s[i].ids = pic_malloc((size_t)(prompt + response) * sizeof(int32_t));
        s[i].old_logp = pic_malloc((size_t)response * sizeof(float));
        for (int j = 0; j < prompt + response; j++) s[i].ids[j] = (int32_t)pic_rng_below(&rng, (uint64_t)cfg.vocab_size);
        for (int j = 0; j < response; j++) s[i].old_logp[j] = -9.0f - (float)pic_rng_uniform(&rng);
        s[i].adv = i % 2 ? 1.0 : -1.0;
    }
    pic_train_cfg tc = {0};
    pic_loss_defaults(&tc.loss);
    pic_adamw_defaults(&tc.opt);
    tc.loss.alpha = 0.1;
    tc.max_grad_norm = 1.0;
    tc.temperature = 0.6f;
    tc.micro_tokens = micro;
    pic_trainer tr;
    pic_trainer_init(&tr, &m, &tc);
    pic_step_stats st;
    pic_train_step(&tr, s, (size_t)seqs, true, &st); /* warm-up: allocations, page faults */
    double t0 = pic_now(), c0 = pic_dist_comm_seconds(), w0 = pic_dist_wait_seconds();
    for (int k = 0; k < steps; k++) pic_train_step(&tr, s, (size_t)seqs, true, &st);
    double secs = pic_now() - t0, comm = pic_dist_comm_seconds() - c0, wait = pic_dist_wait_seconds() - w0;
    /* The floor is the job's: every rank measures its sgemm rate at once,
     * on its own threads, and the rates add (the step's tokens are split
     * over the ranks). Rank 0's rate alone, measured after the others had
     * left, set one rank's floor beside all ranks' tokens/s. */
    int R = pic_dist_size();
    size_t step_tokens = (size_t)seqs * (size_t)(prompt + response);
    double *rates = pic_calloc((size_t)R, sizeof *rates);
    pic_dist_barrier();
    rates[pic_dist_rank()] = sgemm_rate(&cfg, &m.params, step_tokens < 4096 ? step_tokens : 4096);
    pic_dist_sum_double(rates, (size_t)R);
    if (pic_dist_rank() > 0) {
        free(rates);
        pic_dist_finish();
        return 0;
    }
    double rate = 0;
    for (int r = 0; r < R; r++) rate += rates[r];
    size_t tokens = step_tokens * (size_t)steps;
    double params = (double)m.params.numel;
    double tps = (double)tokens / secs, floor_tps = rate * 1e9 / (6.0 * params);
    printf("{\"params\":%.0f,\"threads\":%d,\"seqs\":%d,\"tokens_per_step\":%d,\"steps\":%d,\"seconds\":%.3f,"
           "\"tokens_per_s\":%.1f,\"sgemm_gflops\":%.2f,\"rank_sgemm_gflops\":[",
           params, pic_threads(), seqs, seqs * (prompt + response), steps, secs, tps, rate);
    for (int r = 0; r < R; r++) printf("%s%.2f", r ? "," : "", rates[r]);
    printf("],\"floor_tokens_per_s\":%.1f,\"fraction_of_floor\":%.3f,"
           "\"ranks\":%d,\"grad_bytes_per_step\":%.0f,\"comm_seconds\":%.4f,\"comm_share\":%.4f,"
           "\"wait_seconds\":%.4f,\"forward\":\"%s\"}\n",
           floor_tps, tps / floor_tps, R, 4 * params, comm, comm / secs, wait, fast ? "fast" : "exact");
    free(rates);
    pic_trainer_free(&tr);
    for (int i = 0; i < seqs; i++) free(s[i].ids), free(s[i].old_logp);
    free(s);
    pic_model_free(&m);
    pic_dist_finish();
    return 0;
}
