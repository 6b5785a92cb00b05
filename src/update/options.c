/* pic-update's command line: the usage text, the options and their checks
 * (options.h). */
#include "update/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/stream.h"

static const char usage[] =
    "Usage: pic-update --model DIR --output DIR [OPTION]... [FILE]...\n"
    "  or:  pic-update --model DIR --serve [OPTION]... < REQUESTS\n"
    "Trains the checkpoint DIR on the scored samples in the FILEs (JSON Lines,\n"
    "plain or zstd; none or '-' reads standard input): advantages, the policy\n"
    "loss, backward, AdamW. Writes the next checkpoint atomically and one JSON\n"
    "stats line on standard output.\n"
    "\n"
    "  -m, --model DIR          the checkpoint to train; its optimizer.safetensors,\n"
    "                           when present, resumes AdamW (m, v, step)\n"
    "  -o, --output DIR         the new checkpoint (replaced atomically; DIR must be\n"
    "                           absent, empty or a checkpoint)\n"
    "      --reset-optimizer    ignore DIR's optimizer state\n"
    "      --device cpu|cuda|auto  where to train (default auto: a GPU when the\n"
    "                           build has CUDA and one is visible, and the CPU\n"
    "                           for several ranks; with cuda each rank takes a GPU\n"
    "                           of its machine)\n"
    "      --dtype f32|bf16     the compute dtype: on a GPU, bf16 (its default)\n"
    "                           matrix products over fp32 master weights, or f32\n"
    "                           throughout; the CPU computes in f32 only (its\n"
    "                           default). The new checkpoint's weights keep DIR's\n"
    "                           dtype (bf16 and f16 ones with their fp32 master weights in\n"
    "                           optimizer.safetensors, so that resuming is exact)\n"
    "      --recompute          keep each layer's input only and recompute the\n"
    "                           rest before its backward (less memory, a third\n"
    "                           more compute, the same gradient)\n"
    "\n"
    "Loss:\n"
    "      --loss pg|sft        policy loss (default) or the mean NLL of the\n"
    "                           response tokens (SFT warm-up; T = 1 by default;\n"
    "                           the mean as --loss-agg says)\n"
    "      --pg clip|clip-cov|kl-cov  PPO clip with clip-higher and dual clip\n"
    "                           (default), or Cui et al.'s Clip-Cov / KL-Cov\n"
    "      --temperature T      of the log-probabilities, whatever the records say\n"
    "                           (default: the records' `temperature`, which must\n"
    "                           agree, greedy's 0 read as 1; else 1)\n"
    "      --clip-low X         (default 0.2)     --clip-high X  (default 0.2)\n"
    "                           (clip and clip-cov: KL-Cov clips nothing)\n"
    "      --clip-ratio-c X     dual clip for A < 0 (default 3; <= 1 turns it off;\n"
    "                           clip only)\n"
    "      --loss-agg MODE      token-mean (default, over all response tokens of\n"
    "                           the optimizer step), seq-mean-token-mean,\n"
    "                           seq-mean-token-sum, seq-mean-token-sum-norm\n"
    "      --norm-len N         divisor of seq-mean-token-sum-norm, required\n"
    "                           with it (Dr. GRPO's constant: the generation budget)\n"
    "      --alpha A            EntroPIC coefficient (default 0: no term)\n"
    "      --alpha-cmd CMD      run CMD (e.g. 'pictl --state s.json') through sh\n"
    "                           as a co-process: each optimizer step writes its\n"
    "                           token-mean entropy and reads alpha back\n"
    "      --tau X              high-probability threshold (default 0.95)\n"
    "      --entropic-norm hi|all  divide the EntroPIC sum by the count of\n"
    "                           high-probability tokens (default, the official\n"
    "                           code) or by the pg aggregation (paper Fig. 8)\n"
    "      --entropic-tokens high|low  the EntroPIC term on the tokens above tau\n"
    "                           (default) or, its sign reversed, at or below it\n"
    "                           (paper sec. 4.3)\n"
    "      --entropy-coef C     entropy bonus: loss -= C * agg(H) (default 0)\n"
    "      --aec-target H       Skywork-OR1's adaptive entropy coefficient: the\n"
    "                           bonus is c_k while entropy <= H, and c_k moves by\n"
    "                           --aec-delta (default 1e-4) toward H each step,\n"
    "                           within [0, --aec-max] (default 0.005), from\n"
    "                           --aec-init (default 0); a step without response\n"
    "                           tokens leaves it; c_k lives in\n"
    "                           optimizer.safetensors\n"
    "      --dmmpt-target H     UloRL's DMMPT: while the step's entropy is below\n"
    "                           H, the tokens of positive samples with p >=\n"
    "                           --mpt-prob (default 0.99) are out of the loss\n"
    "      --mask-quadrant hi-pos|hi-neg|lo-pos|lo-neg  the tokens of one quadrant\n"
    "                           of (p > --tau or not) x (A > 0 or A < 0) are out\n"
    "                           of the loss (paper Fig. 2; default none)\n"
    "      --ref DIR            reference model for a KL penalty\n"
    "      --kl k1|k2|k3        its estimator (default k3, verl's low_var_kl)\n"
    "      --kl-coef X          (default 0.001)\n"
    "      --cov-ratio X        Clip-Cov / KL-Cov fraction of tokens, in (0, 1]\n"
    "                           (default 2e-4)\n"
    "      --clip-cov-lb X      (default 1)       --clip-cov-ub X (default 5)\n"
    "      --kl-cov-coef X      (default 1)\n"
    "      --seed N             Clip-Cov's random pick (default 1), drawn anew each\n"
    "                           optimizer step\n"
    "\n"
    "Advantages (a record's own `advantage` always wins):\n"
    "      --adv grpo|nsr|psr|w-reinforce  (default grpo: (r - mean) / (std + 1e-6)\n"
    "                           over the samples of each `id`, unbiased std; r is\n"
    "                           `reward`, else `correct` as 1 or 0)\n"
    "      --adv-norm std|none  grpo's divisor: std (default), or none: r - mean\n"
    "                           (Dr. GRPO)\n"
    "      --w-lambda X         W-REINFORCE's weight of positive samples (0.1)\n"
    "\n"
    "Optimization:\n"
    "      --mini-batches K     K sequential optimizer steps over K slices of the\n"
    "                           samples (off-policy after the first; default 1)\n"
    "      --micro-tokens N     micro-batch token budget; gradients accumulate to\n"
    "                           the whole step's (default 0: one micro-batch)\n"
    "      --lr X               (default 1e-6)    --weight-decay X (default 0.01)\n"
    "      --beta1 X  --beta2 X --eps X          (0.9, 0.999, 1e-8)\n"
    "      --warmup N           linear warm-up steps (default 0)\n"
    "      --schedule constant|cosine  constant (default), or cosine from --lr\n"
    "                           after the warm-up to --min-lr-ratio X (default 0)\n"
    "                           times it at --total-steps N (required with it)\n"
    "      --max-grad-norm X    global-norm clipping (default 1; 0: off)\n"
    "      --save-grads FILE    the (clipped) gradients of the last step, safetensors\n"
    "      --max-shard-size N   weights beyond N bytes (suffix KB, MB or GB: 10^3,\n"
    "                           10^6, 10^9) go in shards with an index, as\n"
    "                           transformers writes them (default 5GB)\n"
    "      --fast               the forward's matrix products through OpenBLAS\n"
    "                           (default: pic-rollout's fixed-order kernel, so that\n"
    "                           the first step's log-probs equal the stream's bit\n"
    "                           for bit and the PPO ratio is exactly 1; --fast\n"
    "                           makes them differ by rounding, ~1e-5)\n"
    "      --threads N          (default: one per CPU)\n"
    "      --skip-bad           skip malformed records and count them; a GRPO\n"
    "                           group they leave with one sample is dropped too;\n"
    "                           a record whose `temperature` differs from most\n"
    "                           records' is one (a tie for most is an error)\n"
    "  -q, --quiet              no summary on standard error\n"
    "\n"
    "A long-lived trainer:\n"
    "      --serve              no FILE and no --output: read one JSON request a\n"
    "                           line on standard input, {\"samples\": FILE or\n"
    "                           [FILE, ...], \"output\": DIR}, optionally \"alpha\",\n"
    "                           \"alpha_cmd\", \"save_grads\" and \"state\": false (the\n"
    "                           weights without AdamW's state, which cannot be\n"
    "                           resumed from); take the step from the weights,\n"
    "                           moments and master weights in memory, write DIR,\n"
    "                           then its stats line; the last DIR always gets the\n"
    "                           state, also on SIGTERM, SIGINT or SIGHUP, which give\n"
    "                           up a step not yet taken and end the server, and on\n"
    "                           a request that fails before its first optimizer\n"
    "                           step (a missing file, a bad line). On a GPU\n"
    "                           it needs --micro-tokens (the arena is sized at\n"
    "                           start). The checkpoints are pic-update's one step\n"
    "                           at a time, bit for bit\n"
    "\n"
    "Started by mpirun or srun as R ranks, each rank reads the same FILEs, trains\n"
    "on its share of the sequences and the ranks sum their gradients, so that the\n"
    "step is the one-process step; rank 0 writes the outputs (docs/distributed.md).\n"
    "With --device cuda each rank takes a GPU of its machine and steps its slice\n"
    "of AdamW's state; NCCL sums the gradients and gathers the weights\n"
    "(PIC_NCCL=0: host memory does).\n"
    "  -h, --help               this help\n"
    "      --version            the version\n";

enum {
    O_RESET = 256, O_DTYPE, O_LOSS, O_PG, O_TEMP, O_CLOW, O_CHIGH, O_CC, O_AGG, O_NORMLEN, O_ALPHA, O_ALPHACMD,
    O_TAU, O_ENORM, O_ECOEF, O_AECT, O_AECD, O_REF, O_KL, O_KLCOEF, O_COVR, O_CCLB, O_CCUB, O_KLCC, O_SEED, O_ADV,
    O_ADVNORM, O_WL, O_MB, O_MICRO, O_LR, O_WD, O_B1, O_B2, O_EPS, O_WARM, O_SCHED, O_TOTAL, O_MINLR, O_MAXGN,
    O_GRADS, O_THREADS, O_SKIP, O_ETOK, O_AECMAX, O_AECINIT, O_DMMPT, O_MPTP, O_QUAD, O_VERSION, O_SHARD, O_FAST,
    O_DEVICE, O_RECOMPUTE, O_SERVE, O_END,
};

static const struct option opts[] = {
    {"model", 1, 0, 'm'}, {"output", 1, 0, 'o'}, {"reset-optimizer", 0, 0, O_RESET}, {"dtype", 1, 0, O_DTYPE},
    {"loss", 1, 0, O_LOSS}, {"pg", 1, 0, O_PG}, {"temperature", 1, 0, O_TEMP}, {"clip-low", 1, 0, O_CLOW},
    {"clip-high", 1, 0, O_CHIGH}, {"clip-ratio-c", 1, 0, O_CC}, {"loss-agg", 1, 0, O_AGG},
    {"norm-len", 1, 0, O_NORMLEN}, {"alpha", 1, 0, O_ALPHA}, {"alpha-cmd", 1, 0, O_ALPHACMD}, {"tau", 1, 0, O_TAU},
    {"entropic-norm", 1, 0, O_ENORM}, {"entropy-coef", 1, 0, O_ECOEF}, {"aec-target", 1, 0, O_AECT},
    {"aec-delta", 1, 0, O_AECD}, {"ref", 1, 0, O_REF}, {"kl", 1, 0, O_KL}, {"kl-coef", 1, 0, O_KLCOEF},
    {"cov-ratio", 1, 0, O_COVR}, {"clip-cov-lb", 1, 0, O_CCLB}, {"clip-cov-ub", 1, 0, O_CCUB},
    {"kl-cov-coef", 1, 0, O_KLCC}, {"seed", 1, 0, O_SEED}, {"adv", 1, 0, O_ADV}, {"adv-norm", 1, 0, O_ADVNORM},
    {"w-lambda", 1, 0, O_WL}, {"mini-batches", 1, 0, O_MB}, {"micro-tokens", 1, 0, O_MICRO}, {"lr", 1, 0, O_LR},
    {"weight-decay", 1, 0, O_WD}, {"beta1", 1, 0, O_B1}, {"beta2", 1, 0, O_B2}, {"eps", 1, 0, O_EPS},
    {"warmup", 1, 0, O_WARM}, {"schedule", 1, 0, O_SCHED}, {"total-steps", 1, 0, O_TOTAL},
    {"min-lr-ratio", 1, 0, O_MINLR}, {"max-grad-norm", 1, 0, O_MAXGN}, {"save-grads", 1, 0, O_GRADS},
    {"max-shard-size", 1, 0, O_SHARD}, {"device", 1, 0, O_DEVICE}, {"recompute", 0, 0, O_RECOMPUTE},
    {"serve", 0, 0, O_SERVE},
    {"threads", 1, 0, O_THREADS}, {"skip-bad", 0, 0, O_SKIP},
    {"entropic-tokens", 1, 0, O_ETOK}, {"aec-max", 1, 0, O_AECMAX}, {"aec-init", 1, 0, O_AECINIT},
    {"dmmpt-target", 1, 0, O_DMMPT}, {"mpt-prob", 1, 0, O_MPTP}, {"mask-quadrant", 1, 0, O_QUAD},
    {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},
    {"version", 0, 0, O_VERSION}, {"fast", 0, 0, O_FAST}, {0, 0, 0, 0},
};

/* A size in bytes as transformers' max_shard_size takes it: "5GB", "200MB",
 * "4096". The number before a suffix is read here rather than by
 * pic_parse_double, whose messages would quote it without its suffix
 * ("'10T' is not a number" for 10TB, a range in GB for "2000000GB"). */
static size_t parse_size(const char *opt, const char *s) {
    static const struct { const char *suffix; double scale; } units[] = {{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}};
    size_t n = strlen(s);
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        size_t k = strlen(units[u].suffix);
        if (n > k && !strcmp(s + n - k, units[u].suffix)) {
            /* a decimal as typed: strtod alone would take " 5", "0x5" and "inf" */
            char *end = NULL;
            errno = 0;
            double x = strchr("0123456789.", s[0]) && strspn(s, "0123456789.eE+-") == n - k ? strtod(s, &end) : NAN;
            if (isnan(x) || end != s + n - k)
                pic_usage_error("%s: '%s' is not a size (a number of bytes, or of KB, MB or GB)", opt, s);
            x *= units[u].scale;
            if (errno == ERANGE || x < 1 || x > 1e15) pic_usage_error("%s: %s is outside [1, 1e15] bytes", opt, s);
            return (size_t)x;
        }
    }
    return (size_t)pic_parse_int(opt, s, 1, (long long)1e15);
}

/* A usage error when the option val was given and its controlling option
 * (what) was not: the run would be the one without it, silently. */
static void needs(const bool *given, int val, bool active, const char *what) {
    if (!given[val] || active) return;
    for (const struct option *x = opts; x->name; x++)
        if (x->val == val) pic_usage_error("--%s needs %s (without it the option does nothing)", x->name, what);
}

/* The index of s in names (NULL-terminated), or a usage error naming opt. */
static int choice(const char *opt, const char *s, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) return i;
    pic_usage_error("%s: '%s' is not one of the choices (see --help)", opt, s);
}

void update_parse_options(options *o, int argc, char **argv) {
    static const char *const dtypes[] = {"f32", "bf16", NULL}, *const losses[] = {"pg", "sft", NULL},
                             *const pgs[] = {"clip", "clip-cov", "kl-cov", NULL},
                             *const aggs[] = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                              "seq-mean-token-sum-norm", NULL},
                             *const norms[] = {"hi", "all", NULL}, *const etoks[] = {"high", "low", NULL},
                             *const quads[] = {"hi-pos", "hi-neg", "lo-pos", "lo-neg", NULL},
                             *const kls[] = {"k1", "k2", "k3", NULL},
                             *const advs[] = {"grpo", "nsr", "psr", "w-reinforce", NULL},
                             *const advn[] = {"std", "none", NULL},
                             *const scheds[] = {"constant", "cosine", NULL},
                             *const devices[] = {"auto", "cpu", "cuda", NULL};
    pic_train_cfg *t = &o->tc;
    pic_loss_cfg *l = &t->loss;
    int c, at;
    bool given[O_END] = {0};
    while ((c = pic_getopt(argc, argv, "m:o:qh", opts, &at)) != -1) {
        const char *a = optarg;
        if (c >= 0 && c < O_END) given[c] = true;
        /* messages name the option as typed; getopt sets `at` for long ones */
        const char *on = c >= 256 ? opts[at].name : "";
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", on);
        switch (c) {
        case 'm': o->model = a; break;
        case 'o': o->output = a; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case O_VERSION: pic_print_version();
        case O_RESET: o->reset = true; break;
        case O_DTYPE: o->dtype = choice(opt, a, dtypes) ? PIC_DTYPE_BF16 : PIC_DTYPE_F32; break;
        case O_DEVICE: o->device = (pic_device)choice("--device", a, devices); break;
        case O_RECOMPUTE: o->recompute = true; break;
        case O_SERVE: o->serve = true; break;
        case O_LOSS: o->sft = choice(opt, a, losses) == 1; break;
        case O_PG: l->kind = (pic_pg_kind)choice(opt, a, pgs); break;
        /* as the records may carry and pic-rollout --score takes */
        case O_TEMP: o->temperature = pic_parse_double(opt, a, 1e-3, 1e6); break;
        case O_CLOW: l->clip_low = pic_parse_double(opt, a, 0, 1); break;
        case O_CHIGH: l->clip_high = pic_parse_double(opt, a, 0, 100); break;
        case O_CC: l->clip_ratio_c = pic_parse_double(opt, a, 0, 1e6); break;
        case O_AGG: l->agg = (pic_agg)choice(opt, a, aggs); break;
        case O_NORMLEN: l->norm_len = (int)pic_parse_int(opt, a, 1, 1 << 30); break;
        case O_ALPHA: l->alpha = pic_parse_double(opt, a, -1e3, 1e3), o->alpha_set = true; break;
        case O_ALPHACMD: o->alpha_cmd = a; break;
        case O_TAU: l->tau = pic_parse_double(opt, a, 1e-30, 1); break;
        case O_ENORM: l->entropic_all = choice(opt, a, norms) == 1; break;
        case O_ECOEF: l->entropy_coef = pic_parse_double(opt, a, -1e3, 1e3); break;
        case O_AECT: t->aec = true, t->aec_target = pic_parse_double(opt, a, 0, 1e3); break;
        case O_AECD: t->aec_delta = pic_parse_double(opt, a, 0, 1e3); break;
        case O_REF: o->ref = a; break;
        case O_KL: l->kl = (pic_kl_kind)(PIC_KL_K1 + choice(opt, a, kls)), o->kl_set = true; break;
        case O_KLCOEF: l->kl_coef = pic_parse_double(opt, a, 0, 1e6); break;
        case O_COVR:
            l->cov_ratio = pic_parse_double(opt, a, 0, 1);
            /* both methods take max(1, ratio x tokens): 0 still picked a
             * token a step; verl asserts the ratio is above 0 */
            if (l->cov_ratio == 0) pic_usage_error("%s: 0 would still select one token a step; give a ratio above 0", opt);
            break;
        case O_CCLB: l->cov_lb = pic_parse_double(opt, a, -1e30, 1e30); break;
        case O_CCUB: l->cov_ub = pic_parse_double(opt, a, -1e30, 1e30); break;
        case O_KLCC: l->kl_cov_coef = pic_parse_double(opt, a, 0, 1e6); break;
        case O_SEED: l->seed = (uint64_t)pic_parse_int(opt, a, 0, (long long)(~0ull >> 1)); break;
        case O_ADV: o->adv.mode = (pic_adv_mode)choice(opt, a, advs); break;
        case O_ADVNORM: o->adv.std_norm = choice(opt, a, advn) == 0; break;
        case O_WL: o->adv.lambda = pic_parse_double(opt, a, 0, 1e6); break;
        case O_MB: o->mini_batches = (int)pic_parse_int(opt, a, 1, 1 << 20); break;
        case O_MICRO: t->micro_tokens = (size_t)pic_parse_int(opt, a, 0, 1ll << 40); break;
        case O_LR: t->opt.lr = pic_parse_double(opt, a, 0, 10); break;
        case O_WD: t->opt.weight_decay = pic_parse_double(opt, a, 0, 10); break;
        case O_B1: t->opt.beta1 = pic_parse_double(opt, a, 0, 0.999999); break;
        case O_B2: t->opt.beta2 = pic_parse_double(opt, a, 0, 0.999999999); break;
        case O_EPS: t->opt.eps = pic_parse_double(opt, a, 0, 1); break;
        case O_WARM: t->opt.warmup = (long)pic_parse_int(opt, a, 0, 1 << 30); break;
        case O_SCHED: t->opt.sched = (pic_sched_kind)choice(opt, a, scheds); break;
        case O_TOTAL: t->opt.total = (long)pic_parse_int(opt, a, 1, 1 << 30); break;
        case O_MINLR: t->opt.min_lr_ratio = pic_parse_double(opt, a, 0, 1); break;
        case O_MAXGN: t->max_grad_norm = pic_parse_double(opt, a, 0, 1e30); break;
        case O_GRADS: o->grads = a; break;
        case O_SHARD: o->max_shard = parse_size(opt, a); break;
        case O_FAST: o->fast = true; break;
        case O_THREADS: o->threads = (int)pic_parse_int(opt, a, 0, 4096); break;
        case O_SKIP: pic_skip_bad = true; break;
        case O_ETOK: l->entropic_low = choice(opt, a, etoks) == 1; break;
        case O_AECMAX: t->aec_max = pic_parse_double(opt, a, 0, 1e3); break;
        case O_AECINIT: t->aec_init = pic_parse_double(opt, a, 0, 1e3); break;
        case O_DMMPT: t->dmmpt = true, t->dmmpt_target = pic_parse_double(opt, a, 0, 1e3); break;
        case O_MPTP: l->mpt_prob = pic_parse_double(opt, a, 1e-30, 1); break;
        case O_QUAD: l->mask_quadrant = (pic_quadrant)(PIC_QUAD_HI_POS + choice(opt, a, quads)); break;
        default: pic_usage_error("unknown option (see --help)");
        }
    }
    if (!o->model) pic_usage_error("--model DIR is required");
    if (o->serve && o->output) pic_usage_error("--serve takes each checkpoint's DIR from its request, not --output");
    if (o->serve && o->grads) pic_usage_error("--serve takes --save-grads from a request (save_grads), not the command line");
    if (!o->output && !o->serve) pic_usage_error("--output DIR is required");
    if (o->alpha_cmd && o->alpha_set) pic_usage_error("--alpha and --alpha-cmd exclude each other");
    bool cov = l->kind == PIC_PG_CLIP_COV || l->kind == PIC_PG_KL_COV;
    needs(given, O_KLCOEF, o->ref, "--ref DIR");
    needs(given, O_NORMLEN, l->agg == PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM, "--loss-agg seq-mean-token-sum-norm");
    needs(given, O_COVR, cov, "--pg clip-cov or --pg kl-cov");
    needs(given, O_CCLB, l->kind == PIC_PG_CLIP_COV, "--pg clip-cov");
    needs(given, O_CCUB, l->kind == PIC_PG_CLIP_COV, "--pg clip-cov");
    needs(given, O_SEED, l->kind == PIC_PG_CLIP_COV, "--pg clip-cov");
    needs(given, O_KLCC, l->kind == PIC_PG_KL_COV, "--pg kl-cov");
    /* KL-Cov's loss is the unclipped ratio and Clip-Cov has no dual clip,
     * as verl's compute_policy_loss_kl_cov / _clip_cov (SFT: below) */
    needs(given, O_CLOW, l->kind != PIC_PG_KL_COV, "--pg clip or clip-cov");
    needs(given, O_CHIGH, l->kind != PIC_PG_KL_COV, "--pg clip or clip-cov");
    needs(given, O_CC, l->kind == PIC_PG_CLIP, "--pg clip");
    needs(given, O_WL, o->adv.mode == PIC_ADV_W_REINFORCE, "--adv w-reinforce");
    /* NSR, PSR and W-REINFORCE give fixed values: no group std to divide by */
    needs(given, O_ADVNORM, o->adv.mode == PIC_ADV_GRPO, "--adv grpo");
    needs(given, O_AECD, t->aec, "--aec-target");
    needs(given, O_AECMAX, t->aec, "--aec-target");
    needs(given, O_AECINIT, t->aec, "--aec-target");
    needs(given, O_MPTP, t->dmmpt, "--dmmpt-target");
    needs(given, O_TOTAL, t->opt.sched == PIC_SCHED_COSINE, "--schedule cosine");
    needs(given, O_MINLR, t->opt.sched == PIC_SCHED_COSINE, "--schedule cosine");
    /* --serve's requests may carry alpha */
    needs(given, O_ENORM, o->alpha_set || o->alpha_cmd || o->serve, "--alpha, --alpha-cmd or --serve");
    needs(given, O_ETOK, o->alpha_set || o->alpha_cmd || o->serve, "--alpha, --alpha-cmd or --serve");
    if (o->kl_set && !o->ref) pic_usage_error("--kl needs --ref DIR");
    if (o->ref && !o->kl_set) l->kl = PIC_KL_K3;
    if (t->aec && l->entropy_coef != 0) pic_usage_error("--aec-target and --entropy-coef exclude each other");
    if (t->aec_init > t->aec_max) pic_usage_error("--aec-init %g is above --aec-max %g", t->aec_init, t->aec_max);
    if (l->agg == PIC_AGG_SEQ_MEAN_TOKEN_SUM_NORM && l->norm_len == 0)
        pic_usage_error("--loss-agg seq-mean-token-sum-norm needs --norm-len N (Dr. GRPO's constant: the generation budget)");
    if (t->opt.sched == PIC_SCHED_COSINE && t->opt.total <= t->opt.warmup)
        pic_usage_error("--schedule cosine needs --total-steps greater than --warmup");
    if (o->sft) {
        /* (a mask too: SFT has no advantage to sign a quadrant, and the
         * option was taken and did nothing, its stat saying 0; and --adv,
         * --adv-norm: SFT reads no reward and computes no advantage; the
         * clip options: it has no ratio to clip). --pg and --entropy-coef
         * by being given: checked by value, '--pg clip' and
         * '--entropy-coef 0' were taken and did nothing. */
        if (given[O_PG] || o->alpha_set || o->alpha_cmd || o->ref || t->aec || given[O_ECOEF] || t->dmmpt ||
            l->mask_quadrant != PIC_QUAD_NONE || given[O_ADV] || given[O_ADVNORM] || given[O_CLOW] ||
            given[O_CHIGH] || given[O_CC])
            pic_usage_error("--loss sft takes none of --pg, --alpha, --alpha-cmd, --ref, --aec-target, --entropy-coef, "
                            "--dmmpt-target, --mask-quadrant, --adv, --adv-norm, --clip-low, --clip-high, "
                            "--clip-ratio-c");
        l->kind = PIC_PG_SFT;
    }
}
