/* pic-eval: metrics over scored sample streams, per dataset and overall.
 *
 * Samples are grouped into problems by (source, id), problems into datasets
 * by source. Every per-dataset number is a mean over problems of a
 * per-problem number, so a problem with 16 samples weighs the same as one
 * with 4 (pooling samples would weigh problems by their sample counts).
 * Overall is the unweighted mean over datasets, as the paper's tables. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stream.h"
#include "common/utf8.h"
#include "eval/eval.h"

static const char usage[] =
    "Usage: pic-eval [OPTION]... [FILE]...\n"
    "Evaluation metrics of scored sample streams (JSON Lines, plain or zstd; the\n"
    "FILEs one after another, standard input when none or '-').\n"
    "\n"
    "Each record is one sample: 'id' (string or integer) names its problem,\n"
    "'source' (optional) its dataset, 'correct' (bool) or else 'reward' (number,\n"
    "correct when >= --threshold) scores it. Optional: 'response_ids' (its length in\n"
    "tokens; else the length of 'entropy'), 'entropy' (one number >= 0 per response\n"
    "token), 'response' (text, for the reflective words), 'sample' (index; a repeated\n"
    "index of a problem is an error, which catches a file given twice); with --maj\n"
    "'pred' (the extracted answer). Other fields are ignored.\n"
    "\n"
    "Per dataset (in order of first appearance), with n the samples of a problem\n"
    "and c the correct ones:\n"
    "  problems, n          problem count; samples per problem (a range if they vary)\n"
    "  avg@n                mean over problems of c/n\n"
    "  pass@n               fraction of problems with c > 0\n"
    "  maj@n                with --maj: fraction of problems whose majority answer\n"
    "                       is correct (see --maj)\n"
    "  pass@k               mean over problems of 1 - C(n-c,k)/C(n,k) (unbiased,\n"
    "                       Chen et al. 2021); '-' when some problem has n < k\n"
    "  length               mean over problems of the mean response length (tokens)\n"
    "  entropy              mean over problems of the token-mean entropy of all\n"
    "                       the problem's tokens\n"
    "  reflect              mean over problems of reflective words per response\n"
    "Problems with different sample counts are each averaged over their own\n"
    "samples first, so no problem weighs more for having more samples.\n"
    "Overall is the unweighted MEAN OVER DATASETS of each metric (as in the\n"
    "paper's tables), not a mean over all problems; problems and samples are sums.\n"
    "\n"
    "Options:\n"
    "      --k LIST             comma-separated k for pass@k (e.g. 1,4,16)\n"
    "      --maj                add maj@n, the majority vote over all the samples of\n"
    "                           a problem: correct samples vote for the one correct\n"
    "                           answer, the others for their 'pred' (text, trimmed;\n"
    "                           null or empty: no vote), so every record needs\n"
    "                           'pred'. Most votes win; a tie goes to the answer\n"
    "                           voted for first, in 'sample' order\n"
    "      --format FMT         table (aligned, the default), markdown, tsv or json.\n"
    "                           table and markdown print accuracies in percent; tsv\n"
    "                           and json print fractions in [0,1] at full precision\n"
    "      --digits N           decimals of percentages in table/markdown (default 1)\n"
    "      --threshold X        a 'reward' >= X is correct when there is no 'correct'\n"
    "                           (default 0.5)\n"
    "      --reflect-words LIST reflective words and phrases, comma-separated, or\n"
    "                           @FILE with one per line ('#' comments); '' counts\n"
    "                           none. Case-insensitive, whole words, any whitespace\n"
    "                           inside a phrase. Default:\n"
    "                           wait, alternatively, hmm, let's reconsider,\n"
    "                           let me reconsider, re-examine, double-check, recheck,\n"
    "                           on second thought\n"
    "      --default-source S   dataset of records without 'source' (default 'all')\n"
    "  -o, --output FILE        write there (atomically) instead of standard output\n"
    "      --skip-bad           skip malformed records (counted at the end) instead\n"
    "                           of failing\n"
    "  -q, --quiet              no progress, no summary line, no note on an\n"
    "                           undefined pass@k\n"
    "  -h, --help               this help\n"
    "      --version            the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input or I/O error (the message names the file,\n"
    "line and field), 2 usage error.\n";

/* ---- options ---- */

static void parse_ks(eval_ctx *e, const char *arg) {
    pic_list l;
    pic_option_list(&l, "--k", arg);
    for (size_t j = 0; j < l.n; j++) {
        long long k = pic_parse_int("--k", l.items[j], 1, 1LL << 40);
        for (size_t i = 0; i < e->nk; i++)
            if (e->ks[i] == k) pic_usage_error("--k: %lld given twice", k);
        e->ks = pic_realloc(e->ks, (e->nk + 1) * sizeof *e->ks);
        e->ks[e->nk++] = k;
    }
    pic_list_free(&l);
}

/* The words are keys of --format json's reflect_words, which jansson
 * refuses unless they are UTF-8: a word of Latin-1 was counted in the table
 * and missing from the JSON, silently. */
static void parse_words(eval_ctx *e, const char *arg) {
    char err[256];
    size_t byte;
    unsigned char at;
    pic_wordlist_free(&e->words);
    if (arg[0] == '@') {
        size_t len, col, line;
        char *text = pic_read_file(arg + 1, &len);
        if ((line = pic_nul_line(text, len, &col)))
            pic_die("%s:%zu: reflective words: a raw NUL byte at column %zu", arg + 1, line, col);
        if ((line = pic_utf8_bad_line(text, len, &byte, &at)))
            pic_die("%s:%zu: reflective words: invalid UTF-8 (0x%02x) at byte %zu", arg + 1, line, at, byte);
        /* a byte-order mark is no part of the first word */
        if (pic_wordlist_parse(text + pic_utf8_bom(text, len), &e->words, err, sizeof err))
            pic_die("%s: reflective words: %s", arg + 1, err);
        free(text);
    } else if (pic_utf8_bad_line(arg, strlen(arg), &byte, &at)) {
        pic_usage_error("--reflect-words: invalid UTF-8 (0x%02x) at byte %zu", at, byte);
    } else if (pic_wordlist_parse(arg, &e->words, err, sizeof err)) {
        pic_usage_error("--reflect-words: %s", err);
    }
}

enum { OPT_K = 256, OPT_MAJ, OPT_FORMAT, OPT_DIGITS, OPT_THRESHOLD, OPT_WORDS, OPT_DEFSRC, OPT_SKIP, OPT_VERSION };

int main(int argc, char **argv) {
    pic_init("pic-eval");
    static const struct option opts[] = {
        {"k", required_argument, 0, OPT_K},
        {"maj", no_argument, 0, OPT_MAJ},
        {"format", required_argument, 0, OPT_FORMAT},
        {"digits", required_argument, 0, OPT_DIGITS},
        {"threshold", required_argument, 0, OPT_THRESHOLD},
        {"reflect-words", required_argument, 0, OPT_WORDS},
        {"default-source", required_argument, 0, OPT_DEFSRC},
        {"output", required_argument, 0, 'o'},
        {"skip-bad", no_argument, 0, OPT_SKIP},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    eval_ctx e = {.format = FMT_TABLE, .digits = 1, .threshold = 0.5, .default_source = "all",
                  .pmap = json_object(), .dmap = json_object(), .amap = json_object()};
    char err[256];
    if (pic_wordlist_parse(pic_reflect_default, &e.words, err, sizeof err)) pic_die("%s", err);
    const char *output = NULL;
    bool digits_given = false;
    int c;
    while ((c = pic_getopt(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_K: parse_ks(&e, optarg); break;
        case OPT_MAJ: e.maj = true; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "table")) e.format = FMT_TABLE;
            else if (!strcmp(optarg, "markdown")) e.format = FMT_MARKDOWN;
            else if (!strcmp(optarg, "tsv")) e.format = FMT_TSV;
            else if (!strcmp(optarg, "json")) e.format = FMT_JSON;
            else pic_usage_error("--format: '%s' is not table, markdown, tsv or json", optarg);
            break;
        case OPT_DIGITS:
            e.digits = (int)pic_parse_int("--digits", optarg, 0, 15);
            digits_given = true;
            break;
        case OPT_THRESHOLD: e.threshold = pic_parse_double("--threshold", optarg, -1e300, 1e300); break;
        case OPT_WORDS: parse_words(&e, optarg); break;
        case OPT_DEFSRC:
            if (!*optarg) pic_usage_error("--default-source: empty name");
            {
                /* a dataset's name is a key of the index and a JSON string,
                 * which must be UTF-8: it died "out of memory indexing" */
                size_t byte;
                unsigned char at;
                if (pic_utf8_bad_line(optarg, strlen(optarg), &byte, &at))
                    pic_usage_error("--default-source: invalid UTF-8 (0x%02x) at byte %zu", at, byte);
            }
            e.default_source = optarg;
            break;
        case 'o':
            if (!*optarg) pic_usage_error("--output: empty file name");
            output = optarg;
            break;
        case OPT_SKIP: pic_skip_bad = true; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option or missing argument");
        }
    }
    /* tsv and json print fractions at full precision: --digits would do
     * nothing, and the run would be the one without it */
    if (digits_given && (e.format == FMT_TSV || e.format == FMT_JSON))
        pic_usage_error("--digits needs --format table or markdown (tsv and json print every digit)");

    e.nfiles = optind < argc ? (size_t)(argc - optind) : 1;
    e.files = pic_malloc(e.nfiles * sizeof *e.files);
    for (size_t f = 0; f < e.nfiles; f++) {
        const char *a = optind < argc ? argv[optind + (int)f] : "-";
        e.files[f] = (char *)(strcmp(a, "-") ? a : "<stdin>");
    }
    pic_progress prog;
    pic_progress_start(&prog, "records");
    for (size_t f = 0; f < e.nfiles; f++)
        eval_read_file(&e, optind < argc ? argv[optind + (int)f] : NULL, f, &prog);
    pic_progress_end(&prog);
    if (!e.records) pic_die_no_records(argc - optind, argv + optind, "records");
    eval_count_votes(&e);

    pic_atomic_file af;
    FILE *out = output ? pic_atomic_open(&af, output) : stdout;
    eval_print_report(out, &e);
    if (output) {
        if (pic_atomic_commit(&af) != 0) pic_die("%s: %s", output, strerror(errno));
    } else {
        pic_stdout_close();
    }
    pic_note_bad_records();
    pic_info("%lld sample%s, %zu problem%s, %zu dataset%s", e.records, pic_plural(e.records), e.nproblems,
             pic_plural((long long)e.nproblems), e.ndatasets, pic_plural((long long)e.ndatasets));

    eval_free(&e);
    return 0;
}
