/* Messages, exit codes and option parsing shared by every program. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *pic_prog = "pic";
int pic_quiet;
/* The command as typed, for "Try 'PROG --help'": pic_prog becomes
 * "pic-update[1/2]" under mpirun (dist_mpi.c), a name no shell runs. */
static const char *command = "pic";

void pic_init(const char *prog) { pic_prog = command = prog; }

/* The line goes out in one write: under mpirun every rank's stderr and
 * mpirun's own banners share one stream, and pieces would interleave. */
static void vmessage(const char *note, const char *fmt, va_list ap) {
    char *body = NULL;
    if (vasprintf(&body, fmt, ap) < 0) body = NULL;
    fprintf(stderr, "%s: %s%s%s\n", pic_prog, body ? body : fmt, note ? "; " : "", note ? note : "");
    free(body);
}

const char *pic_die_note;
void (*pic_die_hook)(void);

void pic_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(pic_die_note, fmt, ap);
    va_end(ap);
    void (*hook)(void) = pic_die_hook;
    pic_die_hook = NULL; /* once: a failure inside it exits */
    pic_die_note = NULL;
    if (hook) hook();
    exit(PIC_EXIT_FAIL);
}

void pic_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(NULL, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", command);
    exit(PIC_EXIT_USAGE);
}

int pic_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, int *longindex) {
    opterr = 0;
    optopt = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, longindex);
    if (c != '?') return c;
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (!strncmp(arg, "--", 2)) {
        size_t len = strcspn(arg + 2, "=");
        for (const struct option *o = longopts; optopt && o && o->name; o++)
            if (o->val == optopt && !strncmp(o->name, arg + 2, len)) {
                if (o->has_arg == no_argument) pic_usage_error("option '--%s' takes no argument", o->name);
                pic_usage_error("option '--%s' needs an argument", o->name);
            }
        pic_usage_error("unknown or ambiguous option '%.*s'", (int)(len + 2), arg);
    }
    const char *at = optopt ? strchr(shortopts, optopt) : NULL;
    if (at && at[1] == ':') pic_usage_error("option '-%c' needs an argument", optopt);
    if (optopt) pic_usage_error("unknown option '-%c'", optopt);
    pic_usage_error("unknown option '%s'", arg);
}

void pic_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(NULL, fmt, ap);
    va_end(ap);
}

void pic_info(const char *fmt, ...) {
    if (pic_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vmessage(NULL, fmt, ap);
    va_end(ap);
}

static void stdout_close(int err);

/* stdout is checked like any output: --help into a full pipe is a
 * failure. err: the reason a write before failed with, 0 if none did
 * (the help's text fills stdio's buffer, whose failed write leaves
 * nothing for the last flush to fail on). */
static _Noreturn void exit_checking_stdout(int err) {
    stdout_close(err);
    exit(PIC_EXIT_OK);
}

void pic_print_version(void) {
    exit_checking_stdout(printf("%s (pic) %s\n", pic_prog, PIC_VERSION) < 0 ? errno : 0);
}

void pic_print_help(const char *text) {
    exit_checking_stdout(fputs(text, stdout) == EOF ? errno : 0);
}

/* A decimal number as a person types one: strtod alone would also take
 * " 1", "0x1p-3", "inf" and "nan", which no option here means. */
static bool is_decimal(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!(*s >= '0' && *s <= '9') && *s != '.') return false;
    return strspn(s, "0123456789.eE+-") == strlen(s);
}

/* A number too large for its type is a number still: past the range, as
 * one that fits would be ("1e999", "18446744073709551615"). strtod's
 * ERANGE also flags a value below DBL_MIN, which reads as its nearest
 * double (0 at worst), as it does in JSON. */
int pic_decimal(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (!is_decimal(s) || end == s || *end != '\0' || isnan(*v)) return -1;
    return errno == ERANGE && fabs(*v) > DBL_MIN ? 1 : 0;
}

double pic_parse_double(const char *opt, const char *s, double min, double max) {
    double v;
    int rc = pic_decimal(s, &v);
    if (rc < 0) pic_usage_error("%s: '%s' is not a number", opt, s);
    if (rc > 0 || v < min || v > max) pic_usage_error("%s: %s is outside [%g, %g]", opt, s, min, max);
    return v;
}

long long pic_parse_int(const char *opt, const char *s, long long min, long long max) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') pic_usage_error("%s: '%s' is not an integer", opt, s);
    if (errno == ERANGE || v < min || v > max) pic_usage_error("%s: %s is outside [%lld, %lld]", opt, s, min, max);
    return v;
}

char *pic_trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

int pic_list_split(pic_list *l, const char *s, const char *seps) {
    bool lines = strchr(seps, '\n') != NULL;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += strchr(seps, *p) != NULL;
    l->n = 0;
    l->items = pic_malloc(cap * sizeof *l->items);
    l->text = pic_strdup(s);
    if (lines)
        for (char *c = l->text; (c = strchr(c, '#'));)
            while (*c && *c != '\n') *c++ = ' ';
    for (char *line = l->text, *next; line; line = next) {
        next = lines ? strchr(line, '\n') : NULL;
        if (next) *next++ = '\0';
        if (lines && !*pic_trim(line)) continue;
        for (char *item = line, *end; item; item = end) {
            end = strpbrk(item, seps);
            if (end) *end++ = '\0';
            item = pic_trim(item);
            if (!*item) {
                pic_list_free(l);
                return -1;
            }
            l->items[l->n++] = item;
        }
    }
    return 0;
}

void pic_list_free(pic_list *l) {
    free(l->items);
    free(l->text);
    *l = (pic_list){0};
}

void pic_option_list(pic_list *l, const char *opt, const char *arg) {
    if (!*arg) pic_usage_error("%s: empty list", opt);
    if (pic_list_split(l, arg, ",")) pic_usage_error("%s: an empty item in '%s'", opt, arg);
}

bool pic_output_option(int c, const char *arg, pic_output_opts *o, const char *usage) {
    switch (c) {
    case 'o': o->output = arg; return true;
    case PIC_OPT_PLAIN:
    case PIC_OPT_LEVEL:
        if (c == PIC_OPT_PLAIN) o->plain = true;
        else o->level = (int)pic_parse_int("--level", arg, 1, 19), o->level_given = true;
        /* an accepted option works: a level of no compression is a mistake */
        if (o->plain && o->level_given) pic_usage_error("--level: --plain writes no compression");
        return true;
    case 'q': pic_quiet = 1; return true;
    case 'h': pic_print_help(usage);
    case PIC_OPT_VERSION: pic_print_version();
    default: return false;
    }
}

int pic_errf(char *err, size_t errsize, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && errsize) vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
    return -1;
}

void *pic_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) pic_die("out of memory (%zu bytes)", n);
    return p;
}

void *pic_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) pic_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *pic_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) pic_die("out of memory (%zu bytes)", n);
    return q;
}

void *pic_alloc_pages(size_t bytes) {
    enum { HUGE = 2 << 20 };
    if (bytes > SIZE_MAX - HUGE) return NULL;
    size_t align = bytes >= HUGE ? HUGE : 64, n = bytes ? (bytes + align - 1) / align * align : align;
    void *p = aligned_alloc(align, n);
#ifdef MADV_HUGEPAGE
    if (p && align == HUGE) madvise(p, n, MADV_HUGEPAGE); /* a hint: without THP the pages stay small */
#endif
    return p;
}

char *pic_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(pic_malloc(n), s, n);
}

char *pic_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) pic_die("bad format '%s'", fmt);
    char *s = pic_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* The bytes of f to its end, NUL-terminated; NULL (errno set) on a read error. */
static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = pic_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = pic_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *pic_try_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = read_all(f, len);
    int e = errno;
    fclose(f);
    errno = e;
    return buf;
}

char *pic_read_file(const char *path, size_t *len) {
    char *buf = pic_try_read_file(path, len);
    if (!buf) pic_die("%s: %s", path, strerror(errno));
    return buf;
}

const char *pic_stdout_name(char *buf, size_t size) {
    char link[4096];
    ssize_t n = readlink("/proc/self/fd/1", link, sizeof link - 1);
    if (n > 0) link[n] = '\0';
    const char *what = n <= 0                          ? NULL
                       : link[0] == '/'                ? link
                       : !strncmp(link, "pipe:", 5)    ? "a pipe"
                       : !strncmp(link, "socket:", 7)  ? "a socket"
                                                       : NULL;
    if (what) snprintf(buf, size, "standard output (%s)", what);
    else snprintf(buf, size, "standard output");
    return buf;
}

/* As gnulib's close_stdout (lib/closeout.c): the file named, and the
 * reason where the failed flush gave one (a failure earlier, seen only in
 * ferror, left no errno to trust). */
void pic_stdout_close(void) { stdout_close(0); }

static void stdout_close(int err) {
    if (fflush(stdout) != 0) err = errno;
    if (err || ferror(stdout)) pic_stdout_write_error(err);
}

void pic_stdout_write_error(int err) {
    char name[4200]; /* on the stack: the exit below leaks nothing */
    pic_stdout_name(name, sizeof name);
    if (err) pic_die("%s: write error: %s", name, strerror(err));
    pic_die("%s: write error", name);
}
