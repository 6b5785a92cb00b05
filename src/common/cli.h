/* Command-line conventions shared by every pic program (docs/conventions.md):
 * messages on stderr prefixed with the program's name, exit codes 0 / 1 / 2,
 * --help on stdout, --version, strict parsing of numeric options. */
#ifndef PIC_CLI_H
#define PIC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum { PIC_EXIT_OK = 0, PIC_EXIT_FAIL = 1, PIC_EXIT_USAGE = 2 };

#ifndef PIC_VERSION
#define PIC_VERSION "0.1"
#endif

/* C11's _Noreturn, which C++ (the .cu files that include this) spells as
 * an attribute */
#ifdef __cplusplus
#define PIC_NORETURN [[noreturn]]
#else
#define PIC_NORETURN _Noreturn
#endif

extern const char *pic_prog; /* set by pic_init; "pic" before */
extern int pic_quiet;        /* --quiet: no progress, no summary */

void pic_init(const char *prog);

/* "PROG: message" on stderr, then exit 1 (runtime failure). */
PIC_NORETURN void pic_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* While set, pic_die adds "; NOTE" to its message: what a failure leaves
 * behind that the failing code cannot know of (pic-update: a controller
 * that has already taken the step's entropy). */
extern const char *pic_die_note;
/* When set, pic_die calls it once, after its message and before the exit
 * (usage errors do not): a server's chance to leave what it holds
 * consistent. It may itself die; that exit is plain. */
extern void (*pic_die_hook)(void);
/* "PROG: message" and "Try 'PROG --help'." on stderr, then exit 2. */
PIC_NORETURN void pic_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct option;
/* getopt_long, except that an unknown option, a missing argument or an
 * argument given to an option that takes none is a usage error that says
 * which, under the program's name (getopt's own line would name argv[0] as
 * typed, and one '?' cannot tell the cases apart). */
int pic_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, int *longindex);
/* "PROG: message" on stderr, no exit. */
void pic_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line on stderr unless --quiet: the summary a program prints at its end. */
void pic_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "s" unless n is 1, for a count's noun: "%zu record%s", n, pic_plural(n). */
static inline const char *pic_plural(long long n) { return n == 1 ? "" : "s"; }

/* Prints "PROG (pic) VERSION" on stdout and exits 0. */
PIC_NORETURN void pic_print_version(void);
/* Prints text on stdout and exits 0 (the --help convention). */
PIC_NORETURN void pic_print_help(const char *text);

/* Option values: the whole string must parse, and lie in [min, max];
 * otherwise a usage error naming the option ("--temperature"). */
double pic_parse_double(const char *opt, const char *s, double min, double max);
/* The same number without the exit, for values read from files: 0 when s
 * is a decimal number (no blanks, hexadecimal, inf or nan) into *v, one
 * below DBL_MIN as its nearest double; 1 when it is past a double's range;
 * -1 when it is no number. */
int pic_decimal(const char *s, double *v);
long long pic_parse_int(const char *opt, const char *s, long long min, long long max);

/* s without its leading and trailing whitespace (cut off in place). */
char *pic_trim(char *s);

/* A list as an option or a list file gives one: items separated by any
 * byte of seps, each trimmed of whitespace. When seps holds '\n', '#'
 * starts a comment to the end of its line, and a line of nothing but
 * whitespace and comment holds no item (a file's blank lines). */
typedef struct {
    size_t n;
    char **items; /* pointing into text */
    char *text;
} pic_list;
/* Splits s into l. An empty item ("1,,2", "1,", ",") is refused with -1
 * (l then empty): strtok_r passed over one, so a slip in a list went
 * unnoticed while an empty list was an error. */
int pic_list_split(pic_list *l, const char *s, const char *seps);
void pic_list_free(pic_list *l);
/* A comma-separated option value ("--k 1,4,16"): an empty value or an empty
 * item is a usage error naming opt. */
void pic_option_list(pic_list *l, const char *opt, const char *arg);

/* The options every program that writes a record stream shares
 * (docs/conventions.md): -o/--output, --plain, --level, -q/--quiet, -h/--help
 * and --version. Put PIC_OUTPUT_OPTIONS in the struct option table, "o:qh"
 * in the short options, and hand every option the program does not know
 * itself to pic_output_option, which returns false for an unknown one. */
typedef struct {
    const char *output; /* NULL: standard output */
    bool plain;
    int level;          /* zstd level, 3 unless --level */
    bool level_given;   /* --level, which --plain leaves nothing to apply to */
} pic_output_opts;

enum { PIC_OPT_PLAIN = 0x1000, PIC_OPT_LEVEL, PIC_OPT_VERSION };
#define PIC_OUTPUT_OPTIONS                                                                         \
    {"output", required_argument, 0, 'o'}, {"plain", no_argument, 0, PIC_OPT_PLAIN},              \
        {"level", required_argument, 0, PIC_OPT_LEVEL}, {"quiet", no_argument, 0, 'q'},           \
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, PIC_OPT_VERSION}
bool pic_output_option(int c, const char *arg, pic_output_opts *o, const char *usage);

/* Flushes standard output and dies ("standard output (FILE): write error:
 * REASON", pic_stdout_name) if any write to it failed (a full disk,
 * /dev/full, a closed pipe). */
void pic_stdout_close(void);
/* "standard output", naming what it is open on where the system says
 * (Linux's /proc/self/fd/1): "standard output (/data/r.jsonl)", "(a pipe)",
 * "(a socket)". Into buf (size bytes), which it returns. For a write
 * error's message: a shell's redirection (> r.jsonl) does not show in it. */
const char *pic_stdout_name(char *buf, size_t size);
/* "NAME: write error: REASON" (NAME as pic_stdout_name; err 0 for a reason
 * not known), exit 1. */
PIC_NORETURN void pic_stdout_write_error(int err);

/* For library functions that report instead of dying: the message into
 * err (errsize bytes, may be NULL), and -1 to return. */
int pic_errf(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Allocation that dies with a message instead of returning NULL. */
void *pic_malloc(size_t n);
void *pic_calloc(size_t n, size_t size);
void *pic_realloc(void *p, size_t n);
char *pic_strdup(const char *s);
/* A large buffer (weights, KV cache, activations, optimizer state), 64-byte
 * aligned and, from 2 MB up, on transparent huge pages where the kernel
 * gives them on request (its default, "madvise"). The first touch of a
 * 4 KB page cost 12-15 us on the VMs pic is built on, so a batch-8 decode
 * spent a seventh of its time faulting in its KV cache (docs/model.md).
 * NULL when out of memory, for the caller's own message; free() frees it. */
void *pic_alloc_pages(size_t bytes);
char *pic_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file (NUL-terminated; *len gets the size without it). Dies
 * with the file's name on error. */
char *pic_read_file(const char *path, size_t *len);
/* The same for library code that reports instead of dying: NULL, with errno
 * saying why, when the file cannot be opened or read. The text may hold NUL
 * bytes: use *len, not strlen (pic_json_loadb refuses them in JSON). */
char *pic_try_read_file(const char *path, size_t *len);

#endif
