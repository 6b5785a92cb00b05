/* pic-batch: the prompts of one training step, a pure function of (seed,
 * step), so a resumed run sees exactly the batches an uninterrupted one would.
 * The dataset is walked in epochs; each epoch is its own permutation. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/rng.h"
#include "common/stream.h"

static const char usage[] =
    "Usage: pic-batch --step N --size B [OPTION]... [FILE]...\n"
    "Write the B prompt records of training step N (from 1) drawn from FILEs\n"
    "(JSON Lines, plain or zstd; standard input when none). The records are\n"
    "taken in order from a sequence of epochs, each a permutation of the whole\n"
    "dataset determined by (--seed, epoch): step N gets positions\n"
    "(N-1)*B .. N*B-1 of that sequence, crossing into the next epoch as needed.\n"
    "\n"
    "      --step N       training step, from 1, at most 2^40\n"
    "      --size B       prompts per step, at most 2^30 (N x B below 2^64)\n"
    "      --seed S       random seed, 0..2^62 (default 1)\n"
    "      --no-shuffle   keep the file order in every epoch (no --seed)\n"
    "      --skip-bad     skip malformed records (the dataset is what remains) and\n"
    "                     report how many at the end; a record whose id an earlier,\n"
    "                     different record has is one (pic-update groups by id)\n"
    "  -o, --output FILE  write to FILE (atomically) instead of standard output\n"
    "      --plain        do not compress (the default when stdout is a terminal)\n"
    "      --level N      zstd level, 1..19 (default 3)\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "      --version      show the version and exit\n";

/* Position i of epoch e's permutation of n items: Fisher-Yates, computed
 * once per epoch into perm. */
static void permute(size_t *perm, size_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
    for (size_t i = 0; i < n; i++) perm[i] = i;
    if (!shuffle) return;
    pic_rng r;
    pic_rng_seed(&r, seed, epoch, 0x6261746368ull /* "batch" */);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)pic_rng_below(&r, i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

/* Where a record was read: its file (as the reader names it) and line. */
typedef struct {
    const char *file;
    size_t line;
} record_loc;

/* Record n (rec, its text recs[n]) against the records before it: false,
 * after pic_reader_bad, when an earlier record has its id and other text.
 * pic-update groups a step's GRPO samples by the id's text (5 and "5" are
 * one), so two problems of one id would share one baseline when a step
 * draws both (two pic-task files, each numbered from 0), silently; verl
 * gives each drawn row a group of its own (ray_trainer.py, fit: a uuid4
 * "uid" per row). A row given twice whole (in any member order) is one
 * problem, as an epoch's end and the next one's start give it, and is
 * kept; an id that is not a string or an integer is left to pic-update. */
static bool id_unique(json_t *ids, const json_t *rec, const pic_buf *recs, const record_loc *locs, size_t n,
                      const pic_reader *r) {
    json_t *id = json_object_get(rec, "id");
    char tmp[32];
    const char *key;
    if (json_is_integer(id)) {
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        key = tmp;
    } else if (json_is_string(id) && strlen(json_string_value(id)) == json_string_length(id)) {
        key = json_string_value(id);
    } else {
        return true;
    }
    json_t *first = json_object_get(ids, key);
    if (!first) {
        json_object_set_new(ids, key, json_integer((json_int_t)n));
        return true;
    }
    size_t k = (size_t)json_integer_value(first);
    if (recs[k].len == recs[n].len && !memcmp(recs[k].data, recs[n].data, recs[n].len)) return true;
    /* one record whose members another tool wrote in another order is
     * still one record: compared as values (jansson's json_equal, as
     * Python's dict == compares verl's rows), the earlier one parsed back
     * from its text only here, when the ids meet */
    json_error_t jerr;
    json_t *earlier = pic_json_loadb(recs[k].data, recs[k].len, 0, &jerr);
    bool same = earlier && json_equal(earlier, rec);
    json_decref(earlier);
    if (same) return true;
    char *shown = json_dumps(id, JSON_ENCODE_ANY);
    pic_reader_bad(r, "id",
                   "%s is also the id of %s:%zu, another record: pic-update groups samples by id, so the two would "
                   "share one GRPO baseline (give each problem its own id; pic-task --start)",
                   shown ? shown : key, locs[k].file, locs[k].line);
    free(shown);
    return false;
}

int main(int argc, char **argv) {
    pic_init("pic-batch");
    enum { OPT_STEP = 256, OPT_SIZE, OPT_SEED, OPT_NO_SHUFFLE, OPT_SKIP_BAD };
    static const struct option opts[] = {
        {"step", required_argument, 0, OPT_STEP}, {"size", required_argument, 0, OPT_SIZE},
        {"seed", required_argument, 0, OPT_SEED}, {"no-shuffle", no_argument, 0, OPT_NO_SHUFFLE},
        {"skip-bad", no_argument, 0, OPT_SKIP_BAD}, PIC_OUTPUT_OPTIONS, {0, 0, 0, 0}};
    long long step = 0, size = 0, seed = 1;
    bool shuffle = true, seed_given = false;
    int c;
    pic_output_opts out = {.level = 3};
    while ((c = pic_getopt(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_STEP: step = pic_parse_int("--step", optarg, 1, 1LL << 40); break;
        case OPT_SIZE: size = pic_parse_int("--size", optarg, 1, 1LL << 30); break;
        case OPT_SEED: seed = pic_parse_int("--seed", optarg, 0, 1LL << 62), seed_given = true; break;
        case OPT_NO_SHUFFLE: shuffle = false; break;
        case OPT_SKIP_BAD: pic_skip_bad = true; break;
        default:
            if (!pic_output_option(c, optarg, &out, usage)) pic_usage_error("unknown option");
        }
    }
    if (!step) pic_usage_error("--step is required");
    if (!size) pic_usage_error("--size is required");
    /* the seed only draws the permutations: beside --no-shuffle it was
     * taken and ignored, every seed giving the file's order */
    if (seed_given && !shuffle) pic_usage_error("--seed does nothing with --no-shuffle (every epoch is in file order)");
    /* Positions are 64-bit: past the last one, (N-1)*B wrapped and the run
     * wrote an empty or a wrong batch with exit 0. */
    if ((uint64_t)step > UINT64_MAX / (uint64_t)size)
        pic_usage_error("--step %lld with --size %lld: N x B is past 2^64 - 1, the last position counted",
                        step, size);

    /* Each record is kept as its compact text, the line pic_writer_json
     * would write: parsed jansson objects took about 9 times the input. */
    pic_buf *recs = NULL;
    record_loc *locs = NULL;
    size_t n = 0, cap = 0;
    int nfiles = argc - optind;
    /* id text -> the first record of that id (its index) */
    json_t *ids = json_object();
    char **names = pic_calloc(nfiles ? (size_t)nfiles : 1, sizeof *names);
    for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
        pic_reader *r = pic_reader_open(nfiles ? argv[optind + f] : NULL);
        names[f] = pic_strdup(pic_reader_name(r)); /* the reader's copy goes with it */
        json_t *v;
        while ((v = pic_reader_json(r))) {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                recs = pic_realloc(recs, cap * sizeof *recs);
                locs = pic_realloc(locs, cap * sizeof *locs);
            }
            recs[n] = (pic_buf){0};
            pic_json_dump(&recs[n], v);
            pic_buf_append(&recs[n], "\n", 1);
            if (!id_unique(ids, v, recs, locs, n, r)) {
                pic_buf_free(&recs[n]);
                json_decref(v);
                continue;
            }
            recs[n].data = pic_realloc(recs[n].data, recs[n].cap = recs[n].len); /* no slack */
            locs[n] = (record_loc){names[f], pic_reader_lineno(r)};
            n++;
            json_decref(v);
        }
        pic_reader_close(r);
    }
    json_decref(ids);
    if (n == 0) pic_die_no_records(nfiles, argv + optind, "prompt records");

    size_t *perm = pic_malloc(n * sizeof *perm);
    uint64_t first = (uint64_t)(step - 1) * (uint64_t)size, epoch = UINT64_MAX;
    pic_writer *w = pic_writer_open(out.output, out.plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, out.level);
    for (uint64_t pos = first; pos < first + (uint64_t)size; pos++) {
        if (pos / n != epoch) permute(perm, n, (uint64_t)seed, epoch = pos / n, shuffle);
        const pic_buf *rec = &recs[perm[pos % n]];
        pic_writer_write(w, rec->data, rec->len);
    }
    pic_writer_close(w);
    if (pic_bad_records)
        pic_info("step %lld: %lld prompt%s from %zu (epoch %llu), %zu bad record%s skipped", step, size,
                 pic_plural(size), n, (unsigned long long)(first / n), pic_bad_records,
                 pic_plural((long long)pic_bad_records));
    else
        pic_info("step %lld: %lld prompt%s from %zu (epoch %llu)", step, size, pic_plural(size), n,
                 (unsigned long long)(first / n));
    for (size_t i = 0; i < n; i++) pic_buf_free(&recs[i]);
    free(recs);
    free(locs);
    for (int f = 0; f < (nfiles ? nfiles : 1); f++) free(names[f]);
    free(names);
    free(perm);
    return 0;
}
