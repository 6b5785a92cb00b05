/* Loading what is malformed must fail with a message naming the file and the
 * tensor or key; what is written must read back. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/cli.h"
#include "common/json.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/model.h"
#include "model/safetensors.h"

static char *tmp;

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "tests/fixtures";
}

static char *path(const char *name) { return pic_asprintf("%s/%s", tmp, name); }

static void put(const char *name, const void *data, size_t n) {
    char *p = path(name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) pic_die("cannot write %s", p);
    free(p);
}

/* A safetensors file from h bytes of header and n data bytes (all 0x3f: 0.75 as f32). */
static void put_stb(const char *name, const char *header, size_t h, size_t n) {
    unsigned char *b = pic_calloc(8 + h + n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, 0x3f, n);
    put(name, b, 8 + h + n);
    free(b);
}
static void put_st(const char *name, const char *header, size_t n) { put_stb(name, header, strlen(header), n); }

/* Opening name fails and the message contains every one of the words. */
static void st_fails(const char *name, const char *what, const char *w1, const char *w2) {
    pic_safetensors st;
    pic_err err = {""};
    char *p = path(name);
    int rc = pic_st_open(&st, p, &err);
    if (!rc) pic_st_close(&st);
    if (!CHECK(rc && strstr(err.msg, p) && strstr(err.msg, w1) && (!w2 || strstr(err.msg, w2)), "%s", what))
        printf("#   message: %s\n", err.msg);
    free(p);
}

static void test_reader(void) {
    put_st("ok.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{}}", 8);
    pic_safetensors st;
    pic_err err;
    char *p = path("ok.safetensors");
    CHECK(pic_st_open(&st, p, &err) == 0 && st.n == 1, "a well-formed file opens");
    float x[2];
    uint32_t bits = 0x3f3f3f3f;
    float want;
    memcpy(&want, &bits, 4);
    CHECK(pic_st_read_f32(pic_st_find(&st, "a"), x, &err) == 0 && x[0] == want && x[1] == want, "and reads");
    pic_st_close(&st);
    free(p);

    put_st("trunc.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10);
    st_fails("trunc.safetensors", "truncated data: names file and tensor", "'a'", "truncated");
    put_st("trunc1.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3);
    st_fails("trunc1.safetensors", "data one byte short: truncated", "'a'", "truncated");
    /* a dimension of 0 is a valid, empty tensor (the format's shapes are
     * unsigned, and torch saves empty tensors so) */
    put_st("empty.safetensors",
           "{\"e\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           4);
    {
        char *q = path("empty.safetensors");
        pic_err e0 = {""};
        int rc0 = pic_st_open(&st, q, &e0);
        const pic_st_tensor *t0 = rc0 ? NULL : pic_st_find(&st, "e");
        CHECK(t0 && t0->shape[1] == 0 && pic_st_find(&st, "a"), "a tensor with a 0 dimension opens (%s)", e0.msg);
        if (!rc0) pic_st_close(&st);
        free(q);
    }
    put("short.safetensors", "\x10\0\0", 3);
    st_fails("short.safetensors", "a file shorter than its header length field", "too short", NULL);
    put("short7.safetensors", "\x02\0\0\0\0\0\0", 7); /* one byte short of the field */
    st_fails("short7.safetensors", "a file a byte shorter than its header length field", "too short", NULL);
    put_st("hlen.safetensors", "{}", 0);
    {
        char *q = path("hlen.safetensors");
        FILE *f = fopen(q, "r+b");
        fputc(0x7f, f); /* header length 127 > file */
        fclose(f);
        free(q);
    }
    st_fails("hlen.safetensors", "a header length past the end", "header length", NULL);
    put_st("json.safetensors", "{\"a\":", 0);
    st_fails("json.safetensors", "a header that is not JSON", "not valid JSON", NULL);
    put_st("overlap.safetensors",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12);
    st_fails("overlap.safetensors", "overlapping offsets: names both tensors", "overlap", "'a'");
    put_st("gap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    st_fails("gap.safetensors", "bytes that belong to no tensor", "'a'", "no tensor");
    put_st("size.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    st_fails("size.safetensors", "a size that is not shape x dtype", "'a'", "8 bytes for 3 elements of BF16");
    /* the format disallows a name given twice: the last one was taken */
    put_st("dup.safetensors",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           8);
    st_fails("dup.safetensors", "a tensor named twice in the header", "not valid JSON", "duplicate object key");
    put_st("dtype.safetensors", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
    st_fails("dtype.safetensors", "an unknown dtype", "'a'", "unknown dtype Q4");

    /* the reference reads __metadata__ as a map of strings to strings */
    put_st("meta.safetensors", "{\"__metadata__\":{\"format\":5},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    st_fails("meta.safetensors", "metadata that is not all strings", "__metadata__", "'format' is not a string");
    put_st("meta2.safetensors", "{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    st_fails("meta2.safetensors", "metadata that is not an object", "__metadata__", "not an object");
    /* but its metadata is an Option there (safetensors' Metadata): a null is none */
    put_st("metanull.safetensors", "{\"__metadata__\":null,\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    p = path("metanull.safetensors");
    if (!CHECK(pic_st_open(&st, p, &err) == 0 && st.n == 1 && pic_st_find(&st, "a"), "a null __metadata__ is none"))
        printf("#   message: %s\n", err.msg);
    else
        pic_st_close(&st);
    free(p);

    /* a Hugging Face cache snapshot links to blobs; one never fully
     * downloaded (or deleted) leaves the link dangling: say so, not that
     * there is no model.safetensors */
    {
        char *d = path("snapshot"), *l = path("snapshot/model.safetensors");
        mkdir(d, 0755);
        if (symlink("../../blobs/0123abcd", l)) pic_die("symlink %s", l);
        pic_safetensors s2;
        pic_err e2 = {""};
        int r2 = pic_st_open(&s2, d, &e2);
        if (!CHECK(r2 && strstr(e2.msg, "model.safetensors") && strstr(e2.msg, "dangling") &&
                       strstr(e2.msg, "../../blobs/0123abcd"),
                   "a dangling model.safetensors link is named as one"))
            printf("#   message: %s\n", e2.msg);
        if (!r2) pic_st_close(&s2);
        r2 = pic_st_open(&s2, l, &e2);
        if (!CHECK(r2 && strstr(e2.msg, l) && strstr(e2.msg, "dangling"), "and so when opened by its path"))
            printf("#   message: %s\n", e2.msg);
        if (!r2) pic_st_close(&s2);
        free(d), free(l);
    }

    put_st("int.safetensors", "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    p = path("int.safetensors");
    pic_st_open(&st, p, &err);
    int rc = pic_st_read_f32(pic_st_find(&st, "a"), x, &err);
    CHECK(rc && strstr(err.msg, p) && strstr(err.msg, "'a'") && strstr(err.msg, "I32"),
          "an integer tensor is not read as floats: %s", err.msg);
    pic_st_close(&st);
    free(p);
}

static void test_writer(void) {
    float v[6] = {1.0f, -2.5f, 3.14159265f, 1e-3f, 65504.0f, -0.0f};
    int64_t shape[2] = {2, 3};
    pic_st_writer *w = pic_st_writer_new();
    pic_st_writer_add(w, "f", PIC_DT_F32, 2, shape, v);
    pic_st_writer_add(w, "b", PIC_DT_BF16, 2, shape, v);
    char *p = path("w.safetensors");
    pic_err err;
    CHECK(pic_st_write(w, p, &err) == 0, "writer: writes");
    pic_st_writer_free(w);
    pic_safetensors st;
    CHECK(pic_st_open(&st, p, &err) == 0, "writer: its file validates");
    float f[6], b[6];
    const pic_st_tensor *tf = pic_st_find(&st, "f"), *tb = pic_st_find(&st, "b");
    CHECK(tf && tb && tf->shape[1] == 3 && tb->dtype == PIC_DT_BF16, "writer: names, shapes, dtypes");
    pic_st_read_f32(tf, f, &err);
    pic_st_read_f32(tb, b, &err);
    CHECK(!memcmp(f, v, sizeof v), "writer: f32 round-trips exactly");
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= fabsf(b[i] - v[i]) <= fabsf(v[i]) / 256 && pic_f32_to_bf16(b[i]) == pic_f32_to_bf16(v[i]);
    CHECK(ok && b[0] == 1.0f && b[1] == -2.5f, "writer: bf16 is f32 rounded to 8 bits");
    size_t len;
    char *text = pic_read_file(p, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | (unsigned char)text[i];
    CHECK(h % 8 == 0 && strstr(text + 8, "\"format\":\"pt\""), "writer: 8-aligned header with format pt");
    free(text);
    pic_st_close(&st);
    free(p);
    CHECK(pic_f16_to_f32(0x3c00) == 1.0f && pic_f16_to_f32(0xc000) == -2.0f && pic_f16_to_f32(0x0001) == ldexpf(1, -24) &&
              isinf(pic_f16_to_f32(0x7c00)),
          "f16 conversion: normal, negative, subnormal, infinity");
    CHECK(pic_f32_to_bf16(1.00390625f) == 0x3f80 && pic_f32_to_bf16(1.01171875f) == 0x3f82,
          "bf16 rounds half to even");

    /* f16, the dtype of Llama 2's checkpoints, which pic-update keeps:
     * every f16 value round-trips, and each midpoint between two of them
     * (exact in f32) goes to the even one, subnormals and the overflow to
     * infinity included */
    int back = 1, even = 1;
    for (uint32_t i = 0; i < 0x7c00; i++) {
        uint16_t hb = (uint16_t)i, nb = (uint16_t)(i + 1);
        back &= pic_f32_to_f16(pic_f16_to_f32(hb)) == hb && pic_f32_to_f16(-pic_f16_to_f32(hb)) == (hb | 0x8000);
        if (nb == 0x7c00) break; /* the last finite one: its overflow is checked below */
        float mid = (pic_f16_to_f32(hb) + pic_f16_to_f32(nb)) / 2;
        uint16_t want = hb & 1 ? nb : hb;
        even &= pic_f32_to_f16(mid) == want && pic_f32_to_f16(nextafterf(mid, 0)) == hb &&
                pic_f32_to_f16(nextafterf(mid, INFINITY)) == nb;
    }
    CHECK(back && even, "f16: every value round-trips, midpoints round half to even");
    CHECK(pic_f32_to_f16(65504.0f) == 0x7bff && pic_f32_to_f16(65519.99f) == 0x7bff &&
              pic_f32_to_f16(65520.0f) == 0x7c00 && pic_f32_to_f16(-1e10f) == 0xfc00 && pic_f32_to_f16(ldexpf(1, -25)) == 0 &&
              pic_f32_to_f16(nextafterf(ldexpf(1, -25), 1)) == 1 && (pic_f32_to_f16(NAN) & 0x7e00) == 0x7e00,
          "f16: the largest value, overflow, underflow, NaN");
    /* the edges of the special values, both ways: an infinity stays one
     * (not a NaN), a NaN whose payload is only in the bits the narrowing
     * drops stays a NaN (torch quiets it, not an infinity), and a negative
     * f16 subnormal or zero keeps its sign */
    float snan, sinf = INFINITY;
    uint32_t snan_bits = 0x7f800001u;
    memcpy(&snan, &snan_bits, 4);
    CHECK(pic_f32_to_bf16(sinf) == 0x7f80 && pic_f32_to_bf16(-sinf) == 0xff80 && pic_f32_to_f16(sinf) == 0x7c00 &&
              pic_f32_to_f16(-sinf) == 0xfc00 && (pic_f32_to_bf16(snan) & 0x7fff) > 0x7f80 &&
              (pic_f32_to_f16(snan) & 0x7fff) > 0x7c00,
          "bf16 and f16: infinities stay infinities, a NaN stays a NaN");
    CHECK(isnan(pic_f16_to_f32(0x7e00)) && isnan(pic_f16_to_f32(0x7c01)) && pic_f16_to_f32(0xfc00) == -sinf &&
              pic_f16_to_f32(0x8001) == -ldexpf(1, -24) && signbit(pic_f16_to_f32(0x8000)),
          "f16 to f32: NaNs, -infinity, negative subnormals and -0");

    pic_st_writer *w16 = pic_st_writer_new();
    pic_st_writer_add(w16, "h", PIC_DT_F16, 2, shape, v);
    char *p16 = path("w16.safetensors");
    float h16[6];
    const pic_st_tensor *th = NULL;
    CHECK(pic_st_write(w16, p16, &err) == 0 && pic_st_open(&st, p16, &err) == 0 &&
              (th = pic_st_find(&st, "h")) && th->dtype == PIC_DT_F16 && pic_st_read_f32(th, h16, &err) == 0,
          "writer: f16 writes and reads back");
    ok = 1;
    for (int i = 0; i < 6; i++) ok &= h16[i] == pic_f16_to_f32(pic_f32_to_f16(v[i]));
    CHECK(ok && h16[4] == 65504.0f, "writer: f16 is f32 rounded to 11 bits");
    pic_st_close(&st);
    pic_st_writer_free(w16);
    /* an infinity is not an overflow: it is written as f16's own, as in
     * bf16 and f32 */
    float inf6[6] = {1, 2, 3, -INFINITY, INFINITY, 6};
    w16 = pic_st_writer_new();
    pic_st_writer_add(w16, "inf", PIC_DT_F16, 2, shape, inf6);
    pic_err ei = {""};
    CHECK(pic_st_write(w16, p16, &ei) == 0, "writer: f16 infinities are written, not refused as overflows: %s", ei.msg);
    pic_st_writer_free(w16);
    /* a weight past f16's range is refused, not written as an infinity no reader takes */
    float big[6] = {1, 2, 3, 4, 7e4f, 6};
    w16 = pic_st_writer_new();
    pic_st_writer_add(w16, "big", PIC_DT_F16, 2, shape, big);
    unlink(p16);
    pic_err e16 = {""};
    CHECK(pic_st_write(w16, p16, &e16) != 0 && strstr(e16.msg, "tensor 'big': element 4 is 70000") &&
              access(p16, F_OK) != 0,
          "writer: an f16 overflow is an error naming the tensor and the element, no file");
    pic_st_writer_free(w16);
    /* a name given twice, or the header's own __metadata__, would leave one
     * header entry for two tensors' bytes: HF refuses such a file
     * (MetadataIncompleteBuffer), so the writer does, in one file or shards */
    const char *twice[][2] = {{"a", "a"}, {"a", "__metadata__"}};
    for (int k = 0; k < 2; k++) {
        for (int sharded = 0; sharded < 2; sharded++) {
            w16 = pic_st_writer_new();
            pic_st_writer_add(w16, twice[k][0], PIC_DT_F32, 2, shape, big);
            pic_st_writer_add(w16, twice[k][1], PIC_DT_F32, 2, shape, big);
            char *d = pic_asprintf("%s/twice%d%d", tmp, k, sharded);
            if (mkdir(d, 0755)) pic_die("mkdir %s", d);
            pic_err et = {""};
            int rc = sharded ? pic_st_write_model(w16, d, 24, true, &et) : pic_st_write_model(w16, d, 1 << 20, false, &et);
            char *m = pic_asprintf("%s/model.safetensors", d), *s1 = pic_asprintf("%s/model-00001-of-00002.safetensors", d);
            CHECK(rc != 0 && strstr(et.msg, twice[k][1]) && strstr(et.msg, "twice") && access(m, F_OK) != 0 &&
                      access(s1, F_OK) != 0,
                  "writer: tensor '%s' after '%s' (%s) is an error naming it, no file: %s", twice[k][1],
                  twice[k][0], sharded ? "shards" : "one file", et.msg);
            free(m);
            free(s1);
            free(d);
            pic_st_writer_free(w16);
        }
    }
    free(p16);
}

/* pic_st_write_model as transformers' save_pretrained shards: a new shard
 * when the next tensor would take the current one past the limit (one that
 * fills it exactly stays), shards named from 1, an index whose total_size
 * is every tensor's bytes; without sharding, an index only when asked. */
static void test_write_model(void) {
    static const float v[4] = {1, 2, 3, 4};
    int64_t four = 4;
    const char *names[3] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        /* k 0: 16-byte tensors under 32 bytes a shard; 1: one file with an
         * index; 2: one file without */
        char *d = pic_asprintf("%s/shards%d", tmp, k);
        if (mkdir(d, 0755)) pic_die("mkdir %s", d);
        pic_st_writer *w = pic_st_writer_new();
        for (int i = 0; i < 3; i++) pic_st_writer_add(w, names[i], PIC_DT_F32, 1, &four, v);
        pic_err err = {""};
        CHECK(pic_st_write_model(w, d, k ? 1 << 20 : 32, k < 2, &err) == 0, "write_model %d: writes: %s", k, err.msg);
        pic_st_writer_free(w);
        char *one = pic_asprintf("%s/model.safetensors", d), *s1 = pic_asprintf("%s/model-00001-of-00002.safetensors", d),
             *s2 = pic_asprintf("%s/model-00002-of-00002.safetensors", d),
             *ix = pic_asprintf("%s/model.safetensors.index.json", d);
        json_t *index = json_load_file(ix, 0, NULL);
        const char *want[3] = {"model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors",
                               "model-00002-of-00002.safetensors"};
        bool map = index && json_integer_value(json_object_get(json_object_get(index, "metadata"), "total_size")) == 48;
        for (int i = 0; map && i < 3; i++)
            map = !strcmp(json_string_value(json_object_get(json_object_get(index, "weight_map"), names[i]))
                              ?: "",
                          k ? "model.safetensors" : want[i]);
        if (k == 0) {
            pic_safetensors st;
            bool two = access(one, F_OK) != 0 && pic_st_open(&st, s1, &err) == 0;
            if (two) two = st.n == 2 && pic_st_find(&st, "a") && pic_st_find(&st, "b"), pic_st_close(&st);
            two = two && pic_st_open(&st, s2, &err) == 0;
            if (two) two = st.n == 1 && pic_st_find(&st, "c"), pic_st_close(&st);
            CHECK(two && map, "write_model: 3 tensors of 16 bytes in shards of 32: a and b, then c; the index says so");
        } else if (k == 1) {
            CHECK(access(one, F_OK) == 0 && access(s1, F_OK) != 0 && map, "write_model: one file, an index naming it");
        } else {
            CHECK(access(one, F_OK) == 0 && access(ix, F_OK) != 0, "write_model: one file and no index unless asked");
        }
        json_decref(index);
        free(one), free(s1), free(s2), free(ix), free(d);
    }
}

/* A tensor filled a chunk at a time (a GPU's training state, which the
 * host never holds whole) is written as the same values in memory would
 * be; a fill that fails leaves no file, not half of one. */
typedef struct {
    size_t calls, most;
} fill_log;

static float ramp(size_t i) { return (float)(i % 1001) * 0.37f - 100.0f; }

static int fill_ramp(void *ctx, size_t at, float *dst, size_t n, pic_err *err) {
    (void)err;
    fill_log *log = ctx;
    log->calls++;
    log->most = n > log->most ? n : log->most;
    for (size_t i = 0; i < n; i++) dst[i] = ramp(at + i);
    return 0;
}

static int fill_fails(void *ctx, size_t at, float *dst, size_t n, pic_err *err) {
    (void)ctx;
    if (at > 0) return pic_err_set(err, "the device's copy at element %zu failed", at);
    memset(dst, 0, n * sizeof *dst);
    return 0;
}

static void test_writer_fill(void) {
    enum { N = 2500003 }; /* more than two of the writer's chunks, and not a multiple of one */
    float *v = pic_malloc(N * sizeof *v), *got = pic_malloc(N * sizeof *got);
    for (size_t i = 0; i < N; i++) v[i] = ramp(i);
    int64_t shape[2] = {N, 1};
    fill_log log = {0, 0};
    pic_st_writer *w = pic_st_writer_new();
    pic_st_writer_add(w, "mem", PIC_DT_F32, 2, shape, v);
    pic_st_writer_add_fill(w, "fill", PIC_DT_F32, 2, shape, fill_ramp, &log);
    pic_st_writer_add(w, "memb", PIC_DT_BF16, 2, shape, v);
    pic_st_writer_add_fill(w, "fillb", PIC_DT_BF16, 2, shape, fill_ramp, &log);
    char *p = path("fill.safetensors");
    pic_err err = {""};
    CHECK(pic_st_write(w, p, &err) == 0, "writer fill: writes %s", err.msg);
    pic_st_writer_free(w);
    CHECK(log.calls >= 6 && log.most < N, "writer fill: %zu calls of at most %zu values for 2 x %d", log.calls,
          log.most, N);
    pic_safetensors st;
    if (CHECK(pic_st_open(&st, p, &err) == 0, "writer fill: its file validates %s", err.msg)) {
        const char *names[4] = {"mem", "fill", "memb", "fillb"};
        int same = 1;
        for (int k = 0; k < 4; k++) {
            const pic_st_tensor *t = pic_st_find(&st, names[k]);
            same &= t && !pic_st_read_f32(t, got, &err);
            for (size_t i = 0; same && i < N; i++)
                same &= k < 2 ? got[i] == v[i] : pic_f32_to_bf16(got[i]) == pic_f32_to_bf16(v[i]);
        }
        CHECK(same, "writer fill: filled tensors equal the same values from memory, in f32 and bf16");
        pic_st_close(&st);
    }
    w = pic_st_writer_new();
    pic_st_writer_add_fill(w, "broken", PIC_DT_F32, 2, shape, fill_fails, NULL);
    char *pf = path("failed.safetensors");
    int rc = pic_st_write(w, pf, &err);
    pic_st_writer_free(w);
    size_t left = 0;
    DIR *d = opendir(tmp);
    for (struct dirent *e; d && (e = readdir(d));) left += strstr(e->d_name, "failed") != NULL;
    if (d) closedir(d);
    CHECK(rc && strstr(err.msg, pf) && strstr(err.msg, "tensor 'broken': the device's copy at element") && left == 0,
          "writer fill: a failed fill is an error (%s) and leaves no file (%zu left)", err.msg, left);
    free(pf);
    free(p);
    free(v), free(got);
}

/* pic_st_read_bf16 (a model loaded straight onto a GPU in bf16) gives what
 * pic_st_read_f32 then pic_f32_to_bf16 give, from F32, BF16 and F16, and
 * refuses what pic_st_read_f32 refuses with the same message. */
static void test_read_bf16(void) {
    enum { N = 12 };
    /* ties both ways, subnormals, -0, the largest f16, odd mantissas */
    float v[N] = {1.00390625f, 1.01171875f, -2.5f, 3.14159265f, 1e-3f, 65504.0f, -0.0f, 1e-40f, -7.77e-39f,
                  0.333333343f, 1234.5678f, -6.1035156e-05f};
    uint16_t h[N]; /* the same values as f16 bits, of which the f16 reader makes floats */
    for (int i = 0; i < N; i++) h[i] = (uint16_t)(0x3c00 + 97 * i) ^ (i % 3 ? 0x8000 : 0);
    h[N - 1] = 0x0001; /* the smallest f16 subnormal */
    char header[512];
    int hl = snprintf(header, sizeof header,
                      "{\"f\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
                      N, 4 * N, N, 4 * N, 6 * N);
    unsigned char *b = pic_calloc(8 + (size_t)hl + 6 * N, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, (size_t)hl);
    memcpy(b + 8 + hl, v, sizeof v);
    memcpy(b + 8 + hl + sizeof v, h, sizeof h);
    put("r.safetensors", b, 8 + (size_t)hl + 6 * N);
    free(b);
    int64_t shape[1] = {N};
    pic_st_writer *w = pic_st_writer_new();
    pic_st_writer_add(w, "b", PIC_DT_BF16, 1, shape, v);
    char *pw = path("rb.safetensors"), *p = path("r.safetensors");
    pic_err err = {""};
    pic_st_write(w, pw, &err);
    pic_st_writer_free(w);
    pic_safetensors st, sb;
    if (!CHECK(pic_st_open(&st, p, &err) == 0 && pic_st_open(&sb, pw, &err) == 0, "bf16 reader: files open %s",
               err.msg))
        return;
    const pic_st_tensor *ts[3] = {pic_st_find(&st, "f"), pic_st_find(&st, "h"), pic_st_find(&sb, "b")};
    int same = 0;
    for (int k = 0; k < 3; k++) {
        float f[N];
        uint16_t got[N];
        if (pic_st_read_f32(ts[k], f, &err) || pic_st_read_bf16(ts[k], got, &err)) continue;
        int all = 1;
        for (int i = 0; i < N; i++) all &= got[i] == pic_f32_to_bf16(f[i]);
        same += all;
    }
    CHECK(same == 3, "bf16 reader: F32, F16 and BF16 tensors give read_f32's values rounded to bf16, bit for bit");
    pic_st_close(&st);
    pic_st_close(&sb);

    /* a NaN in a BF16 tensor and an infinity in an F32 one: named, as read_f32 names them */
    static const char *hb = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}";
    static const char *hf = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint16_t nan3[3] = {0x3f80, 0x3f80, 0x7fc1};
    float inf2[2] = {1.0f, INFINITY};
    const char *hs[2] = {hb, hf};
    const void *data[2] = {nan3, inf2};
    size_t bytes[2] = {6, 8};
    const char *what[2] = {"element 2 is NaN", "element 1 is infinite"};
    for (int k = 0; k < 2; k++) {
        size_t l = strlen(hs[k]);
        unsigned char *q = pic_calloc(8 + l + bytes[k], 1);
        for (int i = 0; i < 8; i++) q[i] = (unsigned char)((uint64_t)l >> (8 * i));
        memcpy(q + 8, hs[k], l);
        memcpy(q + 8 + l, data[k], bytes[k]);
        put("bad.safetensors", q, 8 + l + bytes[k]);
        free(q);
        char *pb = path("bad.safetensors");
        pic_st_open(&st, pb, &err);
        uint16_t out[3];
        float fo[3];
        pic_err e2;
        int rc = pic_st_read_bf16(pic_st_find(&st, "a"), out, &err), rc2 = pic_st_read_f32(pic_st_find(&st, "a"), fo, &e2);
        CHECK(rc && rc2 && strstr(err.msg, pb) && strstr(err.msg, "'a'") && strstr(err.msg, what[k]) &&
                  !strcmp(err.msg, e2.msg),
              "bf16 reader refuses as read_f32 does: %s", err.msg);
        pic_st_close(&st);
        free(pb);
    }
    free(p), free(pw);
}

static void config_fails(const char *what, const char *json, const char *word) {
    pic_config c;
    pic_err err = {""};
    int rc = pic_config_parse(&c, json, "cfg.json", &err);
    if (!CHECK(rc && strstr(err.msg, "cfg.json") && strstr(err.msg, word), "config: %s", what))
        printf("#   message: %s\n", err.msg);
}

#define BASE "\"model_type\":\"llama\",\"vocab_size\":16,\"hidden_size\":8,\"intermediate_size\":12," \
             "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1"

#define QWEN(type) "\"model_type\":\"" type "\",\"vocab_size\":16,\"hidden_size\":8,\"intermediate_size\":12," \
                         "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1"

/* What each transformers class does with the keys it reads, the keys it
 * leaves out and the keys it does not read. */
static void test_config_classes(void) {
    pic_config c;
    pic_err err;
    /* class defaults of absent keys: Qwen2Config/Qwen3Config 32 key/value
     * heads and 32768 positions, MistralConfig 8 and 131072, LlamaConfig
     * the attention heads and 2048; null means the attention heads */
#define HEADS64 "\"vocab_size\":16,\"hidden_size\":128,\"intermediate_size\":12,\"num_hidden_layers\":1," \
                "\"num_attention_heads\":64,\"head_dim\":4"
    static const struct {
        const char *type;
        int kv, pos;
    } dflt[] = {{"qwen2", 32, 32768}, {"qwen3", 32, 32768}, {"mistral", 8, 131072}, {"llama", 64, 2048}};
    for (int i = 0; i < 4; i++) {
        char *js = pic_asprintf("{\"model_type\":\"%s\"," HEADS64 ",\"sliding_window\":null}", dflt[i].type);
        CHECK(pic_config_parse(&c, js, "cfg.json", &err) == 0 && c.n_kv_heads == dflt[i].kv &&
                  c.max_position == dflt[i].pos,
              "config: %s without num_key_value_heads or max_position_embeddings: %d, %d", dflt[i].type, dflt[i].kv,
              dflt[i].pos);
        free(js);
        js = pic_asprintf("{\"model_type\":\"%s\"," HEADS64 ",\"sliding_window\":null,\"num_key_value_heads\":null}",
                          dflt[i].type);
        CHECK(pic_config_parse(&c, js, "cfg.json", &err) == 0 && c.n_kv_heads == 64,
              "config: %s with num_key_value_heads null: the attention heads", dflt[i].type);
        free(js);
        /* LlamaConfig and MistralConfig: bos 1 and eos 2 when the keys are
         * absent (generate stops at 2); Qwen2Config and Qwen3Config none */
        bool ids = i >= 2;
        js = pic_asprintf("{\"model_type\":\"%s\"," HEADS64 ",\"sliding_window\":null}", dflt[i].type);
        CHECK(pic_config_parse(&c, js, "cfg.json", &err) == 0 && c.bos_id == (ids ? 1 : -1) &&
                  c.n_eos == (ids ? 1 : 0) && (!ids || c.eos_ids[0] == 2),
              "config: %s without bos_token_id or eos_token_id: %s", dflt[i].type, ids ? "1 and 2" : "none");
        free(js);
        js = pic_asprintf("{\"model_type\":\"%s\"," HEADS64 ",\"sliding_window\":null,\"bos_token_id\":null,"
                          "\"eos_token_id\":null}",
                          dflt[i].type);
        CHECK(pic_config_parse(&c, js, "cfg.json", &err) == 0 && c.bos_id == -1 && c.n_eos == 0,
              "config: %s with bos_token_id and eos_token_id null: none", dflt[i].type);
        free(js);
    }
    CHECK(pic_config_parse(&c, "{" BASE ",\"eos_token_id\":[5,7]}", "cfg.json", &err) == 0 && c.n_eos == 2 &&
              !pic_config_is_eos(&c, 2) && c.bos_id == 1,
          "config: llama's eos list replaces the default 2; the absent bos is 1");
    config_fails("qwen2 without num_key_value_heads takes 32, not the heads",
                 "{\"model_type\":\"qwen2\",\"vocab_size\":16,\"hidden_size\":8,\"intermediate_size\":12,"
                 "\"num_hidden_layers\":1,\"num_attention_heads\":2}",
                 "num_key_value_heads 32");
#undef HEADS64
    /* biases: the architecture decides which keys count */
#define BIASES ",\"attention_bias\":true,\"mlp_bias\":true,\"sliding_window\":null}"
    CHECK(pic_config_parse(&c, "{" QWEN("qwen2") BIASES, "cfg.json", &err) == 0 && c.qkv_bias && !c.o_bias &&
              !c.mlp_bias,
          "config: qwen2 has q/k/v biases whatever attention_bias says, and no MLP bias");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen3") BIASES, "cfg.json", &err) == 0 && c.qkv_bias && c.o_bias &&
              !c.mlp_bias,
          "config: qwen3 reads attention_bias (q/k/v/o), not mlp_bias");
    CHECK(pic_config_parse(&c, "{" QWEN("mistral") BIASES, "cfg.json", &err) == 0 && !c.qkv_bias && !c.o_bias &&
              !c.mlp_bias,
          "config: mistral has no biases whatever the keys say");
    CHECK(pic_config_parse(&c, "{" BASE BIASES, "cfg.json", &err) == 0 && c.qkv_bias && c.o_bias && c.mlp_bias,
          "config: llama reads attention_bias and mlp_bias");
#undef BIASES
    CHECK(pic_config_parse(&c, "{" BASE ",\"hidden_act\":\"swish\"}", "cfg.json", &err) == 0,
          "config: hidden_act swish is SiLU");
    CHECK(pic_config_parse(&c, "{" BASE ",\"bos_token_id\":[3,4]}", "cfg.json", &err) == 0 && c.bos_id == 3,
          "config: a bos list gives its first id");
    config_fails("quantized", "{" BASE ",\"quantization_config\":{\"quant_method\":\"awq\",\"bits\":4}}",
                 "'quantization_config': quantized checkpoints of method awq");
    /* sliding windows */
    config_fails("mistral without sliding_window: 4096, shorter than the context",
                 "{" QWEN("mistral") ",\"max_position_embeddings\":8192}", "'sliding_window'");
    CHECK(pic_config_parse(&c, "{" QWEN("mistral") ",\"max_position_embeddings\":4096}", "cfg.json", &err) == 0,
          "config: mistral's default window of 4096 covers a 4096 context");
    CHECK(pic_config_parse(&c, "{" QWEN("mistral") ",\"sliding_window\":null}", "cfg.json", &err) == 0,
          "config: mistral with sliding_window null");
    {
        /* written back (pic-init --config), the window stays none: an
         * absent key is MistralConfig's 4096, a window transformers would
         * apply and pic refuses for this 131072-long context */
        char *js = pic_config_to_json(&c);
        pic_config back;
        CHECK(js && pic_config_parse(&back, js, "written", &err) == 0,
              "config: mistral without a window round-trips through config.json");
        free(js);
    }
    CHECK(pic_config_parse(&c, "{" BASE ",\"use_sliding_window\":true}", "cfg.json", &err) == 0,
          "config: llama does not read use_sliding_window");
    config_fails("layer_types with a sliding layer",
                 "{" QWEN("qwen3") ",\"layer_types\":[\"full_attention\",\"sliding_attention\"]}",
                 "'layer_types': layer 1 is sliding_attention");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen2") ",\"sliding_window\":64,\"max_window_layers\":0,"
                                                  "\"layer_types\":[\"full_attention\"]}",
                           "cfg.json", &err) == 0,
          "config: a window without use_sliding_window, layer_types all full attention");
    /* use_sliding_window where no layer slides: transformers' full attention */
    CHECK(pic_config_parse(&c, "{" QWEN("qwen2") ",\"use_sliding_window\":true}", "cfg.json", &err) == 0,
          "config: use_sliding_window, its one layer below max_window_layers' default 28");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen3") ",\"use_sliding_window\":true,\"max_window_layers\":0,"
                                                  "\"sliding_window\":null}", "cfg.json", &err) == 0,
          "config: use_sliding_window without a window");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen2") ",\"use_sliding_window\":true,\"max_window_layers\":0,"
                                                  "\"max_position_embeddings\":4096}", "cfg.json", &err) == 0,
          "config: use_sliding_window, the default window of 4096 covering a 4096 context");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen3") ",\"use_sliding_window\":true,\"max_window_layers\":0,"
                                                  "\"layer_types\":[\"full_attention\"]}", "cfg.json", &err) == 0,
          "config: use_sliding_window, layer_types all full attention");
    config_fails("use_sliding_window on a layer from max_window_layers on",
                 "{" QWEN("qwen3") ",\"use_sliding_window\":true,\"max_window_layers\":0}",
                 "'use_sliding_window'");
    /* a window that is not an integer is refused, not taken for none */
    config_fails("mistral with a window of 4096.0, shorter than the context",
                 "{" QWEN("mistral") ",\"max_position_embeddings\":8192,\"sliding_window\":4096.0}",
                 "'sliding_window': expected an integer or null");
    config_fails("qwen2 with a window given as text",
                 "{" QWEN("qwen2") ",\"use_sliding_window\":true,\"max_window_layers\":0,\"sliding_window\":\"64\"}",
                 "'sliding_window': expected an integer or null");
    config_fails("use_sliding_window with a null max_window_layers",
                 "{" QWEN("qwen3") ",\"use_sliding_window\":true,\"max_window_layers\":null,\"sliding_window\":64}",
                 "'max_window_layers'");
    CHECK(pic_config_parse(&c, "{" QWEN("qwen2") ",\"max_window_layers\":null,\"sliding_window\":64}", "cfg.json",
                           &err) == 0,
          "config: a null max_window_layers without use_sliding_window is read and ignored");
}

/* The edges of what config.json may say: each bound taken as inclusive
 * where transformers takes it so, each refusal where it is not, and the
 * rope keys read from where transformers reads them. */
/* json parses as a config; a message otherwise */
static bool parses(pic_config *c, const char *json) {
    pic_err err = {""};
    if (!pic_config_parse(c, json, "cfg.json", &err)) return true;
    printf("#   message: %s\n", err.msg);
    return false;
}

static void test_config_edges(void) {
    pic_config c;
    CHECK(parses(&c, "{" BASE ",\"pad_token_id\":15}") && c.pad_id == 15 &&
              parses(&c, "{" BASE ",\"pad_token_id\":-16}") && c.pad_id == 0,
          "config: pad_token_id: the last id, and -vocab_size (torch's index from the end)");
    config_fails("pad_token_id past the vocabulary", "{" BASE ",\"pad_token_id\":16}", "'pad_token_id': 16 is out of range");
    config_fails("a negative eos id", "{" BASE ",\"eos_token_id\":-1}", "'eos_token_id'");
    config_fails("a negative eos id in a list", "{" BASE ",\"eos_token_id\":[1,-1]}", "'eos_token_id'");
    {
        /* PIC_MAX_EOS (16) distinct ids fit; one more is refused, not
         * written past the list */
        pic_buf b = {0};
        pic_buf_printf(&b, "{\"model_type\":\"llama\",\"vocab_size\":64,\"hidden_size\":8,\"intermediate_size\":12,"
                           "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"eos_token_id\":[");
        for (int i = 0; i < PIC_MAX_EOS; i++) pic_buf_printf(&b, "%s%d", i ? "," : "", i);
        size_t at = b.len;
        pic_buf_printf(&b, "]}");
        CHECK(parses(&c, b.data) && c.n_eos == PIC_MAX_EOS, "config: %d eos ids fit", PIC_MAX_EOS);
        b.len = at;
        pic_buf_printf(&b, ",%d]}", PIC_MAX_EOS);
        config_fails("one eos id more than PIC_MAX_EOS", b.data, "more than 16 eos ids");
        free(b.data);
    }
    config_fails("rope_theta 0", "{" BASE ",\"rope_theta\":0}", "rope_theta must be positive");
    config_fails("partial_rotary_factor inside rope_parameters",
                 "{" BASE ",\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":100,"
                 "\"partial_rotary_factor\":0.5}}",
                 "partial_rotary_factor 0.5");
    config_fails("a linear factor of 0", "{" BASE ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":0}}",
                 "'rope_scaling.factor' must be positive");
    config_fails("a null factor outside yarn", "{" BASE ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":null}}",
                 "missing key 'factor'");
    config_fails("llama3 with high_freq_factor == low_freq_factor",
                 "{" BASE ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":2,"
                 "\"high_freq_factor\":2}}",
                 "high_freq_factor > low_freq_factor");
    CHECK(parses(&c, "{" BASE ",\"max_position_embeddings\":256,\"original_max_position_embeddings\":64,"
                     "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":1,"
                     "\"high_freq_factor\":4,\"original_max_position_embeddings\":32}}") &&
              c.rope.original_max_position == 64,
          "config: llama3, a top-level original_max_position_embeddings wins");
    /* an empty rope_scaling is none: rope_parameters says */
    CHECK(parses(&c, "{" BASE ",\"rope_scaling\":{},\"rope_parameters\":{\"rope_type\":\"linear\","
                     "\"factor\":2,\"rope_theta\":500}}") &&
              c.rope.type == PIC_ROPE_LINEAR && c.rope.factor == 2 && c.rope.theta == 500,
          "config: an empty rope_scaling gives way to rope_parameters");
    /* a rope object with its own type is not nested per layer type */
    CHECK(parses(&c, "{" BASE ",\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2,"
                     "\"full_attention\":{\"rope_type\":\"linear\",\"factor\":5}}}") &&
              c.rope.factor == 2,
          "config: a rope object with a rope_type is the parameters, whatever other keys it has");
    /* yarn's defaults (transformers' _compute_yarn_parameters): beta_fast
     * 32, beta_slow 1, truncate true; with mscale alone, not both, the
     * attention factor is get_mscale(factor) */
    CHECK(parses(&c, "{" BASE ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4,"
                     "\"original_max_position_embeddings\":32,\"mscale\":2}}") &&
              c.rope.beta_fast == 32 && c.rope.beta_slow == 1 && c.rope.truncate &&
              fabs(c.rope.attention_factor - (0.1 * log(4) + 1)) < 1e-12,
          "config: yarn's defaults; mscale without mscale_all_dim leaves get_mscale(factor)");
    /* the class defaults of absent keys: rms_norm_eps 1e-6, untied, and
     * Qwen3's head_dim 128 (not hidden / heads) */
    CHECK(parses(&c, "{" BASE "}") && c.rms_eps == 1e-6f && !c.tie_embeddings && c.head_dim == 4 &&
              parses(&c, "{" QWEN("qwen3") ",\"hidden_size\":1024}") && c.head_dim == 128,
          "config: rms_norm_eps 1e-6, tie_word_embeddings false and qwen3's head_dim 128 by default");
    config_fails("an odd head_dim", "{" BASE ",\"head_dim\":3}", "head_dim 3 is odd");
    CHECK(parses(&c, "{" BASE ",\"head_dim\":512}"), "config: head_dim 512, the largest");
    config_fails("head_dim 514", "{" BASE ",\"head_dim\":514}", "head_dim 514 is larger than 512");
    config_fails("eos id == vocab_size", "{" BASE ",\"eos_token_id\":16}", "eos id 16 is outside");
    config_fails("bos id == vocab_size", "{" BASE ",\"bos_token_id\":16}", "bos id 16 is outside");
    /* LlamaConfig's bos 1 and eos 2 only where the vocabulary has them */
    CHECK(parses(&c, "{" BASE ",\"vocab_size\":3}") && c.bos_id == 1 && c.n_eos == 1 && c.eos_ids[0] == 2 &&
              parses(&c, "{" BASE ",\"vocab_size\":2}") && c.bos_id == 1 && c.n_eos == 0,
          "config: llama's default bos 1 and eos 2 where the vocabulary holds them");
    /* sliding from max_window_layers on: a model of that many layers has
     * none sliding */
    CHECK(parses(&c, "{" QWEN("qwen2") ",\"use_sliding_window\":true,\"max_window_layers\":1,"
                     "\"sliding_window\":64,\"max_position_embeddings\":4096}"),
          "config: max_window_layers equal to the layers: none slides");
    /* written back as transformers' classes write them: qwen3 has no
     * mlp_bias, the default rope no factor, yarn its attention factor */
    pic_config back;
    char *js = NULL;
    CHECK(parses(&c, "{" QWEN("qwen3") ",\"hidden_size\":1024}") && (js = pic_config_to_json(&c)) &&
              !strstr(js, "mlp_bias") && !strstr(js, "factor") && strstr(js, "attention_bias"),
          "config: qwen3's config.json has attention_bias, no mlp_bias, no rope factor");
    free(js);
    js = NULL;
    CHECK(parses(&c, "{" BASE ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4,"
                     "\"original_max_position_embeddings\":32,\"attention_factor\":1.7}}") &&
              (js = pic_config_to_json(&c)) && parses(&back, js) && back.rope.attention_factor == 1.7,
          "config: yarn's attention_factor is written back");
    free(js);
}

static void test_config(void) {
    pic_config c;
    pic_err err;
    char *p = pic_asprintf("%s/models/qwen3-tiny", fixtures());
    CHECK(pic_config_load(&c, p, &err) == 0 && c.head_dim == 32 && c.qk_norm && !c.qkv_bias && !c.tie_embeddings &&
              c.rope.theta == 1e6 && !strcmp(c.dtype, "bfloat16"),
          "config: qwen3 (explicit head_dim, q/k norm, classic layout)");
    free(p);
    p = pic_asprintf("%s/models/qwen2-tiny", fixtures());
    CHECK(pic_config_load(&c, p, &err) == 0 && c.qkv_bias && !c.o_bias && c.tie_embeddings && c.head_dim == 16 &&
              c.n_eos == 1 && c.eos_ids[0] == 509 && c.bos_id == -1,
          "config: qwen2 (q/k/v bias, tied, null bos)");
    free(p);
    p = pic_asprintf("%s/models/llama-tiny", fixtures());
    CHECK(pic_config_load(&c, p, &err) == 0 && c.rope.type == PIC_ROPE_LLAMA3 && c.rope.factor == 8 &&
              c.rope.original_max_position == 64,
          "config: llama3 rope_scaling");
    free(p);
    p = pic_asprintf("%s/models/stories260K/hf", fixtures());
    CHECK(pic_config_load(&c, p, &err) == 0 && c.rope.theta == 10000 && c.head_dim == 8 && !strcmp(c.dtype, "float32"),
          "config: transformers 5 layout (rope_parameters, dtype)");
    free(p);

    CHECK(pic_config_parse(&c, "{" BASE ",\"eos_token_id\":[3,5,3]}", "cfg.json", &err) == 0 && c.n_eos == 2 &&
              pic_config_is_eos(&c, 5) && c.head_dim == 4 && c.rope.theta == 10000,
          "config: eos list, llama defaults");
    CHECK(pic_config_parse(&c, "{" BASE ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}}", "cfg.json", &err) == 0 &&
              c.rope.type == PIC_ROPE_LINEAR,
          "config: linear rope (old 'type' key)");
    float a[2], b[2];
    pic_rope_config def = {.type = PIC_ROPE_DEFAULT, .theta = 10000, .factor = 1};
    rope_inv_freq(a, &def, 4);
    rope_inv_freq(b, &c.rope, 4);
    CHECK(b[0] == a[0] / 2 && b[1] == a[1] / 2, "rope: linear divides the frequencies by factor");
    CHECK(pic_config_parse(&c, "{" BASE ",\"rope_parameters\":{\"rope_theta\":1e6,\"rope_type\":\"yarn\",\"factor\":4,"
                                      "\"original_max_position_embeddings\":32}}",
                           "cfg.json", &err) == 0 &&
              c.rope.type == PIC_ROPE_YARN && fabs(c.rope.attention_factor - (0.1 * log(4) + 1)) < 1e-12,
          "config: yarn, attention factor 0.1 ln(factor) + 1");
    /* llama3's blended band, against transformers' formula run in torch
     * (torch 1.13, the formula of modeling_rope_utils.py): 2 pi / inv and old / wl are a
     * reciprocal times a scalar there, two roundings; one division drifted
     * 9 ulp here. The base frequencies (powf against torch's pow) differ by
     * up to 1 ulp, so 3e-7 relative. */
    CHECK(pic_config_parse(&c, "{" BASE ",\"head_dim\":80,\"rope_theta\":10000,\"rope_scaling\":{\"rope_type\":"
                                      "\"llama3\",\"factor\":32,\"low_freq_factor\":1,\"high_freq_factor\":4,"
                                      "\"original_max_position_embeddings\":8192}}",
                           "cfg.json", &err) == 0,
          "config: llama3, head_dim 80");
    static const double band[6] = {0.0019238106906414032, 0.0010941502405330539, 0.0005952886422164738,
                                   0.00030008150497451425, 0.00012935124686919153, 3.39652833645232e-05};
    float inv[40];
    rope_inv_freq(inv, &c.rope, 80);
    double worst = 0;
    for (int i = 0; i < 6; i++) worst = fmax(worst, fabs(inv[26 + i] - band[i]) / band[i]);
    CHECK(worst <= 3e-7, "rope: llama3's blended band as transformers rounds it (relative %.2g <= 3e-7)", worst);
    /* a wavelength exactly at old / low_freq_factor: transformers keeps it
     * unscaled (wavelen > low_freq_wavelen is false) and counts it medium
     * (~(wavelen > low_freq_wavelen)), so it is blended with smooth = 0 up
     * to a rounding: inv / factor. Frequency 0 is 1, its wavelength 2 pi in
     * float32; low_freq_factor = 8 / that puts low_freq_wavelen on it. */
    char js[512];
    snprintf(js, sizeof js,
             "{" BASE ",\"head_dim\":8,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":4,"
             "\"low_freq_factor\":%.17g,\"high_freq_factor\":4,\"original_max_position_embeddings\":8}}",
             8 / (double)(float)(2 * M_PI));
    CHECK(pic_config_parse(&c, js, "cfg.json", &err) == 0, "config: llama3 with a wavelength on the low bound");
    rope_inv_freq(inv, &c.rope, 8);
    CHECK(fabsf(inv[0] - 0.25f) < 1e-6f, "rope: llama3 blends a wavelength equal to the low bound (%.9g, want 0.25)",
          inv[0]);
    /* keys transformers reads with `or` or from the top level */
    CHECK(pic_config_parse(&c, "{" BASE ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4,\"beta_fast\":0,"
                                      "\"beta_slow\":0,\"truncate\":null,\"original_max_position_embeddings\":32}}",
                           "cfg.json", &err) == 0 &&
              c.rope.beta_fast == 32 && c.rope.beta_slow == 1 && !c.rope.truncate,
          "config: yarn's beta 0 means the default, truncate null means none");
    CHECK(pic_config_parse(&c, "{" BASE ",\"max_position_embeddings\":256,\"original_max_position_embeddings\":64,"
                                      "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":null,"
                                      "\"original_max_position_embeddings\":32}}",
                           "cfg.json", &err) == 0 &&
              c.rope.original_max_position == 64 && c.rope.factor == 4,
          "config: yarn, a top-level original_max_position_embeddings wins, a null factor is max / original");
    CHECK(pic_config_parse(&c, "{" BASE ",\"max_position_embeddings\":128,\"rope_scaling\":{\"rope_type\":\"llama3\","
                                      "\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4}}",
                           "cfg.json", &err) == 0 &&
              c.rope.original_max_position == 128,
          "config: llama3 without original_max_position_embeddings takes max_position_embeddings");
    CHECK(pic_config_parse(&c, "{" BASE ",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":3},"
                                      "\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2}}",
                           "cfg.json", &err) == 0 &&
              c.rope.factor == 3,
          "config: with both, rope_scaling wins (transformers: rope_scaling or rope_parameters)");
    config_fails("unsupported rope type", "{" BASE ",\"rope_scaling\":{\"rope_type\":\"longrope\",\"factor\":2}}",
                 "unsupported rope_type longrope in 'rope_scaling'");
    /* Phi-3's longrope has no factor (short_factor, long_factor): the type is
     * what is refused, not a missing factor */
    config_fails("longrope without a factor",
                 "{" BASE ",\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1],\"long_factor\":[2]}}",
                 "unsupported rope_type longrope in 'rope_scaling'");
    /* dynamic NTK: transformers' base at seq_len = max_position_embeddings
     * (pic's longest) is theta * (f * L / L - (f - 1)) ** (d / (d - 2)).
     * With f = 1.6756756756756757 and L = 40960 the bracket is
     * 1.0000000000000002, not 1, yet the base rounds to the same float32
     * (checked with torch 1.13), so the frequencies are the default's. */
    CHECK(pic_config_parse(&c, "{" BASE ",\"head_dim\":128,\"max_position_embeddings\":40960,\"rope_theta\":1e6,"
                                      "\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":1.6756756756756757}}",
                           "cfg.json", &err) == 0 &&
              c.rope.type == PIC_ROPE_DYNAMIC && c.rope.original_max_position == 40960,
          "config: dynamic rope (legacy 'type' key)");
    {
        float dyn[64], base[64];
        pic_rope_config d = c.rope;
        rope_inv_freq(dyn, &c.rope, 128);
        d.type = PIC_ROPE_DEFAULT;
        rope_inv_freq(base, &d, 128);
        CHECK(!memcmp(dyn, base, sizeof dyn), "rope: dynamic inside max_position_embeddings is the default, bit for bit");
        char *js = pic_config_to_json(&c);
        pic_config back;
        CHECK(js && pic_config_parse(&back, js, "written", &err) == 0 && back.rope.type == PIC_ROPE_DYNAMIC &&
                  back.rope.factor == c.rope.factor,
              "config: dynamic rope round-trips through config.json");
        free(js);
    }
    config_fails("dynamic rope with head_dim 2", "{" BASE ",\"head_dim\":2,\"rope_scaling\":{\"rope_type\":\"dynamic\","
                                                 "\"factor\":2}}",
                 "head_dim > 2");
    /* rope parameters nested per layer type (transformers 5): full attention's apply */
    CHECK(pic_config_parse(&c, "{" BASE ",\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"linear\","
                                      "\"factor\":2,\"rope_theta\":5e5}}}",
                           "cfg.json", &err) == 0 &&
              c.rope.type == PIC_ROPE_LINEAR && c.rope.factor == 2 && c.rope.theta == 5e5,
          "config: rope_parameters nested under full_attention");
    config_fails("missing key", "{\"model_type\":\"llama\",\"hidden_size\":8}", "missing key 'vocab_size'");
    config_fails("wrong type", "{" BASE ",\"rms_norm_eps\":\"x\"}", "'rms_norm_eps'");
    config_fails("unknown model", "{\"model_type\":\"gpt2\"}", "unsupported model_type gpt2");
    config_fails("heads", "{" BASE ",\"num_key_value_heads\":3}", "not a multiple");
    config_fails("not JSON", "{", "invalid JSON");
    /* hidden_size / num_attention_heads rounds to 0 without a head_dim: RoPE
     * would divide by it (SIGFPE) */
    config_fails("head size 0", "{\"model_type\":\"llama\",\"vocab_size\":16,\"hidden_size\":8,"
                                "\"intermediate_size\":12,\"num_hidden_layers\":1,\"num_attention_heads\":16}",
                 "head_dim");
    config_fails("rms_norm_eps 0", "{" BASE ",\"rms_norm_eps\":0}", "rms_norm_eps");
    config_fails("rms_norm_eps negative", "{" BASE ",\"rms_norm_eps\":-1e-6}", "rms_norm_eps");
    config_fails("eos outside the vocabulary", "{" BASE ",\"eos_token_id\":99}", "eos id 99");
    config_fails("activation", "{" BASE ",\"hidden_act\":\"gelu\"}", "hidden_act");
    config_fails("sliding window", "{\"model_type\":\"qwen2\",\"vocab_size\":16,\"hidden_size\":8,\"intermediate_size\":12,"
                                   "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"use_sliding_window\":true,"
                                   "\"max_window_layers\":0}",
                 "sliding-window");
    test_config_classes();

    /* generation_config.json adds its eos ids; a config.json round-trips */
    CHECK(pic_config_parse(&c, "{" BASE ",\"eos_token_id\":3}", "cfg.json", &err) == 0, "config: parses");
    char *dir = path("gen");
    mkdir(dir, 0755);
    char *text = pic_config_to_json(&c), *cp = pic_asprintf("%s/config.json", dir), *gp = pic_asprintf("%s/generation_config.json", dir);
    FILE *f = fopen(cp, "w");
    fputs(text, f);
    fclose(f);
    f = fopen(gp, "w");
    fputs("{\"eos_token_id\":[3,7]}", f);
    fclose(f);
    pic_config r;
    CHECK(pic_config_load(&r, dir, &err) == 0 && r.n_eos == 2 && r.eos_ids[1] == 7 && r.hidden_size == 8 &&
              r.rope.theta == 10000 && r.n_kv_heads == 1,
          "config: written config.json reloads; generation_config.json adds eos 7");
    f = fopen(gp, "w");
    fputs("{\"eos_token_id\":[3,16]}", f);
    fclose(f);
    pic_err eg = {""};
    CHECK(pic_config_load(&r, dir, &eg) != 0 && strstr(eg.msg, "generation_config.json") && strstr(eg.msg, "eos id 16"),
          "config: generation_config.json's eos ids are checked against the vocabulary: %s", eg.msg);
    f = fopen(gp, "w");
    fputs("{\"eos_token_id\":[3,-1]}", f);
    fclose(f);
    CHECK(pic_config_load(&r, dir, &eg) != 0 && strstr(eg.msg, "generation_config.json: key 'eos_token_id'"),
          "config: generation_config.json's eos ids are token ids: %s", eg.msg);
    free(text);
    free(cp);
    free(gp);
    free(dir);
}

/* a model directory from config text and parameters (random, with one
 * tensor optionally altered) */
static char *make_model(const char *name, const char *config, void (*alter)(pic_params *, pic_st_writer *),
                        const char *skip) {
    char *dir = path(name);
    mkdir(dir, 0755);
    char *cp = pic_asprintf("%s/config.json", dir);
    FILE *f = fopen(cp, "w");
    fputs(config, f);
    fclose(f);
    free(cp);
    pic_config c;
    pic_err err;
    if (pic_config_parse(&c, config, name, &err)) pic_die("%s", err.msg);
    pic_params p;
    pic_params_alloc(&p, &c);
    pic_params_init_random(&p, 1, 0.02f);
    pic_st_writer *w = pic_st_writer_new();
    if (alter) alter(&p, w);
    for (size_t i = 0; i < p.n_desc; i++)
        if (!skip || strcmp(p.desc[i].name, skip))
            pic_st_writer_add(w, p.desc[i].name, PIC_DT_F32, p.desc[i].ndim, p.desc[i].shape, p.data + p.desc[i].offset);
    char *sp = pic_asprintf("%s/model.safetensors", dir);
    if (pic_st_write(w, sp, &err)) pic_die("%s", err.msg);
    pic_st_writer_free(w);
    free(sp);
    pic_params_free(&p);
    return dir;
}

static float nan_buf[96];
static void add_nan(pic_params *p, pic_st_writer *w) {
    (void)p;
    for (int i = 0; i < 96; i++) nan_buf[i] = i == 17 ? NAN : 0.5f;
    pic_st_writer_add(w, "model.layers.0.mlp.up_proj.weight", PIC_DT_F32, 2, (int64_t[]){12, 8}, nan_buf);
}
static void add_wrong_shape(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.layers.0.mlp.up_proj.weight", PIC_DT_F32, 2, (int64_t[]){8, 12}, nan_buf);
}
/* the right first dimension with a wrong second, and a norm of [8, 1]
 * for [8]: each a shape the config does not imply */
static float wide_buf[12 * 9];
static void add_wide(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.layers.0.mlp.up_proj.weight", PIC_DT_F32, 2, (int64_t[]){12, 9}, wide_buf);
}
static void add_norm_2d(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.norm.weight", PIC_DT_F32, 2, (int64_t[]){8, 1}, wide_buf);
}
/* old checkpoints' rotary_emb.inv_freq buffers are skipped; a name that
 * only begins so is another tensor */
static void add_inv_freq(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.layers.0.self_attn.rotary_emb.inv_freq", PIC_DT_F32, 1, (int64_t[]){4}, wide_buf);
}
static void add_inv_freq_x(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.layers.0.self_attn.rotary_emb.inv_freq_x", PIC_DT_F32, 1, (int64_t[]){4}, wide_buf);
}
static void add_extra(pic_params *p, pic_st_writer *w) {
    (void)p;
    pic_st_writer_add(w, "model.layers.0.mlp.extra.weight", PIC_DT_F32, 1, (int64_t[]){8}, nan_buf);
}

static void model_fails(const char *what, const char *dir, const char *w1, const char *w2) {
    pic_model m;
    pic_err err = {""};
    int rc = pic_model_load(&m, dir, NULL, &err);
    if (!rc) pic_model_free(&m);
    if (!CHECK(rc && strstr(err.msg, w1) && (!w2 || strstr(err.msg, w2)), "model: %s", what))
        printf("#   message: %s\n", err.msg);
}

static void test_model_files(void) {
    const char *cfg = "{" BASE ",\"tie_word_embeddings\":true}";
    char *d = make_model("good", cfg, NULL, NULL);
    pic_model m;
    pic_err err;
    CHECK(pic_model_load(&m, d, NULL, &err) == 0 && m.params.numel == 16 * 8 + 8 + 2 * 8 * 8 + 2 * 4 * 8 + 8 + 2 * 12 * 8 + 8 * 12 + 8,
          "model: a written checkpoint loads; one buffer of every parameter");
    /* save and reload in bf16 */
    char *bp = pic_asprintf("%s/model.safetensors", d);
    CHECK(pic_params_save(&m.params, bp, PIC_DT_BF16, &err) == 0, "model: saves bf16");
    pic_model m2;
    CHECK(pic_model_load(&m2, d, NULL, &err) == 0 && pic_f32_to_bf16(m2.params.data[5]) == pic_f32_to_bf16(m.params.data[5]),
          "model: the bf16 checkpoint reloads");
    pic_model_free(&m2);
    /* each tensor takes the stream where the one before it stopped, so no
     * two start with the same draws */
    CHECK(m.params.embed[0] != m.params.layer[0].wqkv[0] && m.params.layer[0].wqkv[0] != m.params.layer[0].wo[0],
          "model: random weights: each tensor draws on from the one before");
    pic_model_free(&m);
    free(bp);
    free(d);

    d = make_model("nan", cfg, add_nan, "model.layers.0.mlp.up_proj.weight");
    model_fails("a NaN weight names file and tensor", d, "model.layers.0.mlp.up_proj.weight", "element 17 is NaN");
    free(d);
    d = make_model("shape", cfg, add_wrong_shape, "model.layers.0.mlp.up_proj.weight");
    model_fails("a wrong shape names the tensor and both shapes", d, "'model.layers.0.mlp.up_proj.weight': shape [8, 12]",
                "[12, 8]");
    free(d);
    d = make_model("wide", cfg, add_wide, "model.layers.0.mlp.up_proj.weight");
    model_fails("a wrong second dimension names the tensor and both shapes", d,
                "'model.layers.0.mlp.up_proj.weight': shape [12, 9]", "[12, 8]");
    free(d);
    d = make_model("norm2d", cfg, add_norm_2d, "model.norm.weight");
    model_fails("a norm of two dimensions names the tensor and both shapes", d, "'model.norm.weight': shape [8, 1]",
                "implies [8]");
    free(d);
    d = make_model("inv_freq", cfg, add_inv_freq, NULL);
    if (!CHECK(pic_model_load(&m, d, NULL, &err) == 0, "model: a rotary_emb.inv_freq buffer is skipped"))
        printf("#   message: %s\n", err.msg);
    else
        pic_model_free(&m);
    free(d);
    d = make_model("inv_freq_x", cfg, add_inv_freq_x, NULL);
    model_fails("a name that only begins as rotary_emb.inv_freq is not skipped", d,
                "'model.layers.0.self_attn.rotary_emb.inv_freq_x' is not part of", NULL);
    free(d);
    d = make_model("missing", cfg, NULL, "model.layers.0.mlp.up_proj.weight");
    model_fails("a missing tensor is named", d, "'model.layers.0.mlp.up_proj.weight' is missing", NULL);
    free(d);
    d = make_model("untied", "{" BASE ",\"tie_word_embeddings\":false}", NULL, "lm_head.weight");
    model_fails("lm_head missing from an untied model", d, "lm_head.weight", "tie_word_embeddings");
    free(d);
    d = make_model("extra", cfg, add_extra, NULL);
    model_fails("a tensor the architecture does not have", d, "'model.layers.0.mlp.extra.weight' is not part of", NULL);
    free(d);

    /* sharded: remove a shard of llama-tiny */
    char *cmd = pic_asprintf("cp -r %s/models/llama-tiny %s/shards && chmod -R u+w %s/shards && "
                             "rm %s/shards/model-00002-of-00003.safetensors",
                             fixtures(), tmp, tmp, tmp);
    if (system(cmd)) pic_die("%s failed", cmd);
    free(cmd);
    d = path("shards");
    model_fails("a missing shard names the index, the shard and a tensor", d, "model-00002-of-00003.safetensors",
                "is missing");
    free(d);
    cmd = pic_asprintf("cp %s/models/qwen2-tiny/model.safetensors %s/shards/model-00002-of-00003.safetensors", fixtures(), tmp);
    if (system(cmd)) pic_die("%s failed", cmd);
    free(cmd);
    d = path("shards");
    model_fails("a shard holding another shard's tensors", d, "model-00001-of-00003.safetensors", "is also in");
    free(d);

    /* a sharded model saved again in one file keeps its old index, whose
     * shards are gone: model.safetensors is read, as transformers reads it */
    d = make_model("stale-index", cfg, NULL, NULL);
    cmd = pic_asprintf("cp %s/models/llama-tiny/model.safetensors.index.json %s", fixtures(), d);
    if (system(cmd)) pic_die("%s failed", cmd);
    free(cmd);
    if (!CHECK(pic_model_load(&m, d, NULL, &err) == 0, "model: model.safetensors before a stale index"))
        printf("#   message: %s\n", err.msg);
    else
        pic_model_free(&m);
    free(d);
}

/* name in dir (made if need be) holds the n bytes of text. */
static void put_in(const char *dir, const char *name, const char *text, size_t n) {
    char *d = path(dir), *f = pic_asprintf("%s/%s", dir, name);
    mkdir(d, 0755);
    put(f, text, n);
    free(f);
    free(d);
}
#define PUT_IN(dir, name, lit) put_in(dir, name, lit, sizeof lit - 1)

/* Loading the config of dir fails with a message holding the file's path
 * followed by want (its line, column and the reason). */
static void config_file_fails(const char *what, const char *dir, const char *file, const char *want) {
    pic_config c;
    pic_err err = {""};
    char *d = path(dir), *w = pic_asprintf("%s/%s%s", d, file, want);
    if (!CHECK(pic_config_load(&c, d, &err) && strstr(err.msg, w), "%s", what)) printf("#   message: %s\n", err.msg);
    free(w);
    free(d);
}

/* Every JSON file of a model goes through one reader (pic_json_loadb): the
 * whole file by its length, a raw NUL byte malformed wherever it is (jansson
 * alone drops one after a number, and a C string ends at it), nothing after
 * the value, and messages naming the file, the line and the column. */
static void test_json_files(void) {
    pic_config c;
    pic_err err;
    /* config.json: text after a NUL was never read */
    PUT_IN("cnul", "config.json", "{" BASE "}\0{\"oops\"");
    config_file_fails("config.json: a NUL after the object is malformed, named by line and column", "cnul",
                      "config.json", ":1:148: invalid JSON: a raw NUL byte");
    /* a NUL inside: it read as "'}' expected" */
    PUT_IN("cnul2", "config.json", "{" BASE ",\n\"rms_norm_eps\":\0 1e-6}");
    config_file_fails("config.json: a NUL inside is named as such on its line", "cnul2", "config.json",
                      ":2:16: invalid JSON: a raw NUL byte");
    /* jansson drops a NUL after a number: the text read as valid */
    PUT_IN("cnul3", "config.json", "{" BASE ",\"rms_norm_eps\":1e-6\0}");
    config_file_fails("config.json: a NUL after a number is not dropped", "cnul3", "config.json",
                      ":1:167: invalid JSON: a raw NUL byte");
    PUT_IN("ctrail", "config.json", "{" BASE "}\n}");
    config_file_fails("config.json: text after the object is refused at its line", "ctrail", "config.json",
                      ":2:1: invalid JSON: end of file expected");
    CHECK(pic_config_parseb(&c, "{" BASE "}\0", sizeof "{" BASE "}", "cfg.json", &err) && strstr(err.msg, "raw NUL"),
          "config text: parsed by its length, not up to a NUL");

    /* generation_config.json: a NUL after a number was dropped, a cut file named no column */
    PUT_IN("gnul", "config.json", "{" BASE "}");
    PUT_IN("gnul", "generation_config.json", "{\"eos_token_id\":7\0,\"x\":1}");
    config_file_fails("generation_config.json: a NUL is malformed", "gnul", "generation_config.json",
                      ":1:18: invalid JSON: a raw NUL byte");
    PUT_IN("gcut", "config.json", "{" BASE "}");
    PUT_IN("gcut", "generation_config.json", "{\"eos_token_id\":[3,\n");
    config_file_fails("generation_config.json: a truncated file names its line and column", "gcut",
                      "generation_config.json", ":2:0: invalid JSON:");

    /* the safetensors header: a NUL in it was dropped after a number */
    static const char hnul[] = "{\"__metadata__\":{\"n\":1\0},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    put_stb("hnul.safetensors", hnul, sizeof hnul - 1, 8);
    st_fails("hnul.safetensors", "a header with a raw NUL byte names the file and the header",
             "header is not valid JSON (line 1, column 23 of the header)", "raw NUL");
    static const char htrail[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x";
    put_stb("htrail.safetensors", htrail, sizeof htrail - 1, 8);
    st_fails("htrail.safetensors", "a header with text after its object", "header is not valid JSON (line 1, column",
             "end of file expected");

    /* model.safetensors.index.json: a NUL after a number was dropped; a cut index */
    char *cmd = pic_asprintf("mkdir -p %s/inul %s/icut && cp %s/models/llama-tiny/*.safetensors %s/inul && "
                             "cp %s/models/llama-tiny/*.safetensors %s/icut",
                             tmp, tmp, fixtures(), tmp, fixtures(), tmp);
    if (system(cmd)) pic_die("%s failed", cmd);
    free(cmd);
    size_t len;
    char *ip = pic_asprintf("%s/models/llama-tiny/model.safetensors.index.json", fixtures());
    char *index = pic_read_file(ip, &len);
    free(ip);
    char *at = strstr(index, "207296");
    if (!at) pic_die("the fixture's index has no total_parameters 207296");
    char *nul = pic_malloc(len + 1);
    memcpy(nul, index, len);
    nul[at + 6 - index] = '\0'; /* 207296\0 for the comma after it */
    put_in("inul", "model.safetensors.index.json", nul, len);
    free(nul);
    pic_safetensors st;
    char *d = path("inul"), *want = pic_asprintf("%s/model.safetensors.index.json:3:31: invalid JSON: a raw NUL byte", d);
    int rc = pic_st_open(&st, d, &err);
    if (!rc) pic_st_close(&st);
    if (!CHECK(rc && strstr(err.msg, want), "index.json: a raw NUL byte is malformed, by line and column"))
        printf("#   message: %s\n", err.msg);
    free(want);
    free(d);
    put_in("icut", "model.safetensors.index.json", index, len / 2);
    d = path("icut");
    want = pic_asprintf("%s/model.safetensors.index.json:", d);
    rc = pic_st_open(&st, d, &err);
    if (!rc) pic_st_close(&st);
    const char *rest = strstr(err.msg, want) ? strstr(err.msg, want) + strlen(want) : "";
    int line = 0, col = -1;
    if (!CHECK(rc && sscanf(rest, "%d:%d: invalid JSON", &line, &col) == 2 && line > 1 && col >= 0,
               "index.json: a truncated index names its line and column"))
        printf("#   message: %s\n", err.msg);
    free(want);
    free(d);
    free(index);
}

static bool same_rope(const pic_rope_config *a, const pic_rope_config *b) {
    return a->type == b->type && a->theta == b->theta && a->factor == b->factor &&
           a->low_freq_factor == b->low_freq_factor && a->high_freq_factor == b->high_freq_factor &&
           a->original_max_position == b->original_max_position && a->beta_fast == b->beta_fast &&
           a->beta_slow == b->beta_slow && a->attention_factor == b->attention_factor && a->truncate == b->truncate;
}

/* o without the keys named (NULL-terminated), read by pic: the same rope
 * and dtype as c */
static bool reads_as(const pic_config *c, const json_t *o, const char *const *drop) {
    json_t *v = json_deep_copy(o);
    for (; *drop; drop++) json_object_del(v, *drop);
    char *text = json_dumps(v, 0);
    json_decref(v);
    pic_config back;
    pic_err err = {""};
    bool ok = pic_config_parse(&back, text, "written", &err) == 0 && same_rope(&back.rope, &c->rope) &&
              !strcmp(back.dtype, c->dtype);
    if (!ok) printf("#   %s: %s\n", text, err.msg);
    free(text);
    return ok;
}

/* config.json as pic writes it (pic-init) is read the same by transformers 5
 * (rope_parameters, dtype) and 4.x (rope_theta, rope_scaling, torch_dtype;
 * it ignores rope_parameters): a theta of 1e6 or a scaling written only the
 * new way loaded in 4.x as theta 10000 and no scaling. transformers 5 takes
 * rope_scaling over rope_parameters and fills its rope_theta from the
 * top-level key (RotaryEmbeddingConfigMixin.convert_rope_params_to_dict),
 * so rope_scaling must be rope_parameters less rope_theta. */
static void test_config_layouts(void) {
    static const char *const cases[] = {
        "{" QWEN("qwen2") ",\"rope_theta\":1000000.0,\"torch_dtype\":\"bfloat16\"}",
        "{" BASE ",\"rope_theta\":5e5,\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":2}}",
        "{" BASE ",\"max_position_embeddings\":131072,\"rope_theta\":5e5,\"rope_scaling\":{\"rope_type\":\"llama3\","
        "\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}",
        "{" QWEN("qwen3") ",\"max_position_embeddings\":131072,\"rope_parameters\":{\"rope_type\":\"yarn\","
        "\"rope_theta\":1e6,\"factor\":4,\"original_max_position_embeddings\":32768,\"beta_fast\":16,"
        "\"truncate\":false},\"dtype\":\"float16\"}",
        "{" BASE ",\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2}}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pic_config c;
        pic_err err = {""};
        if (!CHECK(pic_config_parse(&c, cases[i], "cfg.json", &err) == 0, "layouts: case %zu parses", i)) {
            printf("#   message: %s\n", err.msg);
            continue;
        }
        char *js = pic_config_to_json(&c);
        json_error_t je;
        json_t *o = json_loads(js, 0, &je);
        const json_t *rp = json_object_get(o, "rope_parameters"), *rs = json_object_get(o, "rope_scaling");
        CHECK(json_is_number(json_object_get(o, "rope_theta")) &&
                  json_number_value(json_object_get(o, "rope_theta")) == c.rope.theta,
              "layouts: case %zu: a top-level rope_theta for transformers 4", i);
        CHECK(json_is_string(json_object_get(o, "torch_dtype")) &&
                  json_equal(json_object_get(o, "torch_dtype"), json_object_get(o, "dtype")),
              "layouts: case %zu: torch_dtype beside dtype", i);
        if (c.rope.type == PIC_ROPE_DEFAULT) {
            CHECK(!rs || json_is_null(rs), "layouts: case %zu: no rope_scaling for the default rope", i);
        } else {
            json_t *want = json_deep_copy(rp);
            json_object_del(want, "rope_theta");
            CHECK(json_is_object(rs) && json_equal(rs, want),
                  "layouts: case %zu: rope_scaling is rope_parameters less rope_theta", i);
            json_decref(want);
        }
        static const char *const none[] = {NULL};
        static const char *const v4[] = {"rope_parameters", "dtype", NULL};
        static const char *const v5[] = {"rope_scaling", "rope_theta", "torch_dtype", NULL};
        CHECK(reads_as(&c, o, none), "layouts: case %zu: reads back as written", i);
        CHECK(reads_as(&c, o, v4), "layouts: case %zu: the same from the transformers 4 keys alone", i);
        CHECK(reads_as(&c, o, v5), "layouts: case %zu: the same from the transformers 5 keys alone", i);
        json_decref(o);
        free(js);
    }
}

int main(void) {
    pic_init("test_safetensors");
    char t[] = "/tmp/pic-st-XXXXXX";
    tmp = mkdtemp(t);
    if (!tmp) pic_die("mkdtemp failed");
    test_reader();
    test_writer();
    test_writer_fill();
    test_write_model();
    test_read_bf16();
    test_config();
    test_config_edges();
    test_config_layouts();
    test_model_files();
    test_json_files();
    char *cmd = pic_asprintf("rm -rf %s", tmp);
    if (system(cmd)) pic_warn("could not remove %s", tmp);
    free(cmd);
    return check_done();
}
