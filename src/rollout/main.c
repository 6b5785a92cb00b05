/* pic-rollout: the model's side of RL. --score recomputes log-probs and
 * entropies of given token sequences (teacher forcing); batched generation
 * comes with the sampler. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "model/parallel.h"
#include "rollout/rollout.h"

static const char usage[] =
    "Usage: pic-rollout --score --model DIR [OPTION]... [FILE]...\n"
    "Score JSON Lines records (plain or zstd; the FILEs one after another, standard\n"
    "input when none or '-') with a HuggingFace model (qwen2, qwen3, llama): for\n"
    "each response token, add its log-probability under softmax(logits / T) and the\n"
    "entropy of that distribution over the whole vocabulary, as the sampler does.\n"
    "\n"
    "A record gives 'prompt_ids' and 'response_ids' (token id arrays), or 'prompt'\n"
    "and 'response' text, tokenized with the model's tokenizer.json ('prompt' is\n"
    "taken as already templated). Other fields pass through unchanged.\n"
    "\n"
    "Options:\n"
    "      --score               teacher-forced scoring (required for now: sampling\n"
    "                            arrives with the generation issue)\n"
    "  -m, --model DIR           model directory: config.json, model.safetensors or\n"
    "                            shards with model.safetensors.index.json\n"
    "  -t, --temperature T       score at temperature T > 0 (default: each record's\n"
    "                            'temperature' field, else 1)\n"
    "      --logprobs-field NAME  where the log-probs go (default 'logprobs')\n"
    "      --entropy-field NAME  where the entropies go (default 'entropy'; '' to\n"
    "                            leave them out)\n"
    "      --add-special         tokenize a 'prompt' text with the post-processor's\n"
    "                            special tokens (e.g. a BOS); off by default\n"
    "      --batch-tokens N      tokens per forward pass (default 4096; a longer\n"
    "                            record goes alone)\n"
    "      --threads N           compute threads (default: one per CPU)\n"
    "  -o, --output FILE         write there (atomically) instead of standard output\n"
    "      --plain               do not compress (the default when stdout is a terminal)\n"
    "      --level N             zstd level, 1..19 (default 3)\n"
    "      --skip-bad            skip malformed records (counted at the end)\n"
    "  -q, --quiet               no progress, no summary line\n"
    "  -h, --help                this help\n"
    "      --version             the version\n"
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
    OPT_PLAIN,
    OPT_LEVEL,
    OPT_SKIP_BAD,
    OPT_VERSION,
};

int main(int argc, char **argv) {
    pic_init("pic-rollout");
    static const struct option opts[] = {
        {"score", no_argument, 0, OPT_SCORE},
        {"model", required_argument, 0, 'm'},
        {"temperature", required_argument, 0, 't'},
        {"logprobs-field", required_argument, 0, OPT_LOGPROBS_FIELD},
        {"entropy-field", required_argument, 0, OPT_ENTROPY_FIELD},
        {"add-special", no_argument, 0, OPT_ADD_SPECIAL},
        {"batch-tokens", required_argument, 0, OPT_BATCH_TOKENS},
        {"threads", required_argument, 0, OPT_THREADS},
        {"output", required_argument, 0, 'o'},
        {"plain", no_argument, 0, OPT_PLAIN},
        {"level", required_argument, 0, OPT_LEVEL},
        {"skip-bad", no_argument, 0, OPT_SKIP_BAD},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    rollout_run run = {.temperature = -1, .batch_tokens = 4096, .logprobs_field = "logprobs",
                       .entropy_field = "entropy"};
    bool score = false, plain = false;
    int level = 3, threads = 0;
    const char *output = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SCORE: score = true; break;
        case 'm': run.model_dir = optarg; break;
        case 't': run.temperature = pic_parse_double("--temperature", optarg, 1e-6, 1e6); break;
        case OPT_LOGPROBS_FIELD: run.logprobs_field = optarg; break;
        case OPT_ENTROPY_FIELD: run.entropy_field = optarg; break;
        case OPT_ADD_SPECIAL: run.add_special = true; break;
        case OPT_BATCH_TOKENS: run.batch_tokens = (size_t)pic_parse_int("--batch-tokens", optarg, 1, 1 << 24); break;
        case OPT_THREADS: threads = (int)pic_parse_int("--threads", optarg, 1, 1024); break;
        case 'o': output = optarg; break;
        case OPT_PLAIN: plain = true; break;
        case OPT_LEVEL: level = (int)pic_parse_int("--level", optarg, 1, 19); break;
        case OPT_SKIP_BAD: run.skip_bad = true; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (!score) pic_usage_error("only --score is available (generation comes with the sampler)");
    if (!run.model_dir) pic_usage_error("--model DIR is required");
    if (!*run.logprobs_field) pic_usage_error("--logprobs-field: empty name");
    if (run.entropy_field && !*run.entropy_field) run.entropy_field = NULL;
    if (run.entropy_field && !strcmp(run.entropy_field, run.logprobs_field))
        pic_usage_error("--entropy-field and --logprobs-field name the same field");

    pic_set_threads(threads);
    pic_err err;
    if (pic_model_load(&run.model, run.model_dir, &err)) pic_die("%s", err.msg);

    double t0 = pic_now();
    run.w = pic_writer_open(output, plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, level);
    pic_progress_start(&run.progress, "records");
    int nfiles = argc - optind;
    for (int i = 0; i < (nfiles ? nfiles : 1); i++) {
        pic_reader *r = pic_reader_open(nfiles ? argv[optind + i] : NULL);
        score_stream(&run, r);
        pic_reader_close(r);
    }
    pic_progress_end(&run.progress);
    pic_writer_close(run.w);
    double dt = pic_now() - t0;
    char skipped[64] = "";
    if (run.skipped) snprintf(skipped, sizeof skipped, ", %zu bad records skipped", run.skipped);
    pic_info("scored %zu records, %zu response tokens in %.2f s (%.0f tokens/s)%s", run.records, run.tokens, dt,
             dt > 0 ? run.tokens / dt : 0.0, skipped);
    if (run.tok) pic_tokenizer_free(run.tok);
    pic_model_free(&run.model);
    return 0;
}
