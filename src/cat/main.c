/* pic-cat: concatenate record streams, checking every record on the way.
 * Reads plain or zstd JSON Lines (any mix), writes one stream in pic's
 * format. Useful to join shards, to validate a stream, or to recompress. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"

static const char usage[] =
    "Usage: pic-cat [OPTION]... [FILE]...\n"
    "Concatenate JSON Lines record streams (plain or zstd, told apart by magic\n"
    "number) into one stream, checking that every non-blank line is a JSON\n"
    "object. With no FILE, or when FILE is -, read standard input.\n"
    "\n"
    "  -o, --output FILE  write to FILE (atomically) instead of standard output\n"
    "      --plain        do not compress (the default when stdout is a terminal)\n"
    "      --level N      zstd compression level, 1..19 (default 3)\n"
    "  -n, --count        print only the number of records (to -o's FILE if given),\n"
    "                     as plain text: --plain and --level do not go with it\n"
    "      --skip-bad     skip malformed lines and report how many at the end\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "      --version      show the version and exit\n"
    "\n"
    "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n";

int main(int argc, char **argv) {
    pic_init("pic-cat");
    enum { OPT_SKIP_BAD = 256 };
    static const struct option opts[] = {
        PIC_OUTPUT_OPTIONS, {"count", no_argument, 0, 'n'}, {"skip-bad", no_argument, 0, OPT_SKIP_BAD},
        {0, 0, 0, 0}};
    pic_output_opts out = {.level = 3};
    bool count_only = false;
    int c;
    while ((c = pic_getopt(argc, argv, "o:nqh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count_only = true; break;
        case OPT_SKIP_BAD: pic_skip_bad = true; break;
        default:
            if (!pic_output_option(c, optarg, &out, usage)) pic_usage_error("unknown option");
        }
    }
    /* -n writes no stream: there is nothing to compress or leave plain */
    if (count_only && (out.plain || out.level_given))
        pic_usage_error("%s does nothing with -n (the count is plain text)", out.plain ? "--plain" : "--level");

    pic_writer *w = count_only ? NULL
                               : pic_writer_open(out.output, out.plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO,
                                                 out.level);
    size_t records = 0;
    int nfiles = argc - optind;
    for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
        pic_reader *r = pic_reader_open(nfiles ? argv[optind + f] : NULL);
        json_t *v;
        while ((v = pic_reader_json(r))) {
            if (w) pic_writer_json(w, v);
            json_decref(v);
            records++;
        }
        pic_reader_close(r);
    }
    if (w) pic_writer_close(w);
    /* the count, as plain text, where -o says ("-" is stdout, as for the stream) */
    if (count_only && out.output && strcmp(out.output, "-")) {
        pic_atomic_file af;
        FILE *fp = pic_atomic_open(&af, out.output);
        fprintf(fp, "%zu\n", records);
        if (pic_atomic_commit(&af) != 0) pic_die("%s: %s", out.output, strerror(errno));
    } else if (count_only) {
        printf("%zu\n", records);
        pic_stdout_close();
    }
    if (pic_bad_records)
        pic_info("%zu record%s, %zu bad record%s skipped", records, pic_plural((long long)records), pic_bad_records,
                 pic_plural((long long)pic_bad_records));
    else pic_info("%zu record%s", records, pic_plural((long long)records));
    return 0;
}
