/* pic-task: writes a stream of synthetic math problems (prompt records). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "task.h"

static const char usage[] =
    "Usage: pic-task [OPTION]...\n"
    "Write synthetic, verifiable math problems as prompt records:\n"
    "  {\"id\", \"problem\", \"answer\", \"source\", \"kind\", \"difficulty\"[, \"solution\"]}\n"
    "Problems are a pure function of (--seed, id): the same options always give\n"
    "the same stream, and --start lets several calls extend one sequence.\n"
    "\n"
    "  -n, --count N        number of problems (default 100)\n"
    "      --start K        first id (default 0)\n"
    "      --seed S         random seed (default 1)\n"
    "  -d, --difficulty D   1..5 (default 1): 1 one-digit + and -; 2 two-digit,\n"
    "                       and *; 3 three-digit, linear equations; 4 division,\n"
    "                       negative roots; 5 larger operands\n"
    "      --kinds LIST     comma-separated subset of add,sub,mul,div,eq\n"
    "                       (default: every kind the difficulty offers)\n"
    "      --solutions      add a worked \"solution\" ending in \\boxed{answer}\n"
    "                       (for the SFT warm-up)\n"
    "      --source NAME    the records' source (default synthetic-dD)\n"
    "  -o, --output FILE    write to FILE (atomically) instead of standard output\n"
    "      --plain          do not compress (the default when stdout is a terminal)\n"
    "      --level N        zstd level, 1..19 (default 3)\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show the version and exit\n";

static unsigned parse_kinds(const char *list) {
    unsigned mask = 0;
    char *copy = pic_strdup(list), *save = NULL;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < TASK_KINDS; i++)
            if (strcmp(k, task_kind_names[i]) == 0) found = i;
        if (found < 0) pic_usage_error("--kinds: unknown kind '%s' (add, sub, mul, div, eq)", k);
        mask |= 1u << found;
    }
    free(copy);
    if (!mask) pic_usage_error("--kinds: empty list");
    return mask;
}

int main(int argc, char **argv) {
    pic_init("pic-task");
    enum { OPT_START = 256, OPT_SEED, OPT_KINDS, OPT_SOLUTIONS, OPT_SOURCE };
    static const struct option opts[] = {
        {"count", required_argument, 0, 'n'}, {"start", required_argument, 0, OPT_START},
        {"seed", required_argument, 0, OPT_SEED}, {"difficulty", required_argument, 0, 'd'},
        {"kinds", required_argument, 0, OPT_KINDS}, {"solutions", no_argument, 0, OPT_SOLUTIONS},
        {"source", required_argument, 0, OPT_SOURCE}, PIC_OUTPUT_OPTIONS, {0, 0, 0, 0}};
    long long count = 100, start = 0, seed = 1;
    int difficulty = 1, c;
    unsigned kinds = 0;
    bool solutions = false;
    const char *source = NULL;
    pic_output_opts out = {.level = 3};
    while ((c = getopt_long(argc, argv, "n:d:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count = pic_parse_int("--count", optarg, 0, 1000000000); break;
        case OPT_START: start = pic_parse_int("--start", optarg, 0, 1LL << 53); break;
        case OPT_SEED: seed = pic_parse_int("--seed", optarg, 0, 1LL << 62); break;
        case 'd': difficulty = (int)pic_parse_int("--difficulty", optarg, 1, 5); break;
        case OPT_KINDS: kinds = parse_kinds(optarg); break;
        case OPT_SOLUTIONS: solutions = true; break;
        case OPT_SOURCE: source = optarg; break;
        default:
            if (!pic_output_option(c, optarg, &out, usage)) pic_usage_error("unknown option");
        }
    }
    if (optind < argc) pic_usage_error("unexpected operand '%s'", argv[optind]);
    if (!kinds) kinds = task_kinds_at(difficulty);
    task_kind offered[TASK_KINDS];
    int noffered = 0;
    for (int i = 0; i < TASK_KINDS; i++)
        if (kinds >> i & 1) offered[noffered++] = (task_kind)i;
    char default_source[32];
    snprintf(default_source, sizeof default_source, "synthetic-d%d", difficulty);

    pic_writer *w = pic_writer_open(out.output, out.plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, out.level);
    for (long long id = start; id < start + count; id++) {
        pic_rng r;
        pic_rng_seed(&r, (uint64_t)seed, (uint64_t)id, (uint64_t)difficulty);
        task t;
        task_make(&t, offered[pic_rng_below(&r, (uint64_t)noffered)], difficulty, &r);
        json_t *rec = json_object();
        json_object_set_new(rec, "id", json_integer(id));
        json_object_set_new(rec, "problem", json_string(t.problem));
        json_object_set_new(rec, "answer", json_string(t.answer));
        json_object_set_new(rec, "source", json_string(source ? source : default_source));
        json_object_set_new(rec, "kind", json_string(task_kind_names[t.kind]));
        json_object_set_new(rec, "difficulty", json_integer(difficulty));
        if (solutions) json_object_set_new(rec, "solution", json_string(t.solution));
        pic_writer_json(w, rec);
        json_decref(rec);
    }
    pic_writer_close(w);
    pic_info("%lld problems (difficulty %d, seed %lld)", count, difficulty, seed);
    return 0;
}
