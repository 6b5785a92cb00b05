/* pic-rollout: the model's side of RL. Generation samples responses with
 * continuous batching; --score recomputes log-probs and entropies of given
 * token sequences (teacher forcing). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/dist.h"
#include "common/json.h"
#include "common/utf8.h"
#include "model/parallel.h"
#include "rollout/rollout.h"

static const char usage[] =
    "Usage: pic-rollout --model DIR [OPTION]... [FILE]...\n"
    "  or:  pic-rollout --score --model DIR [OPTION]... [FILE]...\n"
    "Generate samples from prompt records with a HuggingFace model (qwen2, qwen3,\n"
    "llama), or with --score recompute the log-probabilities of given responses.\n"
    "Records are JSON Lines (plain or zstd; the FILEs one after another, standard\n"
    "input when none or '-'); every input field passes through.\n"
    "\n"
    "A prompt is 'prompt_ids' (token ids), else 'prompt' (text used as is), else\n"
    "'problem' put through --template. Generation writes one record per sample,\n"
    "in input order, adding 'sample', 'prompt_ids', 'response', 'response_ids',\n"
    "'logprobs' and 'entropy' (per response token, of softmax(logits / T) over the\n"
    "whole vocabulary before truncation; T = 1 when greedy), 'finish' ('stop' or\n"
    "'length') and 'temperature'. --score reads 'response_ids' or 'response' text\n"
    "and adds 'logprobs' and 'entropy', and 'prompt_ids' and 'response_ids' when\n"
    "the record gave text (so an SFT set of texts is ready for pic-update).\n"
    "\n"
    "Model and prompts:\n"
    "  -m, --model DIR           config.json, model.safetensors (or shards), tokenizer.json\n"
    "      --template T          for 'problem': raw (as is, the default), chatml,\n"
    "                            qwen2.5, qwen2.5-math, qwen3, qwen3-thinking,\n"
    "                            qwen3-nothink, qwen3-instruct, llama3, llama3.1,\n"
    "                            deepseek-r1, auto\n"
    "                            (the model's chat template, an error when it is\n"
    "                            none of these), or a file with {problem}\n"
    "      --add-special         encode prompt text with the tokenizer's special tokens\n"
    "                            (e.g. a BOS; tokenizer.json's post-processor, as\n"
    "                            transformers 5, not tokenizer_config.json's\n"
    "                            add_bos_token); off: chat templates write their own\n"
    "                            (refused beside one that writes the BOS itself)\n"
    "Generation:\n"
    "  -n, --n N                 samples per prompt (default 1)\n"
    "      --max-new-tokens N    response length limit (default 512; the model's\n"
    "                            context also ends a response: finish 'length')\n"
    "  -t, --temperature T       sampling temperature (default 1; 0 is greedy, else\n"
    "                            at least 0.001); greedy takes none of --top-k,\n"
    "                            --top-p, --min-p, --seed\n"
    "      --top-k K             keep the K most likely tokens (default 0, or K at\n"
    "                            least the vocabulary's size: all)\n"
    "      --top-p P             keep the most likely tokens up to mass P (default 1)\n"
    "      --min-p P             keep tokens at least P times the most likely (default 0)\n"
    "      --stop STR            end a response when its text contains STR (repeatable);\n"
    "                            the text keeps STR unless --stop-cut (a special\n"
    "                            token is never in the text: --eos stops on it)\n"
    "      --stop-cut            cut the text before the --stop string (ids keep its token)\n"
    "      --ignore-eos          do not stop on the model's eos ids\n"
    "      --eos TOKEN           stop on TOKEN too (a token of the vocabulary, as\n"
    "                            <|im_end|>, or an id, which digits always are;\n"
    "                            repeatable): a base model\n"
    "                            prompted with a chat format ends its turn with a\n"
    "                            token its eos ids may lack\n"
    "      --seed S              random seed (default 0); sample j of the i-th input\n"
    "                            record draws from the stream (S, i, j)\n"
    "      --shard I/N           this process's part: the I-th of N contiguous blocks of\n"
    "                            the input (from 0); the N outputs concatenate, in order,\n"
    "                            to the unsharded output. Started by mpirun or srun\n"
    "                            as R ranks without --shard, rank I takes shard I/R\n"
    "                            and rank 0 writes all of them, in order\n"
    "      --skip N              start at input record N (from 0), the records before\n"
    "                            it read and dropped: appended to the output of those,\n"
    "                            the output is the whole run's (a killed run resumed;\n"
    "                            --shard splits what is left)\n"
    "      --max-batch-size N    sequences in flight (default 64)\n"
    "      --max-batch-tokens N  tokens per forward pass: each step's decode rows and\n"
    "                            the new prompts prefilled beside them, up to N (a\n"
    "                            longer prompt alone: on a GPU, whose activations\n"
    "                            it sizes, an error), so at most N sequences in\n"
    "                            flight (default 4096; 32768 on a GPU)\n"
    "      --kv-cache-tokens N   positions of keys and values the cache holds for all\n"
    "                            sequences together, in pages of 64 (default: every\n"
    "                            sequence in flight at its longest, or on a GPU as\n"
    "                            many as its free memory holds). With fewer,\n"
    "                            prompts wait and the latest sequences are preempted\n"
    "                            and recomputed later: the same output, bit for bit\n"
    "                            (not with --fast)\n"
    "Scoring:\n"
    "      --score               teacher-forced scoring of given responses\n"
    "  -t, --temperature T       score at T >= 0.001 (default: each record's\n"
    "                            'temperature', 0 or from 0.001 to 1e6; 1 when\n"
    "                            absent or 0)\n"
    "      --logprobs-field NAME  where the log-probs go (default 'logprobs')\n"
    "      --entropy-field NAME  where the entropies go (default 'entropy'; '' to\n"
    "                            leave them out)\n"
    "      --batch-tokens N      tokens per forward pass (default 4096 on the CPU, 32768\n"
    "                            on a GPU; a longer record goes alone on the CPU, and\n"
    "                            on a GPU is an error that names --max-batch-tokens)\n"
    "      --max-batch-tokens N  the same as --batch-tokens; on a GPU it also sizes\n"
    "                            the activations allocated at load\n"
    "      --device D            cpu, cuda or auto (the default: a GPU when this build\n"
    "                            has CUDA and one is visible, else the CPU)\n"
    "      --dtype T             f32 or bf16: the GPU's weights, activations and KV\n"
    "                            cache (default bf16 on a GPU; the CPU computes in f32)\n"
    "      --fast                matrix products by OpenBLAS / cuBLASLt instead of the\n"
    "                            fixed-order kernel: faster, but a sample then depends\n"
    "                            on its batch and scores differ from the generator's\n"
    "                            log-probs by rounding (docs/rollout.md)\n"
    "Common:\n"
    "      --threads N           compute threads (default: one per CPU)\n"
    "  -o, --output FILE         write there (atomically) instead of standard output\n"
    "      --plain               do not compress (the default when stdout is a terminal)\n"
    "      --level N             zstd level, 1..19 (default 3)\n"
    "      --skip-bad            skip malformed records (counted at the end)\n"
    "  -q, --quiet               no progress, no summary line\n"
    "  -h, --help                this help\n"
    "      --version             the version\n"
    "\n"
    "The same seed gives the same bytes whatever --max-batch-size, --threads,\n"
    "--max-batch-tokens, --kv-cache-tokens or --shard (docs/rollout.md).\n"
    "\n"
    "Exit status: 0 success, 1 bad input, bad model files or I/O error (the message\n"
    "names the file and the record's line and field, or the tensor), 2 usage error.\n";

enum {
    OPT_SCORE = 256,
    OPT_LOGPROBS_FIELD,
    OPT_ENTROPY_FIELD,
    OPT_ADD_SPECIAL,
    OPT_BATCH_TOKENS,
    OPT_THREADS,
    OPT_SKIP_BAD,
    OPT_TEMPLATE,
    OPT_MAX_NEW,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_STOP,
    OPT_STOP_CUT,
    OPT_IGNORE_EOS,
    OPT_EOS,
    OPT_SEED,
    OPT_SHARD,
    OPT_MAX_BATCH_SIZE,
    OPT_KV_CACHE_TOKENS,
    OPT_MAX_BATCH_TOKENS,
    OPT_DEVICE,
    OPT_DTYPE,
    OPT_FAST,
    OPT_SKIP,
};

static void parse_shard(const char *s, int *i, int *n) {
    char *end;
    long a = strtol(s, &end, 10), b;
    if (end == s || *end != '/') pic_usage_error("--shard: expected I/N, got '%s'", s);
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (end == t || *end || b < 1 || b > 1000000 || a < 0 || a >= b)
        pic_usage_error("--shard: expected I/N with 0 <= I < N, got '%s'", s);
    *i = (int)a;
    *n = (int)b;
}

/* What the command line asks for, beyond the run itself. */
typedef struct {
    rollout_run run;
    bool score, add_special, score_only, gen_only;
    const char *sampling_opt; /* the last of --top-k, --top-p, --min-p, --seed given */
    int threads;
    size_t max_batch_tokens;
    bool batch_tokens_given;
    pic_model_opts mo; /* where the model runs */
    const char *tmpl;
    const char **stops;
    const char **eos; /* --eos, resolved to ids once the tokenizer is there */
    int n_eos;
    pic_output_opts out;
} options;

static void parse_options(options *o, int argc, char **argv) {
    static const struct option opts[] = {
        {"score", no_argument, 0, OPT_SCORE},
        {"model", required_argument, 0, 'm'},
        {"temperature", required_argument, 0, 't'},
        {"logprobs-field", required_argument, 0, OPT_LOGPROBS_FIELD},
        {"entropy-field", required_argument, 0, OPT_ENTROPY_FIELD},
        {"add-special", no_argument, 0, OPT_ADD_SPECIAL},
        {"batch-tokens", required_argument, 0, OPT_BATCH_TOKENS},
        {"template", required_argument, 0, OPT_TEMPLATE},
        {"n", required_argument, 0, 'n'},
        {"max-new-tokens", required_argument, 0, OPT_MAX_NEW},
        {"top-k", required_argument, 0, OPT_TOP_K},
        {"top-p", required_argument, 0, OPT_TOP_P},
        {"min-p", required_argument, 0, OPT_MIN_P},
        {"stop", required_argument, 0, OPT_STOP},
        {"stop-cut", no_argument, 0, OPT_STOP_CUT},
        {"ignore-eos", no_argument, 0, OPT_IGNORE_EOS},
        {"eos", required_argument, 0, OPT_EOS},
        {"seed", required_argument, 0, OPT_SEED},
        {"shard", required_argument, 0, OPT_SHARD},
        {"skip", required_argument, 0, OPT_SKIP},
        {"max-batch-size", required_argument, 0, OPT_MAX_BATCH_SIZE},
        {"kv-cache-tokens", required_argument, 0, OPT_KV_CACHE_TOKENS},
        {"max-batch-tokens", required_argument, 0, OPT_MAX_BATCH_TOKENS},
        {"device", required_argument, 0, OPT_DEVICE},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"fast", no_argument, 0, OPT_FAST},
        {"threads", required_argument, 0, OPT_THREADS},
        {"skip-bad", no_argument, 0, OPT_SKIP_BAD},
        PIC_OUTPUT_OPTIONS,
        {0, 0, 0, 0},
    };
    rollout_run *run = &o->run;
    int c;
    while ((c = pic_getopt(argc, argv, "m:t:n:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SCORE: o->score = true; break;
        case 'm': run->model_dir = optarg; break;
        case 't': run->temperature = pic_parse_double("--temperature", optarg, 0, ROLLOUT_MAX_TEMPERATURE); break;
        case OPT_LOGPROBS_FIELD: run->logprobs_field = optarg, o->score_only = true; break;
        case OPT_ENTROPY_FIELD: run->entropy_field = optarg, o->score_only = true; break;
        case OPT_ADD_SPECIAL: o->add_special = true; break;
        case OPT_BATCH_TOKENS:
            run->batch_tokens = (size_t)pic_parse_int("--batch-tokens", optarg, 1, 1 << 24), o->score_only = true;
            o->batch_tokens_given = true;
            break;
        case OPT_TEMPLATE: o->tmpl = optarg; break;
        case 'n': run->n = (int)pic_parse_int("--n", optarg, 1, 1 << 20), o->gen_only = true; break;
        case OPT_MAX_NEW:
            run->max_new_tokens = (int)pic_parse_int("--max-new-tokens", optarg, 1, 1 << 24), o->gen_only = true;
            break;
        case OPT_TOP_K:
            run->sp.top_k = (int)pic_parse_int("--top-k", optarg, 0, 1 << 30), o->gen_only = true;
            o->sampling_opt = "--top-k";
            break;
        case OPT_TOP_P:
            run->sp.top_p = (float)pic_parse_double("--top-p", optarg, 1e-9, 1), o->gen_only = true;
            o->sampling_opt = "--top-p";
            break;
        case OPT_MIN_P:
            run->sp.min_p = (float)pic_parse_double("--min-p", optarg, 0, 1), o->gen_only = true;
            o->sampling_opt = "--min-p";
            break;
        case OPT_STOP:
            if (!*optarg) pic_usage_error("--stop: empty string");
            /* the decoded text is UTF-8 (U+FFFD for what was not): such a string could only match inside a
             * character */
            if (pic_utf8_valid_prefix(optarg, strlen(optarg)) < strlen(optarg))
                pic_usage_error("--stop: not valid UTF-8 (the text it is looked for in is)");
            o->stops = pic_realloc(o->stops, (size_t)(run->stops.n_strings + 1) * sizeof *o->stops);
            o->stops[run->stops.n_strings++] = optarg;
            if (strlen(optarg) > run->stops.longest) run->stops.longest = strlen(optarg);
            o->gen_only = true;
            break;
        case OPT_STOP_CUT: run->stops.cut = true, o->gen_only = true; break;
        case OPT_IGNORE_EOS: run->stops.ignore_eos = true, o->gen_only = true; break;
        case OPT_EOS:
            if (!*optarg) pic_usage_error("--eos: empty token");
            o->eos = pic_realloc(o->eos, (size_t)(o->n_eos + 1) * sizeof *o->eos);
            o->eos[o->n_eos++] = optarg;
            o->gen_only = true;
            break;
        case OPT_SEED:
            run->seed = (unsigned long long)pic_parse_int("--seed", optarg, 0, (1LL << 62)), o->gen_only = true;
            o->sampling_opt = "--seed";
            break;
        case OPT_SHARD: parse_shard(optarg, &run->shard, &run->shards), o->gen_only = true; break;
        case OPT_SKIP: run->skip = (size_t)pic_parse_int("--skip", optarg, 0, 1LL << 62), o->gen_only = true; break;
        case OPT_MAX_BATCH_SIZE:
            run->max_batch_size = (int)pic_parse_int("--max-batch-size", optarg, 1, 1 << 16), o->gen_only = true;
            break;
        case OPT_KV_CACHE_TOKENS:
            run->kv_cache_tokens = pic_parse_int("--kv-cache-tokens", optarg, 1, 1L << 40), o->gen_only = true;
            break;
        case OPT_MAX_BATCH_TOKENS: /* both modes: generation's, and --batch-tokens's other name */
            o->max_batch_tokens = run->batch_tokens = (size_t)pic_parse_int("--max-batch-tokens", optarg, 1, 1 << 24);
            o->batch_tokens_given = true;
            break;
        case OPT_FAST: run->fast = true; break;
        case OPT_DEVICE: {
            int d = pic_device_parse(optarg);
            if (d < 0) pic_usage_error("--device: expected cpu, cuda or auto, got '%s'", optarg);
            o->mo.device = (pic_device)d;
            break;
        }
        case OPT_DTYPE: {
            int t = pic_model_dtype_parse(optarg);
            if (t < 1) pic_usage_error("--dtype: expected f32 or bf16, got '%s'", optarg);
            o->mo.dtype = (pic_model_dtype)t;
            break;
        }
        case OPT_THREADS: o->threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case OPT_SKIP_BAD: pic_skip_bad = true; break;
        default:
            if (!pic_output_option(c, optarg, &o->out, usage)) pic_usage_error("unknown option");
        }
    }
}

/* Options that exclude each other, and what the mode makes of the rest. */
static void check_options(options *o) {
    rollout_run *run = &o->run;
    if (!run->model_dir) pic_usage_error("--model DIR is required");
    if (o->score && o->gen_only)
        pic_usage_error("--score takes no generation option (--n, --top-k, --stop, --shard, ...)");
    if (!o->score && o->score_only)
        pic_usage_error("--logprobs-field, --entropy-field and --batch-tokens belong to --score "
                        "(generation has --max-batch-tokens)");
    if (o->score && run->temperature >= 0 && run->temperature < ROLLOUT_MIN_TEMPERATURE)
        pic_usage_error("--temperature: --score needs T >= 0.001, as generation does above 0");
    if (strcmp(o->tmpl, "raw") && strcmp(o->tmpl, "auto") && !pic_chat_spec_known(o->tmpl))
        pic_usage_error("--template: '%s' is neither a format (raw, " PIC_CHAT_FORMATS ", auto) nor a file", o->tmpl);
    /* auto takes a GPU when there is one, for generation as for scoring
     * (generation passed tests/gpu/run.sh on an H200: docs/gpu.md,
     * Measured); resolved here, as the checks below depend on the device */
    o->mo.device = pic_device_resolve(o->mo.device);
    if (o->mo.device == PIC_DEVICE_CPU && o->mo.dtype == PIC_DTYPE_BF16)
        pic_usage_error("--dtype bf16: the CPU computes in f32 only (bf16 runs on a GPU: --device cuda)");
    if (o->mo.device == PIC_DEVICE_CUDA && !o->batch_tokens_given)
        run->batch_tokens = o->max_batch_tokens = PIC_DEFAULT_BATCH_TOKENS;
    o->mo.max_batch_tokens = run->batch_tokens;
    if (!*run->logprobs_field) pic_usage_error("--logprobs-field: empty name");
    if (run->entropy_field && !*run->entropy_field) run->entropy_field = NULL;
    if (run->entropy_field && !strcmp(run->entropy_field, run->logprobs_field))
        pic_usage_error("--entropy-field and --logprobs-field name the same field");
    if (!o->score) {
        if (run->temperature > 0 && run->temperature < ROLLOUT_MIN_TEMPERATURE)
            pic_usage_error("--temperature: use 0 (greedy) or at least 0.001");
        /* greedy decoding draws nothing: these would be taken and ignored */
        if (run->temperature == 0 && o->sampling_opt)
            pic_usage_error("%s does nothing at --temperature 0 (greedy decoding draws no token)", o->sampling_opt);
        /* eos tokens are special, never in the text: only a --stop string is cut */
        if (run->stops.cut && !run->stops.n_strings) pic_usage_error("--stop-cut: no --stop string to cut at");
        if (run->stops.ignore_eos && o->n_eos) pic_usage_error("--eos and --ignore-eos: stop on a token or on none");
        if (run->temperature >= 0) run->sp.temperature = (float)run->temperature;
        run->batch_tokens = o->max_batch_tokens;
        if ((size_t)run->max_batch_size > o->max_batch_tokens) run->max_batch_size = (int)o->max_batch_tokens;
        run->stops.strings = o->stops;
    }
}

/* --eos: each TOKEN as the tokenizer's id (or as an id), into the stop
 * rules; then, for a chat format whose end of turn is none of the eos ids,
 * a warning, since its responses would run on into the next turn. */
static void resolve_eos(options *o) {
    rollout_run *run = &o->run;
    const pic_tokenizer *t = prompt_tokenizer(&run->prompts);
    int vocab = run->model.cfg.vocab_size;
    run->stops.eos = pic_calloc(o->n_eos ? (size_t)o->n_eos : 1, sizeof *run->stops.eos);
    for (int i = 0; i < o->n_eos; i++) {
        /* digits are an id first: byte-level vocabularies have tokens "0"
         * to "9" (Llama 3's up to "999"), which took --eos 2 for the token
         * "2" and left the id 2 no name; any token has its id for a name */
        const char *s = o->eos[i];
        long v = strspn(s, "0123456789") == strlen(s) && strlen(s) < 10 ? strtol(s, NULL, 10) : -1;
        int32_t id = v >= 0 && v < vocab ? (int32_t)v : pic_tokenizer_token_to_id(t, s);
        if (id < 0) pic_usage_error("--eos: '%s' is neither a token of the tokenizer nor an id below %d", s, vocab);
        run->stops.eos[run->stops.n_eos++] = id;
    }
    const char *turn = run->prompts.chat ? pic_chat_turn_end(run->prompts.chat) : NULL;
    int32_t id = turn ? pic_tokenizer_token_to_id(t, turn) : -1;
    if (id >= 0 && pic_dist_rank() == 0 && !run->stops.ignore_eos && !stop_is_eos(&run->stops, id))
        pic_warn("--template %s: %s ends the assistant's turn but is none of the model's eos ids (config.json, "
                 "generation_config.json): responses go on past it; --eos '%s' stops there",
                 pic_chat_name(run->prompts.chat), turn, turn);
}

/* A --stop string that is a special token: the text it is looked for in is
 * decoded without special tokens, so the model's emitting that token never
 * met it and the response ran on to --max-new-tokens (vLLM's stop strings
 * behave so: vllm-project/vllm#2123, "use the related token ids"). The
 * token's id is what stops there: --eos. */
static void check_stops(options *o) {
    const pic_tokenizer *t = prompt_tokenizer(&o->run.prompts);
    for (int i = 0; i < o->run.stops.n_strings; i++) {
        int32_t id = pic_tokenizer_token_to_id(t, o->stops[i]);
        if (id >= 0 && pic_tokenizer_is_special(t, id))
            pic_usage_error("--stop: '%s' is a special token, never in the text (decoded without special tokens): "
                            "--eos '%s' stops on it",
                            o->stops[i], o->stops[i]);
    }
}

/* A job of several ranks (docs/distributed.md): rank I > 0 writes its shard
 * through the ordinary writer, uncompressed, as its standard output, a
 * temporary file (on its own machine) that has no name from the start, so
 * that a rank that fails or is killed leaves nothing behind; it then sends
 * it to rank 0, which writes its own, the first block, then appends the
 * others' in rank order. Returns the file's descriptor. */
static int shard_file(void) {
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/pic-rollout-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) pic_die("%s: cannot make a file for this rank's shard: %s", path, strerror(errno));
    unlink(path);
    if (dup2(fd, STDOUT_FILENO) < 0) pic_die("%s: %s", path, strerror(errno));
    return fd;
}

static void send_shard(int fd) {
    struct stat st;
    if (fflush(stdout) != 0 || fstat(fd, &st) != 0) pic_die("this rank's shard: %s", strerror(errno));
    size_t n = (size_t)st.st_size;
    char *data = pic_malloc(n + 1);
    for (size_t o = 0; o < n;) {
        ssize_t k = pread(fd, data + o, n - o, (off_t)o);
        if (k <= 0) pic_die("this rank's shard: read error: %s", k ? strerror(errno) : "end of file");
        o += (size_t)k;
    }
    uint64_t len = n;
    pic_dist_send(&len, sizeof len, 0);
    pic_dist_send(data, n, 0);
    free(data);
    close(fd);
}

static void append_shards(pic_writer *w) {
    for (int r = 1; r < pic_dist_size(); r++) {
        uint64_t len;
        pic_dist_recv(&len, sizeof len, r);
        char *data = pic_malloc((size_t)len + 1);
        pic_dist_recv(data, (size_t)len, r);
        pic_writer_write(w, data, (size_t)len);
        free(data);
    }
}

/* Scores or generates over the FILEs (stdin when none) into run->w. */
static void run_streams(options *o, char **files, int nfiles) {
    rollout_run *run = &o->run;
    run->w = pic_writer_open(o->out.output, o->out.plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, o->out.level);
    /* records are made, printed and compressed beside the model's passes
     * (on a GPU, in the time its thread would wait) */
    pic_writer_background(run->w);
    pic_progress_start(&run->progress, o->score ? "records" : "samples");
    int nr = nfiles ? nfiles : 1;
    pic_reader **readers = pic_malloc((size_t)nr * sizeof *readers);
    for (int i = 0; i < nr; i++) {
        readers[i] = pic_reader_open(nfiles ? files[i] : NULL);
        if (o->score) {
            score_stream(run, readers[i]);
            pic_reader_close(readers[i]);
        }
    }
    if (!o->score) {
        prompt_tokenizer(&run->prompts); /* responses are decoded */
        generate(run, readers, nr);
        for (int i = 0; i < nr; i++) pic_reader_close(readers[i]);
    }
    free(readers);
    pic_writer_foreground(run->w);
    pic_progress_end(&run->progress);
    if (pic_dist_rank() == 0) append_shards(run->w);
    pic_writer_close(run->w);
}

static void summary(const options *o, double dt) {
    const rollout_run *run = &o->run;
    char skipped[64] = "";
    if (pic_bad_records)
        snprintf(skipped, sizeof skipped, ", %zu bad record%s skipped", pic_bad_records,
                 pic_plural((long long)pic_bad_records));
    const char *dev = pic_device_name(run->model.device), *dtn = pic_model_dtype_name(run->model.dtype);
    /* --fast trades exact on-policy away, and says so (DESIGN.md) */
    char dtf[32];
    snprintf(dtf, sizeof dtf, "%s%s", dtn, run->fast ? ", fast" : "");
    dtn = dtf;
    char preempted[128] = "";
    if (run->kv_pages) /* positions, as --kv-cache-tokens counts them */
        snprintf(preempted, sizeof preempted, ", KV cache peak %ld of %ld positions", run->kv_peak * PIC_KV_PAGE,
                 run->kv_pages * PIC_KV_PAGE);
    if (run->preemptions)
        snprintf(preempted + strlen(preempted), sizeof preempted - strlen(preempted), ", %zu preemption%s",
                 run->preemptions, pic_plural((long long)run->preemptions));
    if (o->score)
        pic_info("scored %zu record%s, %zu response token%s in %.2f s (%.0f tokens/s) on %s (%s)%s", run->records,
                 pic_plural((long long)run->records), run->tokens, pic_plural((long long)run->tokens), dt,
                 dt > 0 ? run->tokens / dt : 0.0, dev, dtn, skipped);
    else
        pic_info("generated %zu sample%s, %zu token%s, mean entropy %.4f, in %.2f s (%.0f tokens/s) on %s (%s)%s%s",
                 run->samples, pic_plural((long long)run->samples), run->tokens, pic_plural((long long)run->tokens),
                 run->tokens ? run->entropy_sum / (double)run->tokens : 0.0, dt, dt > 0 ? run->tokens / dt : 0.0, dev,
                 dtn, preempted, skipped);
}

int main(int argc, char **argv) {
    pic_init("pic-rollout");
    options o = {.run = {.temperature = -1, .batch_tokens = 4096, .logprobs_field = "logprobs",
                         .entropy_field = "entropy", .n = 1, .max_new_tokens = 512, .max_batch_size = 64,
                         .shards = 1, .sp = {.temperature = 1.0f, .top_p = 1.0f}},
                 .max_batch_tokens = 4096, .tmpl = "raw", .out = {.level = 3}};
    parse_options(&o, argc, argv);
    check_options(&o);

    rollout_run *run = &o.run;
    pic_dist_init(NULL, NULL);
    int ranks = pic_dist_size(), me = pic_dist_rank();
    o.mo.gpu = pic_dist_local_rank(); /* each rank of a machine its own GPU */
    int shard_fd = -1;
    if (ranks > 1) {
        if (o.score) pic_usage_error("--score runs as one process, not as %d ranks", ranks);
        if (run->shards > 1) pic_usage_error("--shard and %d ranks: the launcher's ranks are the shards", ranks);
        /* "-" anywhere among the FILEs: rank 0 alone would read its prompts */
        bool stdin_file = optind >= argc;
        for (int i = optind; i < argc; i++) stdin_file |= !strcmp(argv[i], "-");
        if (stdin_file)
            pic_usage_error("%d ranks need the prompt FILEs: the launcher gives standard input to rank 0 only", ranks);
        run->shard = me, run->shards = ranks;
        if (me > 0) shard_fd = shard_file(), o.out.output = NULL, o.out.plain = true, pic_quiet = 1;
    }
    pic_set_threads(o.threads ? o.threads : pic_dist_threads());
    pic_err err;
    pic_atomic_dir_recover(run->model_dir); /* a trainer killed while replacing it in place */
    if (pic_model_load(&run->model, run->model_dir, &o.mo, &err)) pic_die("%s", err.msg);
    run->stops.cfg = &run->model.cfg;
    prompt_builder_init(&run->prompts, run->model_dir, o.tmpl, o.add_special, run->model.cfg.vocab_size);
    if (o.add_special && run->prompts.chat && pic_chat_doubles_bos(run->prompts.chat, prompt_tokenizer(&run->prompts)))
        pic_usage_error("--add-special: the %s format writes its own BOS, which the post-processor would add again",
                        pic_chat_name(run->prompts.chat));
    /* generation decodes every response: its tokenizer loads with the model,
     * outside the summary's seconds (Qwen's takes ~0.5 s, a quarter of some
     * runs' generation) */
    if (!o.score) {
        resolve_eos(&o);
        check_stops(&o);
    }
    /* a k that keeps every row of the logits truncates nothing: drawn as
     * no top-k (in id order, not sorted), so that --top-k V samples what
     * its absence does */
    if (run->sp.top_k >= run->model.cfg.vocab_size) run->sp.top_k = 0;

    double t0 = pic_now();
    run_streams(&o, argv + optind, argc - optind);
    if (me > 0) send_shard(shard_fd);
    if (ranks > 1) {
        /* the KV cache's figures summed over the ranks' caches */
        double tot[7] = {(double)run->samples, (double)run->tokens, run->entropy_sum, (double)pic_bad_records,
                         (double)run->preemptions, (double)run->kv_peak, (double)run->kv_pages};
        pic_dist_sum_double(tot, 7);
        run->samples = (size_t)tot[0], run->tokens = (size_t)tot[1], run->entropy_sum = tot[2];
        pic_bad_records = (size_t)tot[3], run->preemptions = (size_t)tot[4];
        run->kv_peak = (long)tot[5], run->kv_pages = (long)tot[6];
    }
    summary(&o, pic_now() - t0);
    prompt_builder_free(&run->prompts);
    free(o.stops);
    free(o.eos);
    free(run->stops.eos);
    pic_model_free(&run->model);
    pic_dist_finish();
    return 0;
}
