/* Unit tests of src/common: the real formatter, the serializer, atomic files. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/common/atomic.h"
#include "../../src/common/cli.h"
#include "../../src/common/json.h"
#include "check.h"

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
        size_t len = strlen(s); /* the ".0" that keeps an integral real a real is not a digit */
        if (len > 2 && strcmp(s + len - 2, ".0") == 0) s[len - 2] = '\0';
        int dig = 0, seen = 0; /* significant digits: from the first nonzero one */
        for (const char *p = s; *p && *p != 'e'; p++) {
            seen |= (*p >= '1' && *p <= '9');
            dig += seen && (*p >= '0' && *p <= '9');
        }
        if (dig > maxdig) maxdig = dig;
    }
    CHECK(bad == 0, "100000 random float32 round-trip (%d failed)", bad);
    CHECK(maxdig <= 9, "float32 needs at most 9 significant digits (%d)", maxdig);

    /* ... and in the fewest digits that do: those of counting up from 1 */
    int longer = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t bits = (uint32_t)rand() * 2654435761u ^ (uint32_t)rand();
        float f;
        memcpy(&f, &bits, 4);
        if (i % 4 == 0) f = ldexpf(1.0f, i % 250 - 125); /* powers of two: an interval wider above */
        if (i % 4 == 1) f = (float)(i % 1000) / 64.0f;    /* short decimals */
        if (!isfinite(f)) continue;
        char ref[40];
        for (int p = 1; p <= 9; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, (double)f);
            if (strtof(ref, NULL) == f) break;
        }
        pic_format_real(s, (double)f);
        size_t len = strlen(s);
        if (len > 2 && strcmp(s + len - 2, ".0") == 0 && !strchr(ref, '.')) s[len - 2] = '\0';
        longer += strcmp(s, ref) != 0;
    }
    CHECK(longer == 0, "20000 float32 print in their fewest digits (%d longer)", longer);
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

int main(void) {
    test_alloc_pages();
    test_format_real();
    test_dump();
    test_atomic();
    return check_done();
}
