/* pic-task: writes a stream of synthetic problems (prompt records): math
 * with one answer, or Countdown with many solutions (countdown.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "countdown.h"
#include "task.h"

static const char usage[] =
    "Usage: pic-task [OPTION]...\n"
    "Write synthetic, verifiable problems as prompt records:\n"
    "  {\"id\", \"problem\", \"answer\", \"kind\"[, \"solution\"], \"source\", \"difficulty\"}\n"
    "and for Countdown also \"numbers\" and \"target\" (answer: one solution).\n"
    "Problems are a pure function of (--seed, id): the same options always give\n"
    "the same stream, and --start lets several calls extend one sequence.\n"
    "\n"
    "  -n, --count N        number of problems (default 100)\n"
    "      --start K        first id (default 0; the last id at most 2^53)\n"
    "      --seed S         random seed (default 1)\n"
    "      --task T         math (default) or countdown: reach \"target\" from\n"
    "                       \"numbers\" with + - * / and parentheses, each number\n"
    "                       used exactly once (TinyZero's task; pic-reward --task\n"
    "                       countdown checks it); always solvable\n"
    "  -d, --difficulty D   1..5 (default 1). math: the operands' sizes, and the\n"
    "                       kinds unless --kinds: 1 one-digit + and -; 2\n"
    "                       two-digit, and *; 3 three-digit, linear equations;\n"
    "                       4 division, negative roots; 5 larger operands.\n"
    "                       countdown: 3, 4, 4, 5, 6 numbers from 1..20, 1..20,\n"
    "                       1..50, 1..50, 1..100; targets up to 100, 200, 500,\n"
    "                       500, 1000\n"
    "      --kinds LIST     math: comma-separated subset of add,sub,mul,div,eq,\n"
    "                       any of them at any difficulty, with that difficulty's\n"
    "                       operand sizes (default: the kinds the difficulty offers)\n"
    "      --numbers N      countdown: how many numbers, 2..8 (overrides -d's)\n"
    "      --max-number M   countdown: numbers from 1..M, M <= 10000\n"
    "      --max-target T   countdown: targets in 1..T, T <= 1000000\n"
    "      --solutions      add a worked \"solution\" ending in \\boxed{answer}\n"
    "                       (for the SFT warm-up)\n"
    "      --source NAME    the records' source (default synthetic-dD, or\n"
    "                       countdown-dD)\n"
    "  -o, --output FILE    write to FILE (atomically) instead of standard output\n"
    "      --plain          do not compress (the default when stdout is a terminal)\n"
    "      --level N        zstd level, 1..19 (default 3)\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show the version and exit\n";

static unsigned parse_kinds(const char *list) {
    unsigned mask = 0;
    pic_list l;
    pic_option_list(&l, "--kinds", list);
    for (size_t j = 0; j < l.n; j++) {
        int found = -1;
        for (int i = 0; i < TASK_KINDS; i++)
            if (strcmp(l.items[j], task_kind_names[i]) == 0) found = i;
        if (found < 0) pic_usage_error("--kinds: unknown kind '%s' (add, sub, mul, div, eq)", l.items[j]);
        mask |= 1u << found;
    }
    pic_list_free(&l);
    return mask;
}

/* The record of one math problem. */
static json_t *math_record(long long id, unsigned kinds, int difficulty, bool solutions, pic_rng *r) {
    task_kind offered[TASK_KINDS];
    int noffered = 0;
    for (int i = 0; i < TASK_KINDS; i++)
        if (kinds >> i & 1) offered[noffered++] = (task_kind)i;
    task t;
    task_make(&t, offered[pic_rng_below(r, (uint64_t)noffered)], difficulty, r);
    json_t *rec = json_object();
    json_object_set_new(rec, "id", json_integer(id));
    json_object_set_new(rec, "problem", json_string(t.problem));
    json_object_set_new(rec, "answer", json_string(t.answer));
    json_object_set_new(rec, "kind", json_string(task_kind_names[t.kind]));
    if (solutions) json_object_set_new(rec, "solution", json_string(t.solution));
    return rec;
}

/* The record of one Countdown problem: numbers and target as fields, so a
 * verifier needs no prose; answer is the generator's witness. */
static json_t *countdown_record(long long id, const countdown_level *lv, bool solutions, pic_rng *r) {
    countdown c;
    if (!countdown_make(&c, lv, r))
        pic_die("id %lld: no target in 1..%ld reached in 10000 draws of %d numbers from 1..%ld; raise "
                "--max-target", id, lv->max_target, lv->count, lv->max_number);
    json_t *rec = json_object(), *nums = json_array();
    for (int i = 0; i < c.count; i++) json_array_append_new(nums, json_integer(c.numbers[i]));
    json_object_set_new(rec, "id", json_integer(id));
    json_object_set_new(rec, "problem", json_string(c.problem));
    json_object_set_new(rec, "answer", json_string(c.witness));
    json_object_set_new(rec, "numbers", nums);
    json_object_set_new(rec, "target", json_integer(c.target));
    json_object_set_new(rec, "kind", json_string("countdown"));
    if (solutions) json_object_set_new(rec, "solution", json_string(c.solution));
    return rec;
}

int main(int argc, char **argv) {
    pic_init("pic-task");
    enum { OPT_START = 256, OPT_SEED, OPT_KINDS, OPT_SOLUTIONS, OPT_SOURCE, OPT_TASK, OPT_NUMBERS, OPT_MAXNUM,
           OPT_MAXTARGET };
    static const struct option opts[] = {
        {"count", required_argument, 0, 'n'}, {"start", required_argument, 0, OPT_START},
        {"seed", required_argument, 0, OPT_SEED}, {"difficulty", required_argument, 0, 'd'},
        {"kinds", required_argument, 0, OPT_KINDS}, {"solutions", no_argument, 0, OPT_SOLUTIONS},
        {"source", required_argument, 0, OPT_SOURCE}, {"task", required_argument, 0, OPT_TASK},
        {"numbers", required_argument, 0, OPT_NUMBERS}, {"max-number", required_argument, 0, OPT_MAXNUM},
        {"max-target", required_argument, 0, OPT_MAXTARGET}, PIC_OUTPUT_OPTIONS, {0, 0, 0, 0}};
    long long count = 100, start = 0, seed = 1, numbers = 0, max_number = 0, max_target = 0;
    int difficulty = 1, c;
    unsigned kinds = 0;
    bool solutions = false, is_countdown = false;
    const char *source = NULL;
    pic_output_opts out = {.level = 3};
    while ((c = pic_getopt(argc, argv, "n:d:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count = pic_parse_int("--count", optarg, 0, 1000000000); break;
        case OPT_START: start = pic_parse_int("--start", optarg, 0, 1LL << 53); break;
        case OPT_SEED: seed = pic_parse_int("--seed", optarg, 0, 1LL << 62); break;
        case 'd': difficulty = (int)pic_parse_int("--difficulty", optarg, 1, 5); break;
        case OPT_KINDS: kinds = parse_kinds(optarg); break;
        case OPT_SOLUTIONS: solutions = true; break;
        case OPT_SOURCE: source = optarg; break;
        case OPT_TASK:
            if (strcmp(optarg, "countdown") == 0) is_countdown = true;
            else if (strcmp(optarg, "math") == 0) is_countdown = false;
            else pic_usage_error("--task: unknown task '%s' (math, countdown)", optarg);
            break;
        case OPT_NUMBERS: numbers = pic_parse_int("--numbers", optarg, 2, COUNTDOWN_MAX_NUMBERS); break;
        case OPT_MAXNUM: max_number = pic_parse_int("--max-number", optarg, 1, 10000); break;
        case OPT_MAXTARGET: max_target = pic_parse_int("--max-target", optarg, 1, 1000000); break;
        default:
            if (!pic_output_option(c, optarg, &out, usage)) pic_usage_error("unknown option");
        }
    }
    if (optind < argc) pic_usage_error("unexpected operand '%s'", argv[optind]);
    /* the last id, not the first, is what must stay exact as a double
     * (jq reads 2^53 + 1 back as 2^53) */
    if (count && start + count - 1 > 1LL << 53)
        pic_usage_error("--start %lld with --count %lld: the last id, %lld, is above 2^53 (%lld), past which jq "
                        "reads ids inexactly",
                        start, count, start + count - 1, 1LL << 53);
    /* jansson refuses a string that is not UTF-8: every record went out
     * without its source, exit 0 */
    json_t *src = source ? json_string(source) : json_null();
    if (!src) pic_usage_error("--source: the name is not UTF-8");
    json_decref(src);
    if (is_countdown && kinds) pic_usage_error("--kinds is for --task math");
    if (!is_countdown && (numbers || max_number || max_target))
        pic_usage_error("--numbers, --max-number and --max-target are for --task countdown");
    if (!kinds) kinds = task_kinds_at(difficulty);
    countdown_level lv = countdown_level_at(difficulty);
    if (numbers) lv.count = (int)numbers;
    if (max_number) lv.max_number = max_number;
    if (max_target) lv.max_target = max_target;
    char default_source[32];
    snprintf(default_source, sizeof default_source, "%s-d%d", is_countdown ? "countdown" : "synthetic", difficulty);

    pic_writer *w = pic_writer_open(out.output, out.plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, out.level);
    for (long long id = start; id < start + count; id++) {
        pic_rng r;
        pic_rng_seed(&r, (uint64_t)seed, (uint64_t)id, (uint64_t)difficulty);
        json_t *rec = is_countdown ? countdown_record(id, &lv, solutions, &r)
                                   : math_record(id, kinds, difficulty, solutions, &r);
        json_object_set_new(rec, "source", json_string(source ? source : default_source));
        json_object_set_new(rec, "difficulty", json_integer(difficulty));
        pic_writer_json(w, rec);
        json_decref(rec);
    }
    pic_writer_close(w);
    pic_info("%lld %s problem%s (difficulty %d, seed %lld)", count, is_countdown ? "countdown" : "math",
             pic_plural(count), difficulty, seed);
    return 0;
}
