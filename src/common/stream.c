/* JSON Lines readers and writers over plain or zstd-compressed bytes. */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "atomic.h"
#include "cli.h"
#include "json.h"
#include "progress.h"
#include "utf8.h"

struct pic_reader {
    FILE *fp;
    char *name;
    bool is_stdin, zstd, file_eof;
    ZSTD_DStream *ds;
    unsigned char *in; /* raw bytes from the file */
    ZSTD_inBuffer inb;
    size_t frame_left; /* last ZSTD_decompressStream hint: 0 between frames */
    char *buf;         /* decoded bytes: [pos, len) not yet returned */
    size_t pos, len, cap, scanned;
    size_t lineno;
};

enum { IN_CHUNK = 1 << 17 };

/* A zstd frame or a skippable frame starts here (little-endian magic). */
static bool is_zstd_magic(const unsigned char *p) {
    uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return m == ZSTD_MAGICNUMBER || (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

/* The first got bytes (got < 4) may still begin one of those magics. A
 * co-process's first line can be shorter than a magic ("1\n", "0\n"):
 * waiting for a fourth byte that only comes after the answer would
 * deadlock, so the sniff stops as soon as the bytes rule both out. */
static bool maybe_zstd_magic(const unsigned char *p, size_t got) {
    static const unsigned char zstd[4] = {0x28, 0xB5, 0x2F, 0xFD}, skip[4] = {0x50, 0x2A, 0x4D, 0x18};
    bool z = true, s = true;
    for (size_t i = 0; i < got && i < 4; i++) {
        z = z && p[i] == zstd[i];
        s = s && (i == 0 ? (p[i] & 0xF0) == skip[0] : p[i] == skip[i]);
    }
    return z || s;
}

/* read(2), not fread: a pipe's reader must see a line as soon as it arrives
 * (a co-process waits for its answer), not when a whole buffer has filled. */
static size_t read_some(pic_reader *r, void *buf, size_t n) {
    for (;;) {
        ssize_t got = read(fileno(r->fp), buf, n);
        if (got >= 0) return (size_t)got;
        if (errno != EINTR) pic_die("%s: read error: %s", r->name, strerror(errno));
    }
}

pic_reader *pic_reader_open(const char *path) {
    /* opened before anything is allocated: the error exit leaks nothing
     * (LeakSanitizer reported the reader now and then) */
    bool is_stdin = !path || strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) pic_die("%s: %s", path, strerror(errno));
    pic_reader *r = pic_calloc(1, sizeof *r);
    r->is_stdin = is_stdin;
    r->name = pic_strdup(is_stdin ? "<stdin>" : path);
    r->fp = fp;
    r->in = pic_malloc(IN_CHUNK);
    r->cap = 1 << 16;
    r->buf = pic_malloc(r->cap);

    /* Sniff the first bytes: zstd frames (and skippable frames) announce
     * themselves by magic number; anything else is plain text. */
    size_t got = 0, more = 1;
    while (got < 4 && maybe_zstd_magic(r->in, got) && (more = read_some(r, r->in + got, IN_CHUNK - got)) > 0)
        got += more;
    if (more == 0) r->file_eof = true;
    if (got >= 4 && is_zstd_magic(r->in)) {
        r->zstd = true;
        r->ds = ZSTD_createDStream();
        if (!r->ds) pic_die("out of memory (zstd)");
        /* any window a frame asks for: a dataset compressed with `zstd
         * --long=31` from a pipe names a 2 GiB one, which the decoder's
         * default limit (128 MiB) refused as a "corrupt zstd stream" */
        ZSTD_bounds wl = ZSTD_dParam_getBounds(ZSTD_d_windowLogMax);
        if (ZSTD_isError(wl.error) || ZSTD_isError(ZSTD_DCtx_setParameter(r->ds, ZSTD_d_windowLogMax, wl.upperBound)))
            pic_die("%s: zstd: cannot raise the window limit", r->name);
        r->inb = (ZSTD_inBuffer){r->in, got, 0};
        r->frame_left = 1;
    } else {
        if (got > r->cap) r->buf = pic_realloc(r->buf, r->cap = got);
        memcpy(r->buf, r->in, got);
        r->len = got;
    }
    return r;
}

void pic_reader_close(pic_reader *r) {
    if (!r) return;
    if (!r->is_stdin && r->fp) fclose(r->fp);
    ZSTD_freeDStream(r->ds);
    free(r->in);
    free(r->buf);
    free(r->name);
    free(r);
}

const char *pic_reader_name(const pic_reader *r) { return r->name; }
size_t pic_reader_lineno(const pic_reader *r) { return r->lineno; }

/* Through pic_die: its message is one write (under mpirun the ranks' stderr
 * share a stream, and the pieces of two ranks' messages interleaved), and
 * its hook runs (pic-update --serve saves its last checkpoint's state, as
 * for a request's missing file; a bad record left it weights-only). */
static _Noreturn void record_vdie(const char *file, size_t line, const char *field, const char *fmt, va_list ap) {
    char msg[4096]; /* on the stack: the exit below leaks nothing */
    vsnprintf(msg, sizeof msg, fmt, ap);
    pic_die("%s:%zu: %s%s%s%s", file, line, field ? "field '" : "", field ? field : "", field ? "': " : "", msg);
}

void pic_reader_die(const pic_reader *r, const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record_vdie(r->name, r->lineno, field, fmt, ap);
}

bool pic_skip_bad;
size_t pic_bad_records;

void pic_bad_record(const char *file, size_t line, const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!pic_skip_bad) record_vdie(file, line, field, fmt, ap);
    va_end(ap);
    pic_bad_records++;
}

void pic_reader_bad(const pic_reader *r, const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!pic_skip_bad) record_vdie(r->name, r->lineno, field, fmt, ap);
    va_end(ap);
    pic_bad_records++;
}

void pic_die_no_records(int n, char *const *paths, const char *what) {
    enum { SHOWN = 4 }; /* a glob of step files would fill the screen */
    pic_buf b = {0};
    for (int i = 0; i < (n ? n : 1) && i < SHOWN; i++)
        pic_buf_printf(&b, "%s%s", i ? ", " : "", n && strcmp(paths[i], "-") ? paths[i] : "<stdin>");
    if (n > SHOWN) pic_buf_printf(&b, " and %d more file%s", n - SHOWN, pic_plural(n - SHOWN));
    char files[1024]; /* on the stack: the exit below leaks nothing */
    snprintf(files, sizeof files, "%s", b.data);
    pic_buf_free(&b);
    if (pic_bad_records)
        pic_die("%s: no %s (%zu bad record%s skipped, --skip-bad)", files, what, pic_bad_records,
                pic_plural((long long)pic_bad_records));
    pic_die("%s: no %s", files, what);
}

void pic_note_bad_records(void) {
    if (pic_bad_records)
        pic_info("%zu bad record%s skipped (--skip-bad)", pic_bad_records, pic_plural((long long)pic_bad_records));
}

/* Makes room for more bytes after len: drops what was returned, grows if full. */
static void make_room(pic_reader *r) {
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->scanned -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < 4096) r->buf = pic_realloc(r->buf, r->cap *= 2);
}

/* Appends decoded bytes to buf; returns false at a clean end of input. */
static bool refill(pic_reader *r) {
    make_room(r);
    if (!r->zstd) {
        if (r->file_eof) return false;
        size_t got = read_some(r, r->buf + r->len, r->cap - r->len);
        if (got == 0) r->file_eof = true;
        r->len += got;
        return got > 0;
    }
    for (;;) {
        if (r->inb.pos == r->inb.size && !r->file_eof) {
            size_t got = read_some(r, r->in, IN_CHUNK);
            if (got == 0) r->file_eof = true;
            r->inb = (ZSTD_inBuffer){r->in, got, 0};
        }
        ZSTD_outBuffer out = {r->buf + r->len, r->cap - r->len, 0};
        size_t in_before = r->inb.pos;
        size_t ret = ZSTD_decompressStream(r->ds, &out, &r->inb);
        if (ZSTD_isError(ret)) {
            /* between frames, bytes that are no frame: most often a plain
             * file appended to a compressed one */
            if (r->frame_left == 0 && ZSTD_getErrorCode(ret) == ZSTD_error_prefix_unknown)
                pic_die("%s: corrupt zstd stream after line %zu: what follows is not a zstd frame "
                        "(plain text appended to a zstd file? give the parts as separate files)",
                        r->name, r->lineno);
            pic_die("%s: corrupt zstd stream after line %zu: %s", r->name, r->lineno, ZSTD_getErrorName(ret));
        }
        /* A call that neither read nor wrote says nothing about the frame. */
        if (out.pos > 0 || r->inb.pos != in_before) r->frame_left = ret;
        r->len += out.pos;
        if (out.pos > 0) return true;
        if (r->file_eof && r->inb.pos == r->inb.size) {
            if (r->frame_left != 0)
                pic_die("%s: truncated zstd stream (the last frame is incomplete) after line %zu", r->name,
                        r->lineno);
            return false;
        }
    }
}

char *pic_reader_line(pic_reader *r, size_t *len) {
    for (;;) {
        char *nl = memchr(r->buf + r->scanned, '\n', r->len - r->scanned);
        if (nl) {
            char *line = r->buf + r->pos;
            size_t n = (size_t)(nl - line);
            r->pos = r->scanned = (size_t)(nl - r->buf) + 1;
            r->lineno++;
            if (n > 0 && line[n - 1] == '\r') n--;
            line[n] = '\0';
            if (len) *len = n;
            return line;
        }
        r->scanned = r->len;
        if (!refill(r)) break;
    }
    if (r->pos == r->len) return NULL;
    /* A last line without its newline. */
    if (r->len == r->cap) r->buf = pic_realloc(r->buf, r->cap + 1);
    char *line = r->buf + r->pos;
    size_t n = r->len - r->pos;
    r->pos = r->scanned = r->len;
    r->lineno++;
    if (n > 0 && line[n - 1] == '\r') n--;
    line[n] = '\0';
    if (len) *len = n;
    return line;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

size_t pic_nul_column(const char *s, size_t n) {
    const char *nul = memchr(s, '\0', n);
    if (!nul) return 0;
    size_t col = 1;
    for (const char *p = s; p < nul; p++) col += ((unsigned char)*p & 0xC0) != 0x80;
    return col;
}

size_t pic_nul_line(const char *s, size_t n, size_t *column) {
    const char *nul = memchr(s, '\0', n), *bol = s;
    if (!nul) return 0;
    size_t line = 1;
    for (const char *p = s; p < nul; p++)
        if (*p == '\n') line++, bol = p + 1;
    *column = pic_nul_column(bol, (size_t)(nul - bol) + 1);
    return line;
}

json_t *pic_reader_json(pic_reader *r) {
    for (;;) {
        size_t n;
        char *line;
        while ((line = pic_reader_line(r, &n))) {
            /* a byte-order mark before the first record (Windows editors
             * write one) is skipped, as jq does */
            if (r->lineno == 1) {
                size_t bom = pic_utf8_bom(line, n);
                line += bom, n -= bom;
            }
            if (!is_blank(line, n)) break;
        }
        if (!line) return NULL;
        json_error_t err;
        /* NUL characters (\u0000) are text like any other, a raw NUL byte
         * malformed wherever it is (jansson alone drops one after a number:
         * {"reward": 0.5\0} read as 0.5); a key given twice would silently
         * keep one of two values */
        json_t *v = pic_json_loadb(line, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
        if (!v && !r->zstd && memmem(line, n, "\x28\xb5\x2f\xfd", 4)) {
            /* a compressed file appended to a plain one reads as binary */
            pic_reader_bad(r, NULL, "malformed JSON: zstd data inside a plain stream (a zstd file appended "
                                    "to a plain one? give the parts as separate files)");
        } else if (!v && !r->zstd && r->lineno == 1 && n >= 2 && !memcmp(line, "\x1f\x8b", 2)) {
            pic_reader_bad(r, NULL, "malformed JSON: gzip data (pic reads plain or zstd JSON Lines: "
                                    "zcat it, or recompress with zstd)");
        } else if (!v) {
            pic_reader_bad(r, NULL, "malformed JSON at column %d: %s", err.column, err.text);
        } else if (!json_is_object(v)) {
            json_decref(v);
            pic_reader_bad(r, NULL, "expected a JSON object");
        } else {
            return v;
        }
    }
}

/* A job queued for the writer's own thread (pic_writer_background). */
typedef struct {
    pic_writer_job *fn;
    void *ctx;
} job;

/* Jobs the caller may run ahead of the writer's thread before it waits:
 * enough to ride over one slow write, few enough that a consumer that
 * stops reading stops the producer soon. */
enum { QUEUE_DEPTH = 64 };

struct pic_writer {
    FILE *fp;
    char *name;
    bool is_stdout;
    pic_atomic_file atomic;
    ZSTD_CStream *cs;
    char *out;
    size_t out_cap;
    pic_buf line;
    double last_flush;

    /* background mode: a ring of jobs [head, head + count) */
    bool background;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a job queued or taken, or the end asked for */
    job queue[QUEUE_DEPTH];
    int head, count;
    bool ending;            /* asked to end once the queue is empty */
};

pic_writer *pic_writer_open(const char *path, pic_compress mode, int level) {
    pic_writer *w = pic_calloc(1, sizeof *w);
    w->is_stdout = !path || strcmp(path, "-") == 0;
    char out[4200]; /* a write error names the file a shell's > opened */
    w->name = pic_strdup(w->is_stdout ? pic_stdout_name(out, sizeof out) : path);
    w->fp = w->is_stdout ? stdout : pic_atomic_open(&w->atomic, path);
    bool compress = mode == PIC_COMPRESS_ALWAYS ||
                    (mode == PIC_COMPRESS_AUTO && !(w->is_stdout && isatty(STDOUT_FILENO)));
    if (compress) {
        w->cs = ZSTD_createCStream();
        if (!w->cs) pic_die("out of memory (zstd)");
        size_t ret = ZSTD_CCtx_setParameter(w->cs, ZSTD_c_compressionLevel, level ? level : 3);
        if (ZSTD_isError(ret)) pic_die("zstd level %d: %s", level, ZSTD_getErrorName(ret));
        w->out_cap = ZSTD_CStreamOutSize();
        w->out = pic_malloc(w->out_cap);
    }
    w->last_flush = pic_now();
    return w;
}

static void put(pic_writer *w, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, w->fp) != n)
        pic_die("%s: write error: %s", w->name, strerror(errno));
}

static void compress(pic_writer *w, const char *data, size_t n, ZSTD_EndDirective op) {
    ZSTD_inBuffer in = {data, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cs, &out, &in, op);
        if (ZSTD_isError(left)) pic_die("%s: zstd: %s", w->name, ZSTD_getErrorName(left));
        put(w, w->out, out.pos);
        if (op == ZSTD_e_continue ? in.pos == in.size : left == 0) break;
    }
}

/* Whether a call queues its work: in background mode, unless it comes from
 * the writer's own thread (a job), where it goes straight through. */
static bool queued(const pic_writer *w) { return w->background && !pthread_equal(pthread_self(), w->thread); }

static void *run_jobs(void *arg) {
    pic_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->count && !w->ending) pthread_cond_wait(&w->changed, &w->mu);
        if (!w->count) break;
        job j = w->queue[w->head];
        w->head = (w->head + 1) % QUEUE_DEPTH;
        w->count--;
        pthread_cond_broadcast(&w->changed); /* room for a caller that waits */
        pthread_mutex_unlock(&w->mu);
        j.fn(w, j.ctx);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void pic_writer_background(pic_writer *w) {
    if (w->background) return;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->head = w->count = 0;
    w->ending = false;
    int rc = pthread_create(&w->thread, NULL, run_jobs, w);
    if (rc) pic_die("%s: cannot start its writer thread: %s", w->name, strerror(rc));
    w->background = true;
}

void pic_writer_foreground(pic_writer *w) {
    if (!w->background) return;
    pthread_mutex_lock(&w->mu);
    w->ending = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->mu);
    w->background = false;
}

void pic_writer_defer(pic_writer *w, pic_writer_job *fn, void *ctx) {
    if (!queued(w)) {
        fn(w, ctx);
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->count == QUEUE_DEPTH) pthread_cond_wait(&w->changed, &w->mu);
    w->queue[(w->head + w->count) % QUEUE_DEPTH] = (job){fn, ctx};
    w->count++;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
}

static void write_bytes(pic_writer *w, const char *data, size_t n) {
    if (w->cs) compress(w, data, n, ZSTD_e_continue);
    else put(w, data, n);
}

/* A record's line is out: a slow producer (generation) should not leave
 * its reader waiting on a half-full compression block, so flush at most
 * once a second. Plain output is for people and co-processes: every
 * record goes out at once. */
static void line_written(pic_writer *w) {
    double now = pic_now();
    if (!w->cs || now - w->last_flush > 1.0) {
        if (w->cs) compress(w, "", 0, ZSTD_e_flush);
        if (fflush(w->fp) != 0) pic_die("%s: write error: %s", w->name, strerror(errno));
        w->last_flush = now;
    }
}

typedef struct {
    bool line; /* a record's line (flushed as one), or bytes as given */
    size_t n;
    char data[];
} bytes;

static void write_bytes_job(pic_writer *w, void *ctx) {
    bytes *b = ctx;
    write_bytes(w, b->data, b->n);
    if (b->line) line_written(w);
    free(b);
}

static void queue_bytes(pic_writer *w, const char *data, size_t n, bool line) {
    bytes *b = pic_malloc(sizeof *b + n);
    b->line = line;
    b->n = n;
    memcpy(b->data, data, n);
    pic_writer_defer(w, write_bytes_job, b);
}

void pic_writer_write(pic_writer *w, const char *data, size_t n) {
    if (queued(w)) queue_bytes(w, data, n, false);
    else write_bytes(w, data, n);
}

void pic_writer_line(pic_writer *w, const char *data, size_t n) {
    if (queued(w)) {
        queue_bytes(w, data, n, true);
        return;
    }
    write_bytes(w, data, n);
    line_written(w);
}

static void print_line(pic_buf *line, const json_t *obj) {
    line->len = 0;
    pic_json_dump(line, obj);
    pic_buf_append(line, "\n", 1);
}

/* The caller keeps its object, and may change or drop it at once: it is
 * printed here, on the caller's thread. (A reference handed to the
 * writer's thread instead would race with the caller's json_decref:
 * jansson drops its references with release ordering alone, so the
 * caller freeing it would not be ordered after that thread's reads.) */
void pic_writer_json(pic_writer *w, const json_t *obj) {
    if (queued(w)) {
        pic_buf line = {0};
        print_line(&line, obj);
        queue_bytes(w, line.data, line.len, true);
        pic_buf_free(&line);
        return;
    }
    print_line(&w->line, obj);
    write_bytes(w, w->line.data, w->line.len);
    line_written(w);
}

static void write_json_new_job(pic_writer *w, void *ctx) {
    pic_writer_json(w, ctx);
    json_decref(ctx);
}

void pic_writer_json_new(pic_writer *w, json_t *obj) {
    if (queued(w)) {
        pic_writer_defer(w, write_json_new_job, obj);
        return;
    }
    pic_writer_json(w, obj);
    json_decref(obj);
}

void pic_writer_close(pic_writer *w) {
    pic_writer_foreground(w);
    if (w->cs) compress(w, "", 0, ZSTD_e_end);
    if (fflush(w->fp) != 0 || ferror(w->fp))
        pic_die("%s: write error: %s", w->name, strerror(errno));
    if (!w->is_stdout && pic_atomic_commit(&w->atomic) != 0)
        pic_die("%s: %s", w->name, strerror(errno));
    ZSTD_freeCStream(w->cs);
    free(w->out);
    pic_buf_free(&w->line);
    free(w->name);
    free(w);
}
