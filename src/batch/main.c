/* pic-batch: the prompts of one training step, a pure function of (seed,
 * step), so a resumed run sees exactly the batches an uninterrupted one would.
 * The dataset is walked in epochs; each epoch is its own permutation. */
#include <getopt.h>
#include <stdlib.h>

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
    "                     report how many at the end\n"
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
    size_t n = 0, cap = 0;
    int nfiles = argc - optind;
    for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
        pic_reader *r = pic_reader_open(nfiles ? argv[optind + f] : NULL);
        json_t *v;
        while ((v = pic_reader_json(r))) {
            if (n == cap) recs = pic_realloc(recs, (cap = cap ? 2 * cap : 1024) * sizeof *recs);
            recs[n] = (pic_buf){0};
            pic_json_dump(&recs[n], v);
            pic_buf_append(&recs[n], "\n", 1);
            recs[n].data = pic_realloc(recs[n].data, recs[n].cap = recs[n].len); /* no slack */
            n++;
            json_decref(v);
        }
        pic_reader_close(r);
    }
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
    free(perm);
    return 0;
}
