/* pic-update: one training step (or K off-policy optimizer steps) of a
 * checkpoint on a scored sample stream; writes the next checkpoint and one
 * JSON stats line (docs/update.md). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/dist.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stop.h"
#include "model/parallel.h"
#include "tokenizer/tokenizer.h"
#include "update/batch.h"
#include "update/ckpt.h"
#include "update/request.h"
#include "update/train.h"

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
    "                           --aec-init (default 0); c_k lives in\n"
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

typedef struct {
    const char *model, *output, *alpha_cmd, *ref, *grads;
    bool reset, sft, alpha_set, kl_set, fast, recompute, serve;
    pic_device device;
    pic_model_dtype dtype;
    int mini_batches, threads;
    size_t max_shard;
    double temperature;
    pic_train_cfg tc;
    pic_adv_cfg adv;
} options;

static void parse(options *o, int argc, char **argv) {
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

static const char *const agg_names[] = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                        "seq-mean-token-sum-norm"};

/* The dtype of the checkpoint's weights (its first tensor's): the new
 * checkpoint keeps it. */
static pic_dtype weights_dtype(const char *dir, const pic_params *p) {
    pic_safetensors st;
    pic_err err;
    if (pic_st_open(&st, dir, &err)) pic_die("%s", err.msg);
    const pic_st_tensor *x = p->n_desc ? pic_st_find(&st, p->desc[0].name) : NULL;
    pic_dtype d = x && (x->dtype == PIC_DT_BF16 || x->dtype == PIC_DT_F16) ? x->dtype : PIC_DT_F32;
    pic_st_close(&st);
    return d;
}

/* The GPU's arena holds a micro-batch: the budget, or the longest sample
 * beyond it; without a budget, the largest optimizer step's tokens. */
static size_t batch_tokens(const pic_samples *b, size_t micro, int K) {
    size_t longest = 0, step = 0;
    for (int k = 0; k < K; k++) {
        size_t a, e, tok = 0;
        pic_step_slice(b->n, k, K, &a, &e);
        for (size_t i = a; i < e; i++) {
            size_t len = (size_t)(b->s[i].n_prompt + b->s[i].n_resp);
            tok += len;
            longest = len > longest ? len : longest;
        }
        step = tok > step ? tok : step;
    }
    if (!micro) return step;
    return micro > longest ? micro : longest;
}

/* The tokenizer files are copied into the new checkpoint as they are: one
 * pic-rollout would refuse (a truncated tokenizer.json, a bos_token not in
 * the vocabulary) is refused now, naming its file and field, before the
 * step, not by the next program after it. Loaded as pic-rollout loads the
 * model directory. */
static void check_tokenizer(const char *dir) {
    char *path = pic_asprintf("%s/tokenizer.json", dir);
    if (access(path, F_OK) == 0) pic_tokenizer_free(pic_tokenizer_load(dir));
    free(path);
}

static void put(json_t *o, const char *k, double v) { json_object_set_new(o, k, json_real(v)); }
static void puti(json_t *o, const char *k, long long v) { json_object_set_new(o, k, json_integer(v)); }

/* What lives across the steps of a run: one step for pic-update, one a
 * request for --serve. */
typedef struct {
    const options *o;
    pic_model model, ref;
    pic_trainer tr;
    pic_ckpt_src *src;   /* the input's config and tokenizer files */
    pic_dtype ckpt_dtype;
    int R, me;
    size_t arena;        /* on a GPU: the tokens its arena holds (0: not there yet) */
    double opened;       /* seconds reading the checkpoint and optimizer state (onto the GPU):
                            the first step's load_seconds count them */
} session;

/* Moves the model and the trainer to the GPU with an arena of tokens. */
static void to_device(session *s, size_t tokens) {
    const options *o = s->o;
    pic_err err;
    int gpu = pic_dist_local_rank(); /* each rank of a machine its own GPU */
    pic_model_opts mo = {.device = PIC_DEVICE_CUDA, .dtype = o->dtype, .max_batch_tokens = tokens, .training = true, .gpu = gpu};
    pic_model_opts ref = mo;
    ref.training = false;
    if (pic_trainer_to_device(&s->tr, o->model, &mo, o->recompute, &err)) pic_die("%s", err.msg);
    if (!o->reset) pic_optstate_load(&s->tr, o->model); /* onto the GPU, a tensor at a time */
    if (o->ref) {
        bool invariant = s->ref.batch_invariant;
        pic_model_free(&s->ref);
        if (pic_model_load(&s->ref, o->ref, &ref, &err)) pic_die("--ref: %s", err.msg);
        s->ref.batch_invariant = invariant;
    }
    s->arena = tokens;
}

static void open_session(session *s, const options *o) {
    memset(s, 0, sizeof *s);
    double t = pic_now();
    s->o = o;
    s->R = pic_dist_size(), s->me = pic_dist_rank();
    pic_err err;
    pic_atomic_dir_recover(o->model); /* a run killed while replacing it in place */
    check_tokenizer(o->model);
    /* on a GPU the weights go there once its arena's size is known
     * (to_device), a tensor at a time: here the layout, checked */
    bool gpu = o->device == PIC_DEVICE_CUDA;
    if (gpu ? pic_model_layout(&s->model, o->model, &err) : pic_model_load(&s->model, o->model, NULL, &err))
        pic_die("%s", err.msg);
    /* the generator's forward: exactly on-policy (docs/update.md); the
     * backward stays on OpenBLAS either way */
    s->model.batch_invariant = !o->fast;
    if (o->ref) {
        if (gpu ? pic_model_layout(&s->ref, o->ref, &err) : pic_model_load(&s->ref, o->ref, NULL, &err))
            pic_die("--ref: %s", err.msg);
        s->ref.batch_invariant = !o->fast;
        if (s->ref.cfg.vocab_size != s->model.cfg.vocab_size)
            pic_die("--ref %s: vocabulary %d differs from the model's %d", o->ref, s->ref.cfg.vocab_size,
                    s->model.cfg.vocab_size);
    }
    pic_trainer_init(&s->tr, &s->model, &o->tc);
    s->tr.ref = o->ref ? &s->ref : NULL;
    /* on a GPU the state is loaded once the model is there (to_device); a
     * bad file is refused now, before the samples are read */
    if (!o->reset && o->device == PIC_DEVICE_CUDA) pic_optstate_check(&s->model.params, o->model);
    if (!o->reset && o->device != PIC_DEVICE_CUDA) pic_optstate_load(&s->tr, o->model);
    s->ckpt_dtype = weights_dtype(o->model, &s->model.params);
    s->src = pic_ckpt_src_read(o->model);
    if (o->recompute && o->device == PIC_DEVICE_CPU) pic_model_recompute(&s->model, true);
    s->opened = pic_now() - t;
}

static void close_session(session *s) {
    pic_trainer_free(&s->tr);
    pic_ckpt_src_free(s->src);
    if (s->o->ref) pic_model_free(&s->ref);
    pic_model_free(&s->model);
}

/* The longest sample of b, for the message of one the GPU's arena cannot hold. */
static const pic_sample *longest_sample(const pic_samples *b) {
    const pic_sample *x = b->s;
    for (size_t i = 1; i < b->n; i++)
        if (b->s[i].n_prompt + b->s[i].n_resp > x->n_prompt + x->n_resp) x = &b->s[i];
    return x;
}

/* --serve's last checkpoint, for a failure's exit (serve_die). */
static struct {
    session *s;
    const pic_request *last;
    long step; /* the trainer's optimizer steps when `last` was written */
    pthread_t thread; /* the server's: a worker's failure leaves it mid-step */
} served;

/* Dies unless the gradients' file grads can be written and kept: the
 * checkpoint output replaces the directory there whole, so a file inside it
 * (written first, into the old one) went with it, the run saying nothing. */
static void check_grads_path(const char *grads, const char *output) {
    pic_atomic_check(grads);
    char *copy = pic_strdup(grads);
    char *dir = realpath(dirname(copy), NULL), *out = realpath(output, NULL);
    size_t n = out ? strlen(out) : 0;
    if (dir && out && !strncmp(dir, out, n) && (dir[n] == '/' || !dir[n]))
        pic_die("%s: the gradients' file is inside %s, the checkpoint written whole in place of the one there: it "
                "would go with the one replaced; save it outside",
                grads, output);
    free(copy), free(dir), free(out);
}

/* One training step (K optimizer steps) on the request's samples: writes its
 * checkpoint and prints its stats line. For pic-update (serve false) the
 * line comes before the checkpoint is renamed into place: a run that could
 * not write it (a full disk, a closed pipe) dies and commits no checkpoint,
 * so that a driver never finds a NEXT whose step it has no record of. For
 * --serve, whose process goes on, the line is the answer that the
 * checkpoint is in place, so it comes after. False when a stop signal gave
 * the step up before it changed anything (--serve): no checkpoint, no line. */
static bool train_request(session *s, const pic_request *rq, bool serve) {
    const options *o = s->o;
    int me = s->me;
    pic_trainer *tr = &s->tr;
    /* a server's wait for its first request is no step's time */
    double t0 = pic_now() - s->opened;
    s->opened = 0;
    if (serve) pic_atomic_dir_check(rq->output); /* before the step, not at its end (main checks --output) */
    /* and the gradients' file: under --serve a step that moved the weights
     * and then failed there left the last weights-only checkpoint unresumable */
    if (rq->save_grads && me == 0) check_grads_path(rq->save_grads, rq->output);
    pic_samples b = {0};
    pic_read_opts ro = {!o->sft, !o->sft, s->model.cfg.vocab_size, s->model.cfg.max_position,
                        !o->sft && !o->temperature};
    if (rq->n_samples == 0) pic_samples_read(&b, NULL, &ro);
    for (int i = 0; i < rq->n_samples; i++) pic_samples_read(&b, rq->samples[i], &ro);
    if (ro.agree_temperature) pic_samples_agree_temperature(&b);
    size_t lone = o->sft ? 0 : pic_samples_drop_lone(&b, &o->adv, me == 0);
    if (b.n == 0) pic_die_no_records(rq->n_samples, rq->samples, "samples to train on");
    if (!o->sft) pic_samples_advantages(&b, &o->adv);
    size_t n_read = b.n;
    if (o->adv.mode == PIC_ADV_NSR || o->adv.mode == PIC_ADV_PSR) pic_samples_keep_class(&b, o->adv.mode == PIC_ADV_PSR);
    tr->cfg.temperature = (float)(o->temperature ? o->temperature : o->sft || !b.temperature ? 1.0 : b.temperature);
    if ((size_t)o->mini_batches > n_read) pic_die("--mini-batches %d: only %zu samples", o->mini_batches, n_read);
    /* NSR / PSR keep one class: a step may have fewer samples than K, or none
     * (then no optimizer step is taken and NEXT is DIR's state) */
    int K_steps = (size_t)o->mini_batches > b.n ? (int)b.n : o->mini_batches;
    if (b.n < n_read) pic_info("%s: %zu of %zu samples kept", o->adv.mode == PIC_ADV_NSR ? "nsr" : "psr", b.n, n_read);
    if (o->device == PIC_DEVICE_CUDA) {
        size_t need = batch_tokens(&b, o->tc.micro_tokens, K_steps ? K_steps : 1);
        if (!s->arena) {
            to_device(s, need);
        } else if (need > s->arena) {
            const pic_sample *x = longest_sample(&b);
            pic_die("%s:%zu: a sample of %d tokens, longer than the %zu-token micro-batch (--micro-tokens) that the "
                    "GPU's arena holds; --serve sizes it once, at start: raise --micro-tokens",
                    x->file, x->line, x->n_prompt + x->n_resp, s->arena);
        }
    }
    pic_trainer_reserve(tr, b.s, b.n, K_steps);
    double t_loaded = pic_now(); /* weights, samples and optimizer state in place */

    /* the request's alpha (or command) replaces the command line's */
    tr->cfg.loss.alpha = rq->alpha_set ? rq->alpha : o->tc.loss.alpha;
    const char *alpha_cmd = rq->alpha_cmd ? rq->alpha_cmd : rq->alpha_set ? NULL : o->alpha_cmd;
    pic_coproc co;
    tr->ask_alpha = alpha_cmd != NULL;
    tr->alpha_cmd = NULL;
    if (alpha_cmd && me == 0) pic_coproc_start(&co, alpha_cmd), tr->alpha_cmd = &co;

    /* K slices of the samples in stream order, as equal as can be */
    pic_step_stats tot = {0};
    double sum_loss = 0, sum_gn = 0, sum_alpha = 0, sum_lr = 0, sum_ec = 0;
    json_t *steps = json_array();
    size_t mpt_steps = 0;
    double first_diff = -1; /* the first optimizer step's, the on-policy one */
    for (int k = 0; k < K_steps; k++) {
        size_t a, e;
        pic_step_slice(b.n, k, K_steps, &a, &e);
        pic_step_stats st;
        /* a stop signal may give the request up until its first optimizer step */
        tr->stoppable = serve && s->R == 1 && k == 0;
        pic_train_step(tr, b.s + a, e - a, true, &st);
        tr->stoppable = false;
        if (st.stopped) {
            if (tr->alpha_cmd) pic_coproc_finish(&co);
            tr->alpha_cmd = NULL;
            json_decref(steps);
            pic_samples_free(&b);
            pic_info("%s: the step of the request on line %zu given up (%s not written)%s%s",
                     pic_stop_name(pic_stop_signal()), rq->line, rq->output, pic_die_note ? "; " : "",
                     pic_die_note ? pic_die_note : "");
            pic_die_note = NULL;
            return false;
        }
        pic_loss_stats_add(&tot.ls, &st.ls);
        sum_loss += st.ls.loss, sum_gn += st.grad_norm, sum_alpha += st.alpha, sum_lr += st.lr;
        sum_ec += st.entropy_coef, mpt_steps += st.mpt_masking;
        tot.n_micro += st.n_micro, tot.prepass |= st.prepass;
        if (k == 0) first_diff = st.logp_diff_max;
        json_t *j = json_object();
        put(j, "loss", st.ls.loss);
        put(j, "alpha", st.alpha);
        put(j, "entropy", st.ls.tokens ? st.ls.entropy_sum / (double)st.ls.tokens : 0);
        put(j, "grad_norm", st.grad_norm);
        put(j, "lr", st.lr);
        /* the weight of its entropy and rates in the line's token-means */
        puti(j, "tokens", (long long)st.ls.tokens);
        json_array_append_new(steps, j);
    }
    if (tr->alpha_cmd) pic_coproc_finish(&co);
    tr->alpha_cmd = NULL;
    double t_trained = pic_now();
    if (rq->save_grads) pic_grads_save(tr, rq->save_grads);
    char *next = pic_ckpt_write(tr, s->src, rq->output, s->ckpt_dtype, o->max_shard, rq->state);

    double secs = pic_now() - t0, K = K_steps ? K_steps : 1, nt = (double)(tot.ls.tokens ? tot.ls.tokens : 1);
    size_t all_tokens = 0;
    for (size_t i = 0; i < b.n; i++) all_tokens += (size_t)(b.s[i].n_prompt + b.s[i].n_resp);
    json_t *j = json_object();
    puti(j, "step", tr->step);
    put(j, "loss", sum_loss / K);
    put(j, "pg_loss", tot.ls.pg_loss / K);
    put(j, "entropy", tot.ls.entropy_sum / nt);
    put(j, "alpha", sum_alpha / K);
    put(j, "entropic_loss", tot.ls.entropic / K);
    put(j, "clipfrac_low", (double)tot.ls.clipped_low / nt);
    put(j, "clipfrac_high", (double)tot.ls.clipped_high / nt);
    put(j, "clipfrac_dual", (double)tot.ls.dual_clipped / nt);
    put(j, "hi_frac", (double)tot.ls.hi / nt);
    put(j, "approx_kl", tot.ls.approx_kl_sum / nt);
    put(j, "grad_norm", sum_gn / K);
    put(j, "lr", sum_lr / K);
    if (o->ref) put(j, "kl_loss", tot.ls.kl_loss / K);
    if (o->tc.aec || o->tc.loss.entropy_coef) put(j, "entropy_coef", sum_ec / K);
    if (o->tc.loss.kind == PIC_PG_CLIP_COV || o->tc.loss.kind == PIC_PG_KL_COV)
        puti(j, "cov_selected", (long long)tot.ls.selected);
    if (o->tc.aec) put(j, "aec_next_coef", tr->aec_coef);
    /* each mask's own count: both said the union when both were on */
    if (o->tc.dmmpt)
        puti(j, "mpt_masked", (long long)tot.ls.masked_mpt), puti(j, "mpt_masking_steps", (long long)mpt_steps);
    if (o->tc.loss.mask_quadrant) puti(j, "quadrant_masked", (long long)tot.ls.masked_quadrant);
    if (b.n < n_read) puti(j, "sequences_dropped", (long long)(n_read - b.n));
    if (lone) puti(j, "groups_dropped", (long long)lone);
    if (first_diff >= 0) put(j, "logp_diff_max", first_diff);
    puti(j, "sequences", (long long)b.n);
    puti(j, "tokens", (long long)tot.ls.tokens);
    puti(j, "tokens_total", (long long)all_tokens);
    puti(j, "micro_batches", (long long)tot.n_micro);
    put(j, "tokens_per_s", secs > 0 ? (double)all_tokens / secs : 0);
    put(j, "seconds", secs);
    /* what a step costs outside the arithmetic (docs/gpu.md): reading the
     * checkpoint, the samples and the optimizer state (onto the GPU), and
     * writing the next */
    put(j, "load_seconds", t_loaded - t0);
    put(j, "save_seconds", secs - (t_trained - t0));
    json_object_set_new(j, "device", json_string(pic_device_name(s->model.device)));
    json_object_set_new(j, "dtype", json_string(pic_model_dtype_name(s->model.dtype)));
    /* --fast trades exact on-policy away, and says so (DESIGN.md), with
     * pic-model-bench's key */
    json_object_set_new(j, "products", json_string(o->fast ? "fast" : "exact"));
    /* the aggregation used, SFT's too: "sft" there hid a --loss-agg that
     * made its loss a mean over sequences, not the token-mean NLL */
    json_object_set_new(j, "loss_agg", json_string(agg_names[o->tc.loss.agg]));
    if (serve) json_object_set_new(j, "optimizer_state", json_boolean(rq->state));
    if (s->R > 1) {
        puti(j, "ranks", s->R);
        put(j, "comm_seconds", pic_dist_comm_seconds());
        put(j, "wait_seconds", pic_dist_wait_seconds());
    }
    if (K_steps > 1) json_object_set_new(j, "steps", steps);
    else json_decref(steps);
    if (serve) {
        pic_ckpt_commit(next, rq->output);
        /* in place, it is the last checkpoint: an answer that cannot be
         * written (a full disk, a driver gone) fails with the weights its
         * own, so a weights-only one gets its state before the exit */
        served.last = rq, served.step = tr->step;
    }
    if (me == 0) { /* one stats line for the job */
        pic_print_json_line(j);
        if (serve && fflush(stdout) != 0) pic_die("standard output: %s", strerror(errno));
        if (!serve) pic_stdout_close();
        pic_note_bad_records();
        if (lone)
            pic_info("%zu GRPO group%s dropped, left with one sample by skipped records (--skip-bad)", lone,
                     lone == 1 ? "" : "s");
    }
    json_decref(j);
    pic_bad_records = 0; /* a server's next request counts its own */
    if (!serve) pic_ckpt_commit(next, rq->output);
    pic_info("%zu samples, %zu response tokens, %d optimizer step%s to step %ld on %s (%s%s), %.2f s -> %s%s", b.n,
             (size_t)tot.ls.tokens, K_steps, K_steps != 1 ? "s" : "", tr->step, pic_device_name(s->model.device),
             pic_model_dtype_name(s->model.dtype), o->fast ? ", fast" : "", secs, rq->output,
             rq->state ? "" : " (weights only)");
    pic_samples_free(&b);
    pic_die_note = NULL; /* the step is whole: a failure from here on is not its */
    return true;
}

/* pic_die's hook under --serve: a request that fails ends the server, and
 * the last checkpoint, written without its optimizer state, gets it as at
 * the end of the requests, if the failure came before the request's first
 * optimizer step (the weights are still that checkpoint's). */
static void serve_die(void) {
    session *s = served.s;
    const pic_request *last = served.last;
    if (!last->output || last->state || !pthread_equal(pthread_self(), served.thread)) return;
    if (s->R == 1 && s->tr.step == served.step) {
        pic_ckpt_commit(pic_ckpt_write(&s->tr, s->src, last->output, s->ckpt_dtype, s->o->max_shard, true),
                        last->output);
        pic_info("%s written again with its optimizer state before the exit", last->output);
    } else {
        pic_warn("%s keeps no optimizer state (%s): resume from it with --reset-optimizer, or from the last checkpoint "
                 "with its state",
                 last->output,
                 s->R > 1 ? "ranks cannot wait for each other in a failure" : "the failed step had changed the weights");
    }
}

/* --serve: a step a request until the end of standard input, or a stop
 * signal (SIGINT, SIGTERM, SIGHUP: common/stop.h), which also gives up a
 * step not yet past its first optimizer step. Either way the last
 * checkpoint gets the optimizer state: when its request asked for the
 * weights only, it is written again, whole. Returns the signal, or 0. */
static int serve(session *s) {
    const options *o = s->o;
    double t = pic_now();
    if (o->device == PIC_DEVICE_CUDA) to_device(s, o->tc.micro_tokens);
    s->opened += pic_now() - t;
    pic_stop_catch(); /* loaded: from now on a signal lets the state be saved */
    /* an answer to a closed pipe fails as a full disk does (serve_die
     * saves the state), instead of killing the server without it */
    signal(SIGPIPE, SIG_IGN);
    pic_info("serving: a JSON request a line on standard input (docs/update.md)");
    pic_request rq, last = {0};
    served.s = s;
    served.last = &last;
    served.step = s->tr.step;
    served.thread = pthread_self();
    pic_die_hook = serve_die;
    while (pic_request_next(&rq)) {
        for (int i = 0; i < rq.n_samples; i++)
            if (!strcmp(rq.samples[i], "-"))
                pic_die("standard input, request on line %zu: field 'samples': '-' is standard input, which carries "
                        "the requests: name a file",
                        rq.line);
        if (o->sft && (rq.alpha_set || rq.alpha_cmd))
            pic_die("standard input, request on line %zu: field '%s': --loss sft takes no alpha", rq.line,
                    rq.alpha_set ? "alpha" : "alpha_cmd");
        if (!train_request(s, &rq, true)) {
            pic_request_free(&rq);
            break;
        }
        pic_request_free(&last);
        last = rq;
        served.last = &last;
    }
    pic_die_hook = NULL;
    int sig = pic_stop_signal();
    pic_dist_broadcast(&sig, sizeof sig, 0); /* the job stops as rank 0 does */
    const char *why = sig ? pic_stop_name(sig) : "end of requests";
    if (last.output && !last.state) {
        pic_ckpt_commit(pic_ckpt_write(&s->tr, s->src, last.output, s->ckpt_dtype, o->max_shard, true), last.output);
        pic_info("%s: %s written again with its optimizer state", why, last.output);
    } else if (sig) {
        pic_info("%s: stopped%s%s", why, last.output ? "; the last checkpoint, with its state: " : "",
                 last.output ? last.output : "");
    }
    pic_request_free(&last);
    if (s->me == 0) pic_stdout_close();
    return sig;
}

int main(int argc, char **argv) {
    pic_init("pic-update");
    options o = {.mini_batches = 1, .adv = {PIC_ADV_GRPO, true, 0.1}, .max_shard = (size_t)5e9};
    pic_loss_defaults(&o.tc.loss);
    pic_adamw_defaults(&o.tc.opt);
    o.tc.max_grad_norm = 1.0;
    /* Skywork-OR1's published AEC recipe */
    o.tc.aec_delta = 1e-4, o.tc.aec_max = 0.005, o.tc.aec_init = 0;
    parse(&o, argc, argv);
    if (o.serve && optind < argc)
        pic_usage_error("--serve reads the samples' FILEs from its requests on standard input, not from arguments");
    pic_dist_init(NULL, NULL);
    int R = pic_dist_size(), me = pic_dist_rank();
    /* "-" anywhere among the FILEs: rank 0 alone would read its records */
    bool stdin_file = optind >= argc;
    for (int i = optind; i < argc; i++) stdin_file |= !strcmp(argv[i], "-");
    if (!o.serve && R > 1 && stdin_file)
        pic_usage_error("%d ranks need the sample FILEs: the launcher gives standard input to rank 0 only", R);
    if (me > 0) pic_quiet = 1;
    /* AUTO resolves here, so that what the CPU cannot do is a usage error
     * (several ranks train on the CPU unless --device cuda says otherwise:
     * their GPU path has not yet run on GPUs) */
    if (o.device == PIC_DEVICE_AUTO) o.device = R > 1 ? PIC_DEVICE_CPU : pic_device_resolve(PIC_DEVICE_AUTO);
    o.tc.device = o.device;
    if (o.device == PIC_DEVICE_CPU && o.dtype == PIC_DTYPE_BF16)
        pic_usage_error("--dtype bf16: the CPU computes in f32 only");
    if (o.serve && o.device == PIC_DEVICE_CUDA && !o.tc.micro_tokens)
        pic_usage_error("--serve on a GPU needs --micro-tokens N: the GPU's arena is sized once, at start, for a "
                        "micro-batch of N tokens");
    pic_set_threads(o.threads ? o.threads : pic_dist_threads());

    session s;
    int stopped_by = 0;
    if (!o.serve) pic_atomic_dir_check(o.output); /* before loading, not after it */
    open_session(&s, &o);
    if (o.serve) {
        stopped_by = serve(&s);
    } else {
        pic_request rq = {.samples = argv + optind, .n_samples = argc - optind, .output = (char *)o.output,
                          .state = true, .save_grads = (char *)o.grads};
        /* "-" alone is standard input, as no FILE is */
        if (rq.n_samples == 1 && !strcmp(rq.samples[0], "-")) rq.n_samples = 0;
        train_request(&s, &rq, false);
    }
    close_session(&s);
    pic_dist_finish();
    /* its state saved, a server told to stop dies of the signal, as told */
    if (stopped_by) pic_stop_die(stopped_by);
    return 0;
}
