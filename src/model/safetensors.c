/* The safetensors reader. Everything the header claims is checked before a
 * byte of data is touched, the way the reference Rust implementation does:
 * offsets inside the file, sizes equal to shape x dtype, and the tensors
 * covering the data region exactly once. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/json.h"

static const struct {
    const char *name;
    size_t size;
    pic_dtype dt;
} dtypes[] = {
    {"F32", 4, PIC_DT_F32},     {"BF16", 2, PIC_DT_BF16},   {"F16", 2, PIC_DT_F16},
    {"F64", 8, PIC_DT_OTHER},   {"I64", 8, PIC_DT_OTHER},   {"U64", 8, PIC_DT_OTHER},
    {"I32", 4, PIC_DT_OTHER},   {"U32", 4, PIC_DT_OTHER},   {"I16", 2, PIC_DT_OTHER},
    {"U16", 2, PIC_DT_OTHER},   {"I8", 1, PIC_DT_OTHER},    {"U8", 1, PIC_DT_OTHER},
    {"BOOL", 1, PIC_DT_OTHER},  {"F8_E4M3", 1, PIC_DT_OTHER}, {"F8_E5M2", 1, PIC_DT_OTHER},
};

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

static int cmp_offset(const void *a, const void *b) {
    const pic_st_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int parse_entry(pic_st_tensor *t, const char *file, const char *name, json_t *v,
                       const unsigned char *base, size_t data_size, pic_err *err) {
    t->name = pic_strdup(name);
    t->file = file;
    if (!json_is_object(v)) return pic_err_set(err, "%s: tensor '%s': header entry is not an object", file, name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return pic_err_set(err, "%s: tensor '%s': missing dtype", file, name);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) {
            esize = dtypes[i].size;
            t->dtype = dtypes[i].dt;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[i].name);
        }
    if (!esize)
        return pic_err_set(err, "%s: tensor '%s': unknown dtype %.20s", file, name, json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) > PIC_ST_MAX_DIMS)
        return pic_err_set(err, "%s: tensor '%s': bad shape", file, name);
    t->ndim = (int)json_array_size(shape);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return pic_err_set(err, "%s: tensor '%s': bad shape", file, name);
        t->shape[i] = json_integer_value(d);
        if (__builtin_mul_overflow(numel, (size_t)t->shape[i], &numel))
            return pic_err_set(err, "%s: tensor '%s': shape overflows", file, name);
    }
    t->numel = numel;
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(e))
        return pic_err_set(err, "%s: tensor '%s': bad data_offsets", file, name);
    long long begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin || (unsigned long long)end > data_size)
        return pic_err_set(err,
                           "%s: tensor '%s': data_offsets [%lld, %lld] lie outside the data (%zu bytes; "
                           "file truncated?)",
                           file, name, begin, end, data_size);
    size_t want;
    if (__builtin_mul_overflow(numel, esize, &want) || want != (size_t)(end - begin))
        return pic_err_set(err, "%s: tensor '%s': %lld bytes for %zu elements of %s", file, name,
                           end - begin, numel, t->dtype_name);
    t->data = base + begin;
    t->nbytes = want;
    return 0;
}

static int parse_file(pic_st_file *f, pic_err *err) {
    const char *p = f->path;
    if (f->size < 8) return pic_err_set(err, "%s: too short for a safetensors file (%zu bytes)", p, f->size);
    const unsigned char *m = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | m[i];
    if (hlen > MAX_HEADER || hlen > f->size - 8)
        return pic_err_set(err, "%s: header length %llu exceeds the file (%zu bytes; truncated?)", p,
                           (unsigned long long)hlen, f->size);
    /* through pic's one JSON reader: a raw NUL byte in the header is
     * malformed, as the reference implementation finds it (jansson alone
     * reads {"a": 1\0} as {"a": 1}); and a name given twice too, which
     * the format disallows (jansson alone keeps the last, so a file the
     * reference refuses loaded, or was refused for "bytes that belong to
     * no tensor") */
    json_error_t je;
    json_t *h = pic_json_loadb((const char *)m + 8, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!h)
        return pic_err_set(err, "%s: header is not valid JSON (line %d, column %d of the header): %s", p, je.line,
                           je.column, je.text);
    int rc = -1;
    if (!json_is_object(h)) {
        pic_err_set(err, "%s: header is not a JSON object", p);
        goto out;
    }
    const unsigned char *base = m + 8 + hlen;
    size_t data_size = f->size - 8 - hlen;
    f->tensors = pic_calloc(json_object_size(h) + 1, sizeof *f->tensors);
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) {
            /* the reference reads it as an optional map of strings to
             * strings (safetensors' Metadata: Option<HashMap<String,
             * String>>), so a null is none, and refuses a file whose
             * metadata is anything else */
            const char *mk;
            json_t *mv;
            if (json_is_null(v)) continue;
            if (!json_is_object(v)) {
                pic_err_set(err, "%s: header '__metadata__' is not an object", p);
                goto out;
            }
            json_object_foreach(v, mk, mv) if (!json_is_string(mv)) {
                pic_err_set(err, "%s: header '__metadata__' entry '%s' is not a string", p, mk);
                goto out;
            }
            continue;
        }
        if (parse_entry(&f->tensors[f->n++], p, key, v, base, data_size, err)) goto out;
    }
    /* Coverage: sorted by offset, each tensor must start where the last ended. */
    pic_st_tensor *s = pic_malloc((f->n + 1) * sizeof *s);
    memcpy(s, f->tensors, f->n * sizeof *s);
    qsort(s, f->n, sizeof *s, cmp_offset);
    const unsigned char *at = base;
    for (size_t i = 0; i < f->n; i++) {
        if (s[i].data < at) {
            pic_err_set(err, "%s: tensor '%s': data_offsets overlap those of tensor '%s'", p, s[i].name,
                        s[i - 1].name);
            free(s);
            goto out;
        }
        if (s[i].data > at) {
            pic_err_set(err, "%s: tensor '%s': %zu bytes before it belong to no tensor", p, s[i].name,
                        (size_t)(s[i].data - at));
            free(s);
            goto out;
        }
        at = s[i].data + s[i].nbytes;
    }
    free(s);
    if (at != base + data_size) {
        pic_err_set(err, "%s: %zu bytes after the last tensor belong to no tensor", p,
                    (size_t)(base + data_size - at));
        goto out;
    }
    rc = 0;
out:
    json_decref(h);
    return rc;
}

/* A symbolic link whose target is gone: a Hugging Face cache snapshot links
 * each file to a blob, and a download that never finished (or a blob
 * deleted to free space) leaves the link behind. True with the target in
 * buf. */
static bool dangling_link(const char *path, char *buf, size_t n) {
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISLNK(sb.st_mode) || stat(path, &sb) == 0 || errno != ENOENT) return false;
    ssize_t k = readlink(path, buf, n - 1);
    buf[k > 0 ? k : 0] = 0;
    return true;
}

#define DANGLING_HINT "(a download into the Hugging Face cache that never finished?)"

static int map_file(pic_st_file *f, const char *path, pic_err *err) {
    f->path = pic_strdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char target[4096];
    if (fd < 0 && errno == ENOENT && dangling_link(path, target, sizeof target))
        return pic_err_set(err, "%s: a dangling symbolic link to %s " DANGLING_HINT, path, target);
    if (fd < 0) return pic_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pic_err_set(err, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size > 0) {
        f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            close(fd);
            return pic_err_set(err, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    return parse_file(f, err);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(pic_st_tensor *const *)a)->name, (*(pic_st_tensor *const *)b)->name);
}

static pic_st_file *add_file(pic_safetensors *st) {
    st->files = pic_realloc(st->files, (st->n_files + 1) * sizeof *st->files);
    pic_st_file *f = &st->files[st->n_files++];
    memset(f, 0, sizeof *f);
    return f;
}

static int build_index(pic_safetensors *st, pic_err *err) {
    size_t n = 0;
    for (size_t i = 0; i < st->n_files; i++) n += st->files[i].n;
    st->sorted = pic_malloc((n + 1) * sizeof *st->sorted);
    for (size_t i = 0; i < st->n_files; i++)
        for (size_t j = 0; j < st->files[i].n; j++) st->sorted[st->n++] = &st->files[i].tensors[j];
    qsort(st->sorted, st->n, sizeof *st->sorted, cmp_name);
    for (size_t i = 1; i < st->n; i++)
        if (!strcmp(st->sorted[i]->name, st->sorted[i - 1]->name))
            return pic_err_set(err, "%s: tensor '%s' is also in %s", st->sorted[i]->file,
                               st->sorted[i]->name, st->sorted[i - 1]->file);
    return 0;
}

/* The index names the shard of every tensor; each shard is opened once and
 * every tensor must be where the index says. */
static int open_index(pic_safetensors *st, const char *index, pic_err *err) {
    size_t len;
    char *text = pic_try_read_file(index, &len);
    if (!text) return pic_err_set(err, "%s: %s", index, strerror(errno));
    json_error_t je;
    json_t *root = pic_json_loadb(text, len, 0, &je);
    free(text);
    if (!root) return pic_err_set(err, "%s:%d:%d: invalid JSON: %s", index, je.line, je.column, je.text);
    json_t *map = json_object_get(root, "weight_map");
    int rc = -1;
    char *dir = pic_strdup(index);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    if (!json_is_object(map) || !json_object_size(map)) {
        pic_err_set(err, "%s: missing or empty 'weight_map'", index);
        goto out;
    }
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        if (!json_is_string(v) || strchr(json_string_value(v), '/')) {
            pic_err_set(err, "%s: weight_map: tensor '%s': expected a file name", index, name);
            goto out;
        }
        char *path = pic_asprintf("%s%s", dir, json_string_value(v));
        bool seen = false;
        for (size_t i = 0; i < st->n_files && !seen; i++) seen = !strcmp(st->files[i].path, path);
        char target[4096];
        if (!seen && access(path, F_OK) != 0) {
            if (errno == ENOENT && dangling_link(path, target, sizeof target))
                pic_err_set(err, "%s: shard %s of tensor '%s' is a dangling symbolic link to %s " DANGLING_HINT,
                            index, path, name, target);
            else
                pic_err_set(err, "%s: shard %s of tensor '%s' is missing", index, path, name);
            free(path);
            goto out;
        }
        if (!seen && map_file(add_file(st), path, err)) {
            free(path);
            goto out;
        }
        free(path);
    }
    if (build_index(st, err)) goto out;
    json_object_foreach(map, name, v) {
        const pic_st_tensor *t = pic_st_find(st, name);
        const char *want = json_string_value(v), *got = t ? strrchr(t->file, '/') : NULL;
        got = got ? got + 1 : t ? t->file : NULL;
        if (!t || strcmp(got, want)) {
            pic_err_set(err, "%s: tensor '%s' is not in its shard %s%s", index, name, dir, want);
            goto out;
        }
    }
    rc = 0;
out:
    free(dir);
    json_decref(root);
    return rc;
}

int pic_st_open(pic_safetensors *st, const char *path, pic_err *err) {
    memset(st, 0, sizeof *st);
    st->path = pic_strdup(path);
    struct stat sb;
    char target[4096];
    int rc;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT && dangling_link(path, target, sizeof target))
            rc = pic_err_set(err, "%s: a dangling symbolic link to %s " DANGLING_HINT, path, target);
        else
            rc = pic_err_set(err, "%s: %s", path, strerror(e));
        pic_st_close(st);
        return rc;
    }
    if (S_ISDIR(sb.st_mode)) {
        char *index = pic_asprintf("%s/model.safetensors.index.json", path);
        char *single = pic_asprintf("%s/model.safetensors", path);
        /* transformers' order: the single file first. A sharded model saved
         * again unsharded keeps its old index, whose shards are gone */
        if (access(single, F_OK) == 0)
            rc = map_file(add_file(st), single, err) || build_index(st, err) ? -1 : 0;
        else if (access(index, F_OK) == 0)
            rc = open_index(st, index, err);
        else if (dangling_link(single, target, sizeof target))
            rc = pic_err_set(err, "%s: model.safetensors is a dangling symbolic link to %s " DANGLING_HINT, path,
                             target);
        else if (dangling_link(index, target, sizeof target))
            rc = pic_err_set(err, "%s: model.safetensors.index.json is a dangling symbolic link to %s " DANGLING_HINT,
                             path, target);
        else
            rc = pic_err_set(err, "%s: no model.safetensors or model.safetensors.index.json", path);
        free(index);
        free(single);
    } else {
        size_t n = strlen(path);
        if (n > 5 && !strcmp(path + n - 5, ".json"))
            rc = open_index(st, path, err);
        else
            rc = map_file(add_file(st), path, err) || build_index(st, err) ? -1 : 0;
    }
    if (rc) pic_st_close(st);
    return rc;
}

void pic_st_close(pic_safetensors *st) {
    for (size_t i = 0; i < st->n_files; i++) {
        pic_st_file *f = &st->files[i];
        if (f->map) munmap(f->map, f->size);
        for (size_t j = 0; j < f->n; j++) free(f->tensors[j].name);
        free(f->tensors);
        free(f->path);
    }
    free(st->files);
    free(st->sorted);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const pic_st_tensor *pic_st_find(const pic_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(st->sorted[mid]->name, name);
        if (!c) return st->sorted[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static int not_finite(const pic_st_tensor *t, size_t i, float f, pic_err *err) {
    return pic_err_set(err, "%s: tensor '%s': element %zu is %s", t->file, t->name, i, isnan(f) ? "NaN" : "infinite");
}

/* Once a tensor is read, its file pages leave this process's mapping (the
 * page cache keeps them, and a second read faults them back in): a model
 * or optimizer state read a tensor at a time never holds the whole file
 * mapped beside the copy it makes (91 GB for a 7B model's optimizer state). */
static void release(const pic_st_tensor *t) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), at = (uintptr_t)t->data;
    uintptr_t lo = (at + page - 1) / page * page, hi = (at + t->nbytes) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static int read_f32(const pic_st_tensor *t, float *out, pic_err *err) {
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case PIC_DT_F32:
        memcpy(out, d, t->numel * 4);
        break;
    case PIC_DT_BF16:
    case PIC_DT_F16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(d[2 * i] | d[2 * i + 1] << 8);
            out[i] = t->dtype == PIC_DT_BF16 ? pic_bf16_to_f32(h) : pic_f16_to_f32(h);
        }
        break;
    default:
        return pic_err_set(err, "%s: tensor '%s': dtype %s is not a float type (F32, BF16, F16)", t->file,
                           t->name, t->dtype_name);
    }
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(out[i])) return not_finite(t, i, out[i], err);
    return 0;
}

int pic_st_read_f32(const pic_st_tensor *t, float *out, pic_err *err) {
    int rc = read_f32(t, out, err);
    release(t);
    return rc;
}

static int read_bf16(const pic_st_tensor *t, uint16_t *out, pic_err *err) {
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case PIC_DT_F32:
        for (size_t i = 0; i < t->numel; i++) {
            float f;
            memcpy(&f, d + 4 * i, 4);
            if (!isfinite(f)) return not_finite(t, i, f, err);
            out[i] = pic_f32_to_bf16(f);
        }
        return 0;
    case PIC_DT_BF16:
        memcpy(out, d, t->numel * 2);
        for (size_t i = 0; i < t->numel; i++) /* exponent all ones: inf or NaN */
            if ((out[i] & 0x7f80) == 0x7f80) return not_finite(t, i, pic_bf16_to_f32(out[i]), err);
        return 0;
    case PIC_DT_F16:
        for (size_t i = 0; i < t->numel; i++) {
            float f = pic_f16_to_f32((uint16_t)(d[2 * i] | d[2 * i + 1] << 8));
            if (!isfinite(f)) return not_finite(t, i, f, err);
            out[i] = pic_f32_to_bf16(f);
        }
        return 0;
    default:
        return pic_err_set(err, "%s: tensor '%s': dtype %s is not a float type (F32, BF16, F16)", t->file,
                           t->name, t->dtype_name);
    }
}

int pic_st_read_bf16(const pic_st_tensor *t, uint16_t *out, pic_err *err) {
    int rc = read_bf16(t, out, err);
    release(t);
    return rc;
}
