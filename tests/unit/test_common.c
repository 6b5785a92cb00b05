/* Unit tests of src/common: the real formatter, the serializer, atomic files,
 * the stream writer's background mode, UTF-8. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/common/atomic.h"
#include "../../src/common/cli.h"
#include "../../src/common/dist_launch.h"
#include "../../src/common/json.h"
#include "../../src/common/stream.h"
#include "../../src/common/utf8.h"
#include "check.h"

/* Significant digits of a real's text: from the first nonzero digit to the
 * exponent, less the ".0" that keeps an integral real a real. */
static int sig_digits(const char *s) {
    int dig = 0, seen = 0;
    size_t len = strlen(s);
    if (len > 2 && strcmp(s + len - 2, ".0") == 0 && !strchr(s, 'e')) len -= 2;
    for (size_t i = 0; i < len && s[i] != 'e'; i++) {
        seen |= (s[i] >= '1' && s[i] <= '9');
        dig += seen && (s[i] >= '0' && s[i] <= '9');
    }
    return dig;
}

/* The text pic_format_real must give or beat: %.*g with the fewest digits
 * that read back as x (as a float when single). */
static void fewest_g(char ref[40], double x, bool single) {
    for (int p = 1; p <= 17; p++) {
        snprintf(ref, 40, "%.*g", p, x);
        if (single ? strtof(ref, NULL) == (float)x : strtod(ref, NULL) == x) return;
    }
}

/* Its text beside the fewest-digit %.*g: reads back, in no more digits, and
 * where as many, the same text (the nearest decimal of that length). A
 * shorter one is another decimal of the rounding interval than the nearest:
 * at a power of two, whose interval is wider above. */
static void against_g(double x, bool single, int *bad, int *longer, int *other, int *shorter) {
    char s[40], ref[40];
    pic_format_real(s, x);
    fewest_g(ref, x, single);
    *bad += single ? strtof(s, NULL) != (float)x : strtod(s, NULL) != x;
    int ds = sig_digits(s), dr = sig_digits(ref);
    size_t len = strlen(s);
    if (len > 2 && strcmp(s + len - 2, ".0") == 0 && !strchr(ref, '.')) s[len - 2] = '\0';
    *longer += ds > dr;
    *other += ds == dr && strcmp(s, ref) != 0;
    *shorter += ds < dr;
}

static void test_format_real(void) {
    char s[40];
    pic_format_real(s, 0.1);
    CHECK(strcmp(s, "0.1") == 0, "double 0.1 prints as 0.1 (%s)", s);
    pic_format_real(s, (double)0.1f);
    CHECK(strcmp(s, "0.1") == 0, "float 0.1 prints as 0.1 (%s)", s);
    pic_format_real(s, 1.0);
    CHECK(strcmp(s, "1.0") == 0, "1.0 stays a real (%s)", s);
    pic_format_real(s, -2.5e-7);
    CHECK(strtod(s, NULL) == -2.5e-7, "-2.5e-7 round-trips (%s)", s);
    pic_format_real(s, 1.0 / 3.0);
    CHECK(strtod(s, NULL) == 1.0 / 3.0, "double 1/3 round-trips (%s)", s);
    /* %g's layout: fixed from 1e-4 to below 10^digits, else an exponent of
     * at least two digits */
    static const struct {
        double x;
        const char *text;
    } layout[] = {{0.0, "0.0"},      {-0.0, "-0.0"},    {100.0, "1e+02"},   {123.0, "123.0"},    {1e-4, "0.0001"},
                  {1e-5, "1e-05"},   {-0.000123, "-0.000123"}, {1.5e300, "1.5e+300"}, {2.5e-300, "2.5e-300"},
                  {1234567.0, "1234567.0"}, {12345678.0, "12345678.0"}, {0.1f, "0.1"}, {-3.25, "-3.25"}};
    for (size_t i = 0; i < sizeof layout / sizeof *layout; i++) {
        pic_format_real(s, layout[i].x);
        CHECK(strcmp(s, layout[i].text) == 0, "%g prints as %s (%s)", layout[i].x, layout[i].text, s);
    }

    /* Every float32 of a sweep round-trips, in at most 9 significant digits. */
    int bad = 0, maxdig = 0;
    srand(1);
    for (int i = 0; i < 100000; i++) {
        uint32_t bits = (uint32_t)rand() * 2654435761u ^ (uint32_t)rand();
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f)) continue;
        pic_format_real(s, (double)f);
        if (strtof(s, NULL) != f) bad++;
        int dig = sig_digits(s);
        if (dig > maxdig) maxdig = dig;
    }
    CHECK(bad == 0, "100000 random float32 round-trip (%d failed)", bad);
    CHECK(maxdig <= 9, "float32 needs at most 9 significant digits (%d)", maxdig);

    /* ... and in the fewest digits that do */
    int longer = 0, other = 0, shorter = 0;
    bad = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t bits = (uint32_t)rand() * 2654435761u ^ (uint32_t)rand();
        float f;
        memcpy(&f, &bits, 4);
        if (i % 4 == 0) f = ldexpf(1.0f, i % 250 - 125); /* powers of two: an interval wider above */
        if (i % 4 == 1) f = (float)(i % 1000) / 64.0f;    /* short decimals */
        if (!isfinite(f)) continue;
        against_g((double)f, true, &bad, &longer, &other, &shorter);
    }
    CHECK(bad == 0 && longer == 0 && other == 0,
          "20000 float32 read back, in the fewest digits, the nearest such decimal (%d, %d longer, %d other)", bad,
          longer, other);
    CHECK(shorter > 0, "some powers of two print shorter than %%.*g can (%d)", shorter);

    /* doubles the same, in up to 17 digits */
    longer = other = shorter = bad = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
        double x;
        memcpy(&x, &bits, 8);
        if (i % 4 == 0) x = ldexp(1.0, i % 2000 - 1000);
        if (i % 4 == 1) x = (double)(i % 1000) / 1000.0;
        if (!isfinite(x) || (double)(float)x == x) continue;
        against_g(x, false, &bad, &longer, &other, &shorter);
    }
    CHECK(bad == 0 && longer == 0 && other == 0,
          "20000 doubles read back, in the fewest digits, the nearest such decimal (%d, %d longer, %d other)", bad,
          longer, other);
}

static void test_dump(void) {
    json_error_t err;
    const char *in = "{\"z\":1,\"a\":\"t\\u00e9\\n\\\"q\\\"\\u0001\",\"r\":[0.5,1e-300,true,null],"
                     "\"o\":{\"k\":false}}";
    json_t *v = json_loads(in, 0, &err);
    pic_buf b = {0};
    pic_json_dump(&b, v);
    CHECK(strcmp(b.data, "{\"z\":1,\"a\":\"t\xc3\xa9\\n\\\"q\\\"\\u0001\",\"r\":[0.5,1e-300,true,null],"
                         "\"o\":{\"k\":false}}") == 0,
          "dump keeps order, escapes, UTF-8 and reals: %s", b.data);
    json_t *back = json_loads(b.data, 0, &err);
    CHECK(back && json_equal(v, back), "dump reads back equal");
    json_decref(back);
    json_decref(v);
    pic_buf_free(&b);
    /* the short escapes where JSON has one, as jq -c and Python write them */
    v = json_string("\t\r\b\f\x1f");
    pic_json_dump(&b, v);
    CHECK(strcmp(b.data, "\"\\t\\r\\b\\f\\u001f\"") == 0, "control characters escaped: %s", b.data);
    json_decref(v);
    pic_buf_free(&b);
    /* pic_buf_printf formats in a 256-byte buffer first: text of 255, 256
     * and 257 bytes, on either side of needing the second pass */
    for (int n = 255; n <= 257; n++) {
        char want[300];
        memset(want, 'x', (size_t)n - 1);
        want[n - 1] = 'y', want[n] = '\0';
        pic_buf_printf(&b, "%.*sy", n - 1, want);
        CHECK(b.len == (size_t)n && strcmp(b.data, want) == 0, "pic_buf_printf of %d bytes", n);
        pic_buf_free(&b);
    }
}

static void test_atomic(void) {
    char dir[] = "/tmp/pic-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "scratch dir");
    char *path = pic_asprintf("%s/f.txt", dir);
    CHECK(pic_write_file_atomic(path, "hello", 5) == 0, "atomic write");
    size_t n;
    char *s = pic_read_file(path, &n);
    CHECK(n == 5 && memcmp(s, "hello", 5) == 0, "content written");
    free(s);

    pic_atomic_file a;
    FILE *f = pic_atomic_open(&a, path);
    fputs("half", f);
    pic_atomic_abort(&a);
    s = pic_read_file(path, &n);
    CHECK(n == 5 && memcmp(s, "hello", 5) == 0, "aborted write leaves the old file");
    free(s);

    /* a checkpoint (config.json) replaced whole, the second time named "ckpt/" */
    char *final = pic_asprintf("%s/ckpt", dir), *slash = pic_asprintf("%s/", final);
    for (int round = 0; round < 2; round++) {
        char *tmp = pic_atomic_dir_begin(round ? slash : final);
        char *inner = pic_asprintf("%s/config.json", tmp);
        pic_write_file_atomic(inner, round ? "2" : "1", 1);
        CHECK(pic_atomic_dir_commit(tmp, round ? slash : final) == 0, "dir commit round %d", round);
        char *check = pic_asprintf("%s/config.json", final);
        s = pic_read_file(check, &n);
        CHECK(n == 1 && s[0] == (round ? '2' : '1'), "dir holds round %d's file", round);
        free(s), free(check), free(inner), free(tmp);
    }
    /* something else put there meanwhile is not a checkpoint: kept, and
     * the commit fails (EEXIST) */
    char *other = pic_asprintf("%s/other", dir), *mine = pic_asprintf("%s/other/mine", dir);
    char *tmp = pic_atomic_dir_begin(other);
    mkdir(other, 0700);
    pic_write_file_atomic(mine, "x", 1);
    CHECK(pic_atomic_dir_commit(tmp, other) == -1 && errno == EEXIST, "a commit over a non-checkpoint fails");
    s = pic_read_file(mine, &n);
    CHECK(n == 1 && s[0] == 'x', "and leaves it as it was");
    pic_atomic_dir_abort(tmp);
    free(s), free(tmp), free(other), free(mine), free(slash);
    CHECK(pic_rmtree(dir) == 0, "rmtree");
    struct stat st;
    CHECK(stat(dir, &st) != 0, "tree removed");
    free(final);
    free(path);
}

/* pic_alloc_pages: 64-byte aligned below 2 MB, 2 MB aligned from there (the
 * huge pages' own alignment), the whole size writable, NULL past what can be
 * rounded up. */
static void test_alloc_pages(void) {
    const size_t sizes[] = {0, 1, 63, 4096, (2u << 20) - 1, 2u << 20, (2u << 20) + 1, 5u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i], align = n >= (2u << 20) ? 2u << 20 : 64;
        unsigned char *p = pic_alloc_pages(n);
        CHECK(p != NULL, "%zu bytes allocated", n);
        if (!p) continue;
        CHECK((uintptr_t)p % align == 0, "%zu bytes: aligned to %zu (%p)", n, align, (void *)p);
        memset(p, 0xa5, n); /* ASan catches a buffer short of n */
        CHECK(n == 0 || (p[0] == 0xa5 && p[n - 1] == 0xa5), "%zu bytes: all of them written", n);
        free(p);
    }
    CHECK(pic_alloc_pages(SIZE_MAX) == NULL, "SIZE_MAX bytes: NULL, not a wrapped small size");
    CHECK(pic_alloc_pages(SIZE_MAX - (1u << 20)) == NULL, "SIZE_MAX - 1 MB: NULL");
}

/* A deferred job: notes the thread it ran on, and writes a record from
 * there (straight through: a job's own calls do not queue). */
typedef struct {
    pthread_t ran_on;
    int index, ran;
} deferred;

static void deferred_job(pic_writer *w, void *ctx) {
    deferred *d = ctx;
    d->ran_on = pthread_self();
    d->ran++;
    json_t *o = json_pack("{s:s, s:i}", "job", "deferred", "i", d->index);
    pic_writer_json(w, o);
    json_decref(o);
}

/* pic_writer_background: records, bytes and jobs come out in the order
 * given, the jobs on another thread, each object written as it was handed
 * over though the caller changed or dropped it, or gave it away
 * (pic_writer_json_new); pic_writer_foreground leaves the writer as it
 * was, and a compressed and a plain output read back alike. */
static void test_writer_background(void) {
    char dir[] = "/tmp/pic-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "scratch dir");
    for (int compressed = 0; compressed < 2; compressed++) {
        char *path = pic_asprintf("%s/out%d.jsonl", dir, compressed);
        pic_writer *w = pic_writer_open(path, compressed ? PIC_COMPRESS_ALWAYS : PIC_COMPRESS_NEVER, 0);
        enum { N = 1000 };
        static deferred jobs[N / 100];
        pic_writer_background(w);
        for (int i = 0; i < N; i++) {
            json_t *o = json_pack("{s:i, s:[f, f]}", "i", i, "x", i * 0.5, -1.0 / (i + 1));
            if (i % 2) {
                pic_writer_json_new(w, o); /* the writer's thread prints and drops it */
            } else {
                pic_writer_json(w, o);
                json_object_set_new(o, "i", json_integer(-7)); /* printed already: changing it changes nothing */
                json_decref(o);
            }
            if (i % 100 == 99) {
                char line[64];
                int n = snprintf(line, sizeof line, "{\"bytes\":%d}\n", i);
                pic_writer_write(w, line, (size_t)n);
                jobs[i / 100] = (deferred){.index = i};
                pic_writer_defer(w, deferred_job, &jobs[i / 100]);
            }
        }
        pic_writer_foreground(w);
        int ran = 0, elsewhere = 0;
        for (int k = 0; k < N / 100; k++)
            ran += jobs[k].ran, elsewhere += jobs[k].ran == 1 && !pthread_equal(jobs[k].ran_on, pthread_self());
        CHECK(ran == N / 100 && elsewhere == N / 100, "compressed %d: every job ran once, on the writer's thread "
              "(%d ran, %d elsewhere)", compressed, ran, elsewhere);
        deferred now = {.index = -1};
        pic_writer_defer(w, deferred_job, &now); /* in the foreground again: at once, here */
        CHECK(now.ran == 1 && pthread_equal(now.ran_on, pthread_self()), "compressed %d: after foreground a job "
              "runs at once on the caller's thread", compressed);
        pic_writer_close(w);

        pic_reader *r = pic_reader_open(path);
        int at = 0, bad = 0, lines = 0;
        json_t *o;
        while ((o = pic_reader_json(r))) {
            lines++;
            if (at < N) {
                double x0 = json_real_value(json_array_get(json_object_get(o, "x"), 0));
                double x1 = json_real_value(json_array_get(json_object_get(o, "x"), 1));
                bad += json_integer_value(json_object_get(o, "i")) != at || x0 != at * 0.5 || x1 != -1.0 / (at + 1);
                if (at % 100 == 99) { /* then the bytes, then the job's record */
                    json_decref(o);
                    o = pic_reader_json(r);
                    bad += !o || json_integer_value(json_object_get(o, "bytes")) != at;
                    json_decref(o);
                    o = pic_reader_json(r);
                    bad += !o || json_integer_value(json_object_get(o, "i")) != at ||
                           !json_object_get(o, "job");
                    lines += 2;
                }
            } else {
                bad += json_integer_value(json_object_get(o, "i")) != -1;
            }
            at++;
            json_decref(o);
        }
        pic_reader_close(r);
        CHECK(bad == 0 && lines == N + N / 100 * 2 + 1, "compressed %d: %d lines read back in the order written, "
              "%d out of place", compressed, lines, bad);
        free(path);
    }
    CHECK(pic_rmtree(dir) == 0, "rmtree");
}

/* Numbers in options: a range's ends are in it, a value past a type's
 * range is out (1), one below the smallest normal reads as its nearest
 * double (0 here), and a word strtod would take is no number. */
static void test_decimal(void) {
    CHECK(pic_parse_double("--p", "1", 0, 1) == 1.0 && pic_parse_double("--p", "0", 0, 1) == 0.0,
          "a double option's range holds both its ends");
    CHECK(pic_parse_int("--n", "5", 1, 5) == 5 && pic_parse_int("--n", "1", 1, 5) == 1,
          "an integer option's range holds both its ends");
    double v = -1;
    CHECK(pic_decimal("1e-400", &v) == 0 && v == 0.0, "1e-400 is a number, 0");
    CHECK(pic_decimal("1e999", &v) == 1, "1e999 is past the range");
    CHECK(pic_decimal("nan", &v) == -1 && pic_decimal("0x1p-3", &v) == -1 && pic_decimal(" 1", &v) == -1,
          "nan, hex and a leading space are no numbers");
}

static void test_list_split(void) {
    pic_list l;
    CHECK(pic_list_split(&l, " 1, 4 ,16", ",") == 0 && l.n == 3 && !strcmp(l.items[0], "1") &&
              !strcmp(l.items[1], "4") && !strcmp(l.items[2], "16"),
          "items, trimmed");
    pic_list_free(&l);
    const char *empty[] = {"", ",", "1,,2", "1,", ",1", "1, ,2"};
    for (size_t k = 0; k < sizeof empty / sizeof *empty; k++)
        CHECK(pic_list_split(&l, empty[k], ",") == -1 && l.n == 0 && !l.items,
              "an empty item is refused: '%s'", empty[k]);
    CHECK(pic_list_split(&l, "a#b", ",") == 0 && l.n == 1 && !strcmp(l.items[0], "a#b"),
          "without lines, '#' is text");
    pic_list_free(&l);
    CHECK(pic_list_split(&l, "# head\n\na, b # c\n  \nd\n", ",\n") == 0 && l.n == 3 &&
              !strcmp(l.items[0], "a") && !strcmp(l.items[1], "b") && !strcmp(l.items[2], "d"),
          "lines: comments and blank lines hold no item");
    pic_list_free(&l);
    CHECK(pic_list_split(&l, "", ",\n") == 0 && l.n == 0, "lines: nothing is an empty list");
    pic_list_free(&l);
    CHECK(pic_list_split(&l, "a,\nb", ",\n") == -1, "lines: a line ending in a separator");
}

static bool lossy_is(const char *in, size_t n, const char *want) {
    size_t len;
    char *out = pic_utf8_lossy(in, n, &len);
    bool ok = len == strlen(want) && memcmp(out, want, len) == 0 && !out[len];
    free(out);
    return ok;
}

static size_t valid(const char *s) { return pic_utf8_valid_prefix(s, strlen(s)); }

static void test_utf8(void) {
    CHECK(valid("na\xc3\xafve \xe6\x95\xb0 \xf0\x9f\x98\x80") == 15, "valid UTF-8 whole");
    CHECK(valid("ab\xff") == 2 && valid("a\xc3(") == 1, "a stray or cut byte");
    CHECK(pic_utf8_valid_prefix("a\xc3\xaf", 2) == 1, "a character cut by the length");
    CHECK(valid("\xe0\x80\x80") == 0 && valid("\xc0\x80") == 0, "overlong forms");
    CHECK(valid("\xed\xa0\x80") == 0 && valid("\xed\x9f\xbf") == 3, "a surrogate, and the character below them");
    CHECK(valid("\xf4\x90\x80\x80") == 0 && valid("\xf4\x8f\xbf\xbf") == 4, "above U+10FFFF, and U+10FFFF");
    CHECK(pic_utf8_valid_prefix("a\0b", 3) == 3, "a NUL byte is text (its own checks name it)");
    uint32_t cp = 0;
    CHECK(pic_utf8_next("x\xe2\x82\xac", 4, 1, &cp) == 3 && cp == 0x20ac, "decodes U+20AC (%x)", (unsigned)cp);
    CHECK(pic_utf8_next("\x80", 1, 0, &cp) == 0, "a continuation byte alone is no character");
    size_t byte = 0;
    unsigned char value = 0;
    CHECK(pic_utf8_bad_line("ok\n\xc3\xa9t\xe9\n", 8, &byte, &value) == 2 && byte == 4 && value == 0xe9,
          "the line, byte on it and value of the first bad byte (line 2, byte %zu, 0x%02x)", byte, value);
    CHECK(pic_utf8_bad_line("ok\n\xc3\xa9", 5, &byte, &value) == 0, "UTF-8 text has no bad line");
#define FFFD "\xEF\xBF\xBD"
    /* U+FFFD for each maximal subpart, as Python's errors="replace" gives */
    CHECK(lossy_is("ab", 2, "ab") && lossy_is("", 0, ""), "lossy: valid text unchanged");
    CHECK(lossy_is("a\xFF" "b", 3, "a" FFFD "b"), "lossy: a stray byte");
    CHECK(lossy_is("a\xE2\x82", 3, "a" FFFD), "lossy: a truncated sequence is one U+FFFD");
    CHECK(lossy_is("\xE0\x80\x80", 3, FFFD FFFD FFFD), "lossy: overlong E0 80 80 is three");
    CHECK(lossy_is("\xED\xA0\x80", 3, FFFD FFFD FFFD), "lossy: a surrogate is three");
    CHECK(lossy_is("\xF0\x9F\x98" "a", 4, FFFD "a"), "lossy: F0 9F 98 before 'a' is one");
    CHECK(lossy_is("a\xFF\xC3", 3, "a" FFFD FFFD), "lossy: a stray byte, then a cut one");
    /* F0's second byte starts at 90 (below: overlong) and F4's ends at 8F
     * (above: past U+10FFFF), so each byte there is its own U+FFFD */
    CHECK(lossy_is("\xF0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD), "lossy: overlong F0 80 80 80 is four");
    CHECK(lossy_is("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD), "lossy: F4 90 80 80, past U+10FFFF, is four");
    CHECK(lossy_is("\xF0\x90\x80" "a\xF4\x8F\xBF", 7, FFFD "a" FFFD), "lossy: cut F0 90 80 and F4 8F BF are one each");
#undef FFFD
}

/* The launcher's environment (dist_launch.h): srun's tasks count where no
 * MPI launcher names a size, as under srun --mpi=pmix (a rank, no size) or
 * with no MPI plugin at all; not in a batch script's own environment, nor
 * inside mpirun, whose daemons srun started. */
static void test_launch_env(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "PMIX_RANK", "PMI_RANK",
                          "SLURM_STEP_NUM_TASKS", NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
    const char *v = NULL;
    CHECK(!pic_launch_mpi() && pic_launch_srun_tasks(&v) == 0, "no launcher: no MPI, no srun tasks");
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    CHECK(!pic_launch_mpi() && pic_launch_srun_tasks(&v) == 4 && v && !strcmp(v, "4"),
          "srun without an MPI plugin: 4 tasks, and no MPI launcher");
    setenv("PMIX_RANK", "2", 1);
    CHECK(pic_launch_mpi() && pic_launch_srun_tasks(&v) == 4, "srun --mpi=pmix: an MPI launcher, 4 tasks");
    unsetenv("PMIX_RANK");
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    CHECK(pic_launch_mpi() && pic_launch_srun_tasks(&v) == 0, "mpirun -np 1 inside srun's daemons: its size rules");
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("SLURM_STEP_NUM_TASKS");
}

/* config.json as transformers writes it: Python's json.dumps(indent=2),
 * reals as its repr (fixed point from 1e-4 up to 1e16), a float's as the
 * shortest that reads back as that float */
static void test_dump_indented(void) {
    static const struct {
        double x;
        bool single;
        const char *text;
    } repr[] = {{10000.0, false, "10000.0"}, {1e6, false, "1000000.0"},   {1e16, false, "1e+16"},
                {1e15, false, "1000000000000000.0"}, {1e-4, false, "0.0001"}, {1e-5, false, "1e-05"},
                {(double)1e-6f, true, "1e-06"}, {(double)1e-5f, true, "1e-05"}, {-2.5, false, "-2.5"},
                {0.1, false, "0.1"}, {1.5e-7, false, "1.5e-07"}, {123.456, false, "123.456"}};
    char s[40];
    for (size_t i = 0; i < sizeof repr / sizeof *repr; i++) {
        pic_format_real_repr(s, repr[i].x, repr[i].single);
        CHECK(strcmp(s, repr[i].text) == 0, "repr of %.17g is %s (%s)", repr[i].x, repr[i].text, s);
    }
    json_error_t err;
    json_t *v = json_loads("{\"a\":[1,2],\"b\":{\"c\":null,\"d\":1e-06},\"e\":[],\"f\":{},\"g\":\"x\"}", 0, &err);
    pic_buf b = {0};
    pic_json_dump_indented(&b, v);
    CHECK(strcmp(b.data, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {\n    \"c\": null,\n    \"d\": 1e-06\n  "
                         "},\n  \"e\": [],\n  \"f\": {},\n  \"g\": \"x\"\n}\n") == 0,
          "indented as json.dumps(indent=2): %s", b.data);
    json_decref(v);
    pic_buf_free(&b);
}

int main(void) {
    test_utf8();
    test_list_split();
    test_decimal();
    test_alloc_pages();
    test_format_real();
    test_dump();
    test_dump_indented();
    test_atomic();
    test_writer_background();
    test_launch_env();
    return check_done();
}
