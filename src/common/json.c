/* The one JSON serializer of the streams, and record-field accessors whose
 * errors name file, line and field. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dtoa.h"

void pic_buf_append(pic_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = pic_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pic_buf_printf(pic_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        pic_buf_append(b, tmp, (size_t)n);
        return;
    }
    char *big = pic_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    pic_buf_append(b, big, (size_t)n);
    free(big);
}

void pic_buf_free(pic_buf *b) {
    free(b->data);
    *b = (pic_buf){0};
}

bool pic_json_doubles = false; /* json.h */

/* x's shortest digits (reading back as a float when single, else as a
 * double) placed as printf's %.*g places them with that many significant
 * digits (python false), or as Python's repr does (python true: fixed
 * point from 1e-4 up to 1e16), with ".0" after an integral value either
 * way, so that it reads back a real. */
static int format_real(char *out, double x, bool single, bool python) {
    if (!isfinite(x)) return snprintf(out, 32, "%g", x);
    char d[PIC_DTOA_DIGITS];
    int point, n = pic_shortest_digits(fabs(x), single, d, &point), k = 0;
    int e = point - 1; /* the first digit's power of ten */
    if (signbit(x)) out[k++] = '-';
    if (e < -4 || e >= (python ? 16 : n)) { /* d.ddde+XX */
        out[k++] = d[0];
        if (n > 1) out[k++] = '.', memcpy(out + k, d + 1, (size_t)(n - 1)), k += n - 1;
        k += snprintf(out + k, 8, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e >= 0) { /* ddd.dd, or ddd000 */
        int whole = e + 1 < n ? e + 1 : n;
        memcpy(out + k, d, (size_t)whole), k += whole;
        for (int i = n; i < e + 1; i++) out[k++] = '0';
        if (n > e + 1) out[k++] = '.', memcpy(out + k, d + e + 1, (size_t)(n - e - 1)), k += n - e - 1;
    } else { /* 0.00ddd */
        out[k++] = '0', out[k++] = '.';
        for (int i = 0; i < -e - 1; i++) out[k++] = '0';
        memcpy(out + k, d, (size_t)n), k += n;
    }
    if (!memchr(out, '.', (size_t)k) && !memchr(out, 'e', (size_t)k)) out[k++] = '.', out[k++] = '0';
    out[k] = '\0';
    return k;
}

/* the same text as the fewest-digit %.*g that reads back as x (as a float
 * when x is one), found ten times faster (dtoa.h) */
int pic_format_real(char *out, double x) {
    return format_real(out, x, !pic_json_doubles && (double)(float)x == x, false);
}

int pic_format_real_repr(char *out, double x, bool single) {
    return format_real(out, x, single, true);
}

static void dump_string(pic_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    pic_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        pic_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
        }
        pic_buf_append(b, esc, strlen(esc + 1) + 1);
    }
    pic_buf_append(b, s + run, n - run);
    pic_buf_append(b, "\"", 1);
}

void pic_json_dump(pic_buf *b, const json_t *v) {
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        pic_buf_append(b, "{", 1);
        json_object_foreach((json_t *)v, key, val) {
            if (!first) pic_buf_append(b, ",", 1);
            first = 0;
            dump_string(b, key, strlen(key));
            pic_buf_append(b, ":", 1);
            pic_json_dump(b, val);
        }
        pic_buf_append(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        pic_buf_append(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) pic_buf_append(b, ",", 1);
            pic_json_dump(b, json_array_get(v, i));
        }
        pic_buf_append(b, "]", 1);
        break;
    }
    case JSON_STRING:
        dump_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        pic_buf_append(b, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                                json_integer_value(v)));
        break;
    case JSON_REAL:
        pic_buf_append(b, num, (size_t)pic_format_real(num, json_real_value(v)));
        break;
    case JSON_TRUE: pic_buf_append(b, "true", 4); break;
    case JSON_FALSE: pic_buf_append(b, "false", 5); break;
    case JSON_NULL: pic_buf_append(b, "null", 4); break;
    }
}

static void newline_indent(pic_buf *b, int depth) {
    pic_buf_append(b, "\n", 1);
    for (int i = 0; i < depth; i++) pic_buf_append(b, "  ", 2);
}

static int key_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void dump_indented(pic_buf *b, const json_t *v, int depth) {
    char num[40];
    size_t n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
    if (json_is_real(v)) {
        pic_buf_append(b, num, (size_t)pic_format_real_repr(num, json_real_value(v), false));
    } else if (n == 0) {
        pic_json_dump(b, v); /* a scalar, {} or [] */
    } else if (json_is_object(v)) {
        /* the keys sorted, as sort_keys=True: Python orders str by code
         * point, which strcmp's unsigned bytes of UTF-8 keep */
        const char **keys = pic_malloc(n * sizeof *keys);
        const char *key;
        json_t *val;
        size_t i = 0;
        json_object_foreach((json_t *)v, key, val) keys[i++] = key;
        qsort(keys, n, sizeof *keys, key_cmp);
        pic_buf_append(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i) pic_buf_append(b, ",", 1);
            newline_indent(b, depth + 1);
            dump_string(b, keys[i], strlen(keys[i]));
            pic_buf_append(b, ": ", 2);
            dump_indented(b, json_object_get(v, keys[i]), depth + 1);
        }
        free(keys);
        newline_indent(b, depth);
        pic_buf_append(b, "}", 1);
    } else {
        pic_buf_append(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) pic_buf_append(b, ",", 1);
            newline_indent(b, depth + 1);
            dump_indented(b, json_array_get(v, i), depth + 1);
        }
        newline_indent(b, depth);
        pic_buf_append(b, "]", 1);
    }
}

void pic_json_dump_indented(pic_buf *b, const json_t *v) {
    dump_indented(b, v, 0);
    pic_buf_append(b, "\n", 1);
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static _Noreturn void field_die(pic_rec r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void field_die(pic_rec r, const char *name, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r.reader) pic_reader_die(r.reader, name, "%s", msg);
    pic_die("field '%s': %s", name, msg);
}

json_t *pic_field(pic_rec r, const char *name, bool required) {
    json_t *v = json_object_get(r.obj, name);
    if (v && json_is_null(v)) v = NULL;
    if (!v && required) field_die(r, name, "missing");
    return v;
}

const char *pic_field_string_opt(pic_rec r, const char *name, const char *dflt) {
    json_t *v = pic_field(r, name, false);
    if (!v) return dflt;
    if (!json_is_string(v)) field_die(r, name, "expected a string, got %s", type_name(v));
    return json_string_value(v);
}

json_t *pic_json_floats(const float *x, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        /* jansson cannot hold NaN or Inf, and JSON cannot say them. */
        if (!isfinite(x[i])) pic_die("refusing to write a non-finite value (%g at index %zu)", x[i], i);
        json_array_append_new(a, json_real((double)x[i]));
    }
    return a;
}

json_t *pic_json_ints(const int32_t *x, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(x[i]));
    return a;
}

const char *pic_id_key(pic_rec r, char *tmp, size_t tmpsize) {
    json_t *v = pic_field(r, "id", true);
    /* ids are compared as C strings: "p\u0000one" and "p\u0000two" would be one */
    if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
        field_die(r, "id", "contains a NUL character (\\u0000)");
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, tmpsize, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    }
    field_die(r, "id", "expected a string or an integer, got %s", type_name(v));
}

json_t *pic_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err) {
    size_t column, line = pic_nul_line(text, len, &column);
    if (!line) return json_loadb(text, len, flags, err);
    memset(err, 0, sizeof *err);
    err->line = (int)line;
    err->column = (int)column;
    err->position = (int)((const char *)memchr(text, '\0', len) - text);
    snprintf(err->source, sizeof err->source, "<buffer>");
    /* the last byte is jansson's error code: left 0 (unknown) */
    snprintf(err->text, sizeof err->text - 1, "a raw NUL byte (JSON has NUL only as \\u0000 inside a string)");
    return NULL;
}

void pic_print_json_line(const json_t *obj) {
    pic_buf b = {0};
    pic_json_dump(&b, obj);
    pic_buf_append(&b, "\n", 1);
    /* the reason only from this write: an earlier failure's errno is gone */
    int err = fwrite(b.data, 1, b.len, stdout) != b.len ? errno : 0;
    bool ok = !err && !ferror(stdout);
    pic_buf_free(&b);
    if (!ok) pic_stdout_write_error(err);
}
