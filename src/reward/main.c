/* pic-reward: scores sample records by whether the response's final answer
 * equals the gold answer; or checks one pair (--gold/--pred); or shows what
 * would be extracted (--extract). docs/reward.md has the rules. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stream.h"
#include "reward/countdown_stream.h"
#include "reward/reward.h"

static const char usage[] =
    "Usage: pic-reward [OPTION]... [FILE]...\n"
    "       pic-reward --gold GOLD --pred RESPONSE [--explain]\n"
    "       pic-reward --extract RESPONSE\n"
    "Adds pred (the extracted answer or null), correct (bool) and reward (number:\n"
    "an integer such as 1 or 0 when the value is integral, else a real such as -0.5)\n"
    "to each sample record of FILEs (or stdin), comparing the final answer of\n"
    "`response` with the gold `answer`, as Math-Verify does, exactly and in\n"
    "bounded time.\n"
    "\n"
    "      --task T             math (default) or countdown: the final expression\n"
    "                           must use each of the record's \"numbers\" exactly\n"
    "                           once and equal its \"target\"; adds \"verdict\"\n"
    "                           (streams only; of the matching options only\n"
    "                           --no-boxed, --keep-think, --response-field apply)\n"
    "Rewards:\n"
    "      --correct X          reward of a correct answer (1)\n"
    "      --wrong X            reward of a wrong answer (0)\n"
    "      --unparsable X       reward when no answer can be extracted (0): a\n"
    "                           format penalty when negative\n"
    "Matching:\n"
    "      --float-precision N  decimals kept when a decimal meets a rational (6)\n"
    "      --no-strict          variables match by position, not name\n"
    "      --set-relation       a predicted inequality may answer a gold set\n"
    "                           (Math-Verify's allow_set_relation_comp; a gold\n"
    "                           inequality always accepts the same set)\n"
    "      --no-boxed           ignore \\boxed{} (and \\fbox{}): read the other answer forms\n"
    "      --keep-think         also read answers inside <think>...</think>\n"
    "      --gold-field NAME    field holding the gold answer (answer)\n"
    "      --response-field NAME  field holding the response (response)\n"
    "One pair:\n"
    "      --gold GOLD --pred RESPONSE  print 1 if correct, else 0\n"
    "      --explain            with --gold/--pred: how each side was read\n"
    "      --extract RESPONSE   print the extracted answer (nothing if none)\n"
    "Streams:\n"
    "  -o, --output FILE        write to FILE (atomically) instead of stdout\n"
    "      --plain              do not compress the output\n"
    "      --level N            zstd level (3)\n"
    "      --skip-bad           skip malformed records, count them at the end\n"
    "      --timing             report checks/s and the time per check (p50, p99, max)\n"
    "  -q, --quiet              no progress, no summary\n"
    "  -h, --help               this help\n"
    "      --version            the version\n";

enum {
    OPT_CORRECT = 256, OPT_WRONG, OPT_UNPARSABLE, OPT_FLOATP, OPT_NOSTRICT, OPT_SETREL, OPT_NOBOXED, OPT_KEEPTHINK,
    OPT_GOLDFIELD, OPT_RESPFIELD, OPT_GOLD, OPT_PRED, OPT_EXPLAIN, OPT_EXTRACT, OPT_SKIPBAD, OPT_TIMING,
    OPT_TASK,
};

typedef struct {
    double r_correct, r_wrong, r_unparsable;
    const char *gold_field, *resp_field;
    bool timing;
    rw_opts o;
} config;

static void explain_side(const char *side, const rw_answer *a) {
    char tree[4096];
    printf("%s: ", side);
    if (!a->text) {
        printf("nothing extracted\n");
        return;
    }
    printf("extracted by %s: %s\n", a->how, a->text);
    if (a->tree && rw_print(a->tree, tree, sizeof tree)) printf("  parsed: %s\n", tree);
    else if (!a->tree) printf("  not parsed: compared as text only\n");
}

static int one_pair(const char *gold, const char *pred, bool explain, const config *cf) {
    rw_checker c;
    rw_checker_init(&c);
    rw_opts o = cf->o;
    o.pred.whole_first = true; /* a bare expression on the command line is the answer */
    o.pred.whole = true;       /* and so is a lone word that holds no other answer */
    rw_result r;
    rw_check(&c, gold, strlen(gold), pred, strlen(pred), &o, &r);
    if (explain) {
        explain_side("gold", &r.gold);
        explain_side("pred", &r.pred);
        printf("verdict: %s\n", r.correct ? "equal" : !r.pred.text && !r.choice ? "no answer in pred" : !r.gold.text ? "no gold answer" : "not equal");
    }
    printf("%d\n", r.correct ? 1 : 0);
    rw_checker_free(&c);
    pic_stdout_close();
    return PIC_EXIT_OK;
}

static int extract_one(const char *text, const config *cf) {
    rw_checker c;
    rw_checker_init(&c);
    rw_answer a;
    rw_extract_only(&c, text, strlen(text), &cf->o.pred, &a);
    if (a.tree) printf("%s\n", a.text);
    rw_checker_free(&c);
    pic_stdout_close();
    return PIC_EXIT_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time in the checks alone (not JSON or I/O): what a trainer would wait. */
static void report_timing(double *t, size_t n) {
    if (n == 0) return;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += t[i];
    qsort(t, n, sizeof *t, cmp_double);
    fprintf(stderr, "pic-reward: timing: %zu checks, %.0f checks/s, p50 %.1f us, p99 %.1f us, max %.1f us\n", n,
            (double)n / sum, t[n / 2] * 1e6, t[(size_t)((double)(n - 1) * 0.99)] * 1e6, t[n - 1] * 1e6);
}

/* A field that must be a string (what else it may be, the caller has
 * read: "expected" says it all), with the conventions' message, or NULL
 * (counted) under --skip-bad. */
static const char *string_field(const pic_reader *rd, json_t *rec, const char *name, const char *expected) {
    json_t *v = json_object_get(rec, name);
    if (json_is_string(v)) return json_string_value(v);
    pic_reader_bad(rd, name, "%s", v ? expected : "missing");
    return NULL;
}

/* An integral reward prints as an integer (1, 0, -1), any other as a real
 * (-0.5): what readers of the stream expect to see for the usual 1/0. */
static json_t *reward_json(double r) {
    if (r > -9e15 && r < 9e15 && r == (double)(long long)r) return json_integer((json_int_t)(long long)r);
    return json_real(r);
}

static int stream(char **files, int nfiles, const pic_output_opts *out, const config *cf) {
    pic_writer *w = pic_writer_open(out->output, out->plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, out->level);
    rw_checker c;
    rw_checker_init(&c);
    pic_progress pr;
    pic_progress_start(&pr, "records");
    long long n = 0, correct = 0, unparsed = 0;
    double *times = NULL;
    size_t ntimes = 0, tcap = 0;
    char *stdin_only[] = {"-"};
    if (nfiles == 0) files = stdin_only, nfiles = 1;
    for (int f = 0; f < nfiles; f++) {
        pic_reader *rd = pic_reader_open(files[f]);
        json_t *rec;
        while ((rec = pic_reader_json(rd))) {
            const char *resp = string_field(rd, rec, cf->resp_field, "expected a string");
            json_t *gv = json_object_get(rec, cf->gold_field);
            const char *gold = NULL;
            size_t gold_len = 0;
            char num[64];
            if (json_is_integer(gv)) {
                /* numeric gold answers are common in GSM8K-style data */
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(gv));
                gold = num;
            } else if (json_is_real(gv)) {
                /* its exponent as latex2sympy's E notation: "1e-06" would be 1 times e, minus 6 */
                pic_format_real(num, json_real_value(gv));
                char *e = strchr(num, 'e');
                if (e) *e = 'E';
                gold = num;
            } else if (resp) {
                gold = string_field(rd, rec, cf->gold_field, "expected a string or a number");
                /* its length, as the response's: a "\u0000" does not cut it */
                if (gold) gold_len = json_string_length(gv);
            }
            if (gold && gold == num) gold_len = strlen(num);
            if (!resp || !gold) {
                json_decref(rec);
                continue;
            }
            rw_result r;
            double t0 = cf->timing ? pic_now() : 0;
            rw_check(&c, gold, gold_len, resp, json_string_length(json_object_get(rec, cf->resp_field)),
                     &cf->o, &r);
            if (cf->timing) {
                if (ntimes == tcap) times = pic_realloc(times, (tcap = tcap ? 2 * tcap : 1024) * sizeof *times);
                times[ntimes++] = pic_now() - t0;
            }
            /* a letter chosen is an answer, right or wrong: "The answer is (B)." was
             * pred null, counted without an answer and, wrong, given --unparsable */
            bool letter = r.choice && !r.pred.tree && !(r.correct && r.pred.text);
            bool found = r.pred.tree != NULL || (r.correct && r.pred.text) || letter;
            json_object_set_new(rec, "pred", letter ? json_stringn(&r.choice, 1)
                                             : found ? json_stringn(r.pred.text, r.pred.len) : json_null());
            json_object_set_new(rec, "correct", json_boolean(r.correct));
            double reward = r.correct ? cf->r_correct : found ? cf->r_wrong : cf->r_unparsable;
            json_object_set_new(rec, "reward", reward_json(reward));
            pic_writer_json(w, rec);
            json_decref(rec);
            n++;
            correct += r.correct;
            unparsed += !found;
            pic_progress_update(&pr, (double)n, 0, NULL);
        }
        pic_reader_close(rd);
    }
    pic_progress_end(&pr);
    pic_writer_close(w);
    rw_checker_free(&c);
    pic_info("%lld record%s, %lld correct, %lld without an answer", n, pic_plural(n), correct, unparsed);
    pic_note_bad_records();
    if (cf->timing) report_timing(times, ntimes);
    free(times);
    return PIC_EXIT_OK;
}

int main(int argc, char **argv) {
    pic_init("pic-reward");
    config cf = {1, 0, 0, "answer", "response", false, rw_default_opts()};
    const char *gold = NULL, *pred = NULL, *extract = NULL;
    bool explain = false, countdown = false;
    bool math_only = false; /* an option of math answers given, even with its default value */
    pic_output_opts out = {.level = 3};
    static const struct option opts[] = {
        {"correct", required_argument, 0, OPT_CORRECT}, {"wrong", required_argument, 0, OPT_WRONG},
        {"unparsable", required_argument, 0, OPT_UNPARSABLE},
        {"float-precision", required_argument, 0, OPT_FLOATP}, {"no-strict", no_argument, 0, OPT_NOSTRICT},
        {"set-relation", no_argument, 0, OPT_SETREL},
        {"no-boxed", no_argument, 0, OPT_NOBOXED}, {"keep-think", no_argument, 0, OPT_KEEPTHINK},
        {"gold-field", required_argument, 0, OPT_GOLDFIELD},
        {"response-field", required_argument, 0, OPT_RESPFIELD}, {"gold", required_argument, 0, OPT_GOLD},
        {"pred", required_argument, 0, OPT_PRED}, {"explain", no_argument, 0, OPT_EXPLAIN},
        {"extract", required_argument, 0, OPT_EXTRACT}, {"skip-bad", no_argument, 0, OPT_SKIPBAD},
        {"timing", no_argument, 0, OPT_TIMING}, {"task", required_argument, 0, OPT_TASK},
        PIC_OUTPUT_OPTIONS, {0, 0, 0, 0},
    };
    int ch, at = -1;
    const char *stream_only = NULL; /* an option given that only the stream mode reads */
    const char *compare_only = NULL; /* an option of the comparison, which --extract never makes */
    while ((ch = pic_getopt(argc, argv, "o:qh", opts, &at)) != -1) {
        switch (ch) {
        case OPT_CORRECT: case OPT_WRONG: case OPT_UNPARSABLE: case OPT_GOLDFIELD: case OPT_RESPFIELD:
        case OPT_SKIPBAD: case OPT_TIMING: case 'o': case PIC_OPT_PLAIN: case PIC_OPT_LEVEL:
            stream_only = at >= 0 ? opts[at].name : "output"; /* at: set for long options only */
            break;
        }
        at = -1;
        switch (ch) {
        case OPT_CORRECT: cf.r_correct = pic_parse_double("--correct", optarg, -1e9, 1e9); break;
        case OPT_WRONG: cf.r_wrong = pic_parse_double("--wrong", optarg, -1e9, 1e9); break;
        case OPT_UNPARSABLE: cf.r_unparsable = pic_parse_double("--unparsable", optarg, -1e9, 1e9); break;
        case OPT_FLOATP:
            cf.o.eq.float_places = (int)pic_parse_int("--float-precision", optarg, 0, 100);
            math_only = true, compare_only = "float-precision";
            break;
        case OPT_NOSTRICT: cf.o.eq.strict = false, math_only = true, compare_only = "no-strict"; break;
        case OPT_SETREL: cf.o.eq.set_relation = true, math_only = true, compare_only = "set-relation"; break;
        case OPT_NOBOXED: cf.o.pred.boxed = cf.o.gold.boxed = false; break;
        case OPT_KEEPTHINK: cf.o.pred.after_think = false; break;
        case OPT_GOLDFIELD: cf.gold_field = optarg, math_only = true; break;
        case OPT_RESPFIELD: cf.resp_field = optarg; break;
        case OPT_GOLD: gold = optarg; break;
        case OPT_PRED: pred = optarg; break;
        case OPT_EXPLAIN: explain = true; break;
        case OPT_EXTRACT: extract = optarg; break;
        case OPT_SKIPBAD: pic_skip_bad = true; break;
        case OPT_TIMING: cf.timing = true; break;
        case OPT_TASK:
            if (strcmp(optarg, "countdown") != 0 && strcmp(optarg, "math") != 0)
                pic_usage_error("--task: unknown task '%s' (math, countdown)", optarg);
            countdown = strcmp(optarg, "countdown") == 0;
            break;
        default:
            if (!pic_output_option(ch, optarg, &out, usage)) pic_usage_error("unknown option");
        }
    }
    if ((gold != NULL) != (pred != NULL)) pic_usage_error("--gold and --pred go together");
    if (explain && !gold) pic_usage_error("--explain needs --gold and --pred");
    if ((gold || extract) && optind < argc) pic_usage_error("no FILE operands with --gold/--pred or --extract");
    if (gold && extract) pic_usage_error("--extract and --gold/--pred are separate modes");
    if (extract && compare_only)
        pic_usage_error("--%s: an option of comparing answers; --extract only extracts one", compare_only);
    if ((gold || extract) && stream_only)
        pic_usage_error("--%s is an option of the stream mode, not of --gold/--pred or --extract (they print to "
                        "standard output)", stream_only);
    if (countdown) {
        if (gold || extract || cf.timing || math_only)
            pic_usage_error("--task countdown reads streams only, and takes no --gold/--pred, --extract, "
                            "--timing, --gold-field, --no-strict, --set-relation or --float-precision");
        cd_stream_opts so = {cf.r_correct, cf.r_wrong, cf.r_unparsable, cf.resp_field,
                             {cf.o.pred.boxed, cf.o.pred.after_think}};
        return cd_stream(argv + optind, argc - optind, &out, &so);
    }
    if (gold) return one_pair(gold, pred, explain, &cf);
    if (extract) return extract_one(extract, &cf);
    return stream(argv + optind, argc - optind, &out, &cf);
}
