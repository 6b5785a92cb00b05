/* libFuzzer target: a checkpoint's files as a truncated download, a bad
 * conversion or a hostile hub repository may leave them. Any bytes as a
 * config.json, a .safetensors file or a model.safetensors.index.json must
 * end in a model or in a message, never in a crash, a leak or a read past
 * the file. The first byte picks which; the rest is the file.
 * (tests/fuzz/model/run.sh builds and runs it.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/config.h"
#include "model/safetensors.h"

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
}

/* Two small valid shards that an index may name (or not). */
static void put_shards(void) {
    static const char *names[] = {"a.safetensors", "b.safetensors"};
    for (int s = 0; s < 2; s++) {
        char h[160];
        int n = snprintf(h, sizeof h,
                         "{\"w%d\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"v%d\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}",
                         s, s);
        uint8_t buf[256];
        uint64_t len = (uint64_t)n;
        memcpy(buf, &len, 8);
        memcpy(buf + 8, h, (size_t)n);
        float w[2] = {1.5f, -2};
        memcpy(buf + 8 + n, w, 8);
        memset(buf + 16 + n, 0x3f, 4);
        put(names[s], buf, 8 + (size_t)n + 12);
    }
}

static void read_all(const pic_safetensors *st) {
    pic_err err;
    for (size_t i = 0; i < st->n; i++) {
        const pic_st_tensor *t = st->sorted[i];
        if (t->numel > (1u << 16) || t->dtype == PIC_DT_OTHER) continue;
        float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
        uint16_t *h = malloc((t->numel ? t->numel : 1) * sizeof *h);
        (void)pic_st_read_f32(t, f, &err);
        (void)pic_st_read_bf16(t, h, &err);
        free(f);
        free(h);
        if (pic_st_find(st, t->name) != t) abort();
    }
}

/* The file written under name, opened, and every tensor read. */
static void open_and_read(const char *name, const uint8_t *data, size_t size) {
    char path[128];
    put(name, data, size);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pic_safetensors st;
    pic_err err;
    if (pic_st_open(&st, path, &err) == 0) {
        read_all(&st);
        pic_st_close(&st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_model.%d", (int)getpid());
        mkdir(dir, 0700);
        put_shards();
    }
    if (size < 1) return 0;
    pic_err err;
    switch (data[0] % 3) {
    case 0: { /* config.json */
        pic_config c;
        if (pic_config_parseb(&c, (const char *)data + 1, size - 1, "config.json", &err) == 0) {
            (void)pic_config_validate(&c, "config.json", &err);
            free(pic_config_to_json(&c));
        }
        break;
    }
    case 1: open_and_read("x.safetensors", data + 1, size - 1); break; /* one file */
    case 2: open_and_read("model.safetensors.index.json", data + 1, size - 1); break; /* the shards */
    }
    return 0;
}
