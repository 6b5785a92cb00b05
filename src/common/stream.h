/* JSON Lines streams, plain or zstd-compressed (docs/streams.md).
 *
 * A reader tells zstd from plain text by the magic number, never the name,
 * accepts concatenated frames, and treats a truncated or corrupt frame as an
 * error. Lines may be of any length. A writer compresses unless told not to
 * or unless its output is a terminal, and checks every write at close. */
#ifndef PIC_STREAM_H
#define PIC_STREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pic_reader pic_reader;

/* path NULL or "-" reads stdin. Dies (exit 1) when the file cannot be opened. */
pic_reader *pic_reader_open(const char *path);
void pic_reader_close(pic_reader *r);

/* The next line without its newline, NUL-terminated, valid until the next
 * call; NULL at the end. *len (if given) gets its length. Dies on I/O error or
 * a truncated/corrupt zstd stream. */
char *pic_reader_line(pic_reader *r, size_t *len);

/* The next non-blank line parsed as a JSON object (a new reference); NULL at
 * the end. Malformed JSON (a raw NUL byte anywhere included), a key given
 * twice or a non-object is a bad record
 * (pic_reader_bad): it dies naming file and line, or under --skip-bad is
 * counted and passed over. */
json_t *pic_reader_json(pic_reader *r);

/* The column of the first NUL byte in s[0, n), from 1, counting characters
 * as jansson's messages do (a UTF-8 sequence is one); 0 when there is none.
 * A raw NUL byte is in no valid line of a stream: pic_reader_json refuses
 * it as malformed JSON, pictl's plain numbers likewise. */
size_t pic_nul_column(const char *s, size_t n);
/* The line (from 1) of the first NUL byte in the text s[0, n), and in
 * *column its column on that line (as pic_nul_column); 0 when there is none.
 * For whole files read as text: a C string would end at it, silently. */
size_t pic_nul_line(const char *s, size_t n, size_t *column);

const char *pic_reader_name(const pic_reader *r); /* "<stdin>" or the path */
size_t pic_reader_lineno(const pic_reader *r);     /* line of the last line returned, from 1 */

/* "PROG: FILE:LINE: field 'F': message" (field may be NULL), exit 1. */
_Noreturn void pic_reader_die(const pic_reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --skip-bad (docs/conventions.md), one behaviour for every program: a
 * program sets pic_skip_bad from its option, reports each bad record with
 * pic_reader_bad, which dies like pic_reader_die without --skip-bad and
 * otherwise counts the record in pic_bad_records and returns (the caller
 * drops the record), and ends with pic_note_bad_records ("N bad records
 * skipped" unless --quiet). */
extern bool pic_skip_bad;
extern size_t pic_bad_records;
void pic_reader_bad(const pic_reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a record read earlier, by its file and line. */
void pic_bad_record(const char *file, size_t line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pic_note_bad_records(void);

/* "FILES: no WHAT", exit 1, for a program whose n input FILEs (paths, as on
 * its command line) held none (what: "records", ...): they are named as
 * the reader names them ("a.jsonl, b.jsonl"; none or "-" is "<stdin>";
 * beyond four, "and N more files"), and the bad records --skip-bad passed
 * over, if any, are counted. */
_Noreturn void pic_die_no_records(int n, char *const *paths, const char *what);

typedef struct pic_writer pic_writer;

typedef enum {
    PIC_COMPRESS_AUTO, /* zstd unless the output is a terminal */
    PIC_COMPRESS_NEVER,
    PIC_COMPRESS_ALWAYS,
} pic_compress;

/* path NULL or "-" writes stdout; level is zstd's (1..19, 0 for its default). */
pic_writer *pic_writer_open(const char *path, pic_compress mode, int level);
void pic_writer_write(pic_writer *w, const char *data, size_t n);
/* A whole line of text (its newline included), out as a record's is: at
 * once when plain (a co-process waits for it), within a second when zstd. */
void pic_writer_line(pic_writer *w, const char *data, size_t n);
/* One record: the object as compact JSON (docs/streams.md, pic_json_dump) and a newline. */
void pic_writer_json(pic_writer *w, const json_t *obj);
/* The same, taking the caller's reference to obj, as jansson's _new
 * functions do: the caller must not touch obj again. */
void pic_writer_json_new(pic_writer *w, json_t *obj);
/* Background mode, for a caller whose time is worth more than the writing
 * (pic-rollout's thread that drives a GPU waits for nothing else):
 * pic_writer_background starts a thread of the writer's own, after which
 * pic_writer_json_new hands it the object, pic_writer_json its printed
 * line, pic_writer_write a copy of the bytes and pic_writer_defer the job
 * fn(w, ctx), and the thread prints, compresses and writes them, and runs
 * the jobs, in the order they came. A caller more than a few dozen jobs
 * ahead waits for it. A job's own calls go straight through. An error on
 * that thread dies as it would on the caller's. pic_writer_foreground (and
 * pic_writer_close) waits until everything queued is done and ends the
 * thread. Outside background mode pic_writer_defer runs fn at once. */
typedef void pic_writer_job(pic_writer *w, void *ctx);
void pic_writer_background(pic_writer *w);
void pic_writer_defer(pic_writer *w, pic_writer_job *fn, void *ctx);
void pic_writer_foreground(pic_writer *w);
/* Ends the zstd frame, flushes and closes; dies if any write failed. */
void pic_writer_close(pic_writer *w);

#endif
