/* JSON helpers over jansson: the one serializer every stream uses, and field
 * accessors whose errors name the file, the record and the field. */
#ifndef PIC_JSON_H
#define PIC_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* Compact JSON, keys in their original order, UTF-8 as is. Reals print in the
 * shortest form that reads back to the same value: a value that is exactly a
 * float32 as the shortest that round-trips through float32 (at most %.9g),
 * any other double as the shortest that round-trips through double (at most
 * %.17g). Integers print as integers. Appends to *buf (grown as needed). */
typedef struct {
    char *data;
    size_t len, cap;
} pic_buf;
void pic_buf_append(pic_buf *b, const char *s, size_t n);
void pic_buf_printf(pic_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pic_buf_free(pic_buf *b);
void pic_json_dump(pic_buf *b, const json_t *v);
/* obj as one compact line (pic_json_dump) on standard output; dies on a
 * write error. Buffered: pic_stdout_close flushes and checks at the end. */
void pic_print_json_line(const json_t *obj);
/* Shortest round-trip text of a real (see above) into out (>= 32 bytes). */
int pic_format_real(char *out, double x);
/* Python's repr of a real (json.dumps writes it): the shortest digits that
 * read back as x, as a float when single, else as a double; fixed point
 * from 1e-4 up to 1e16 (10000.0, 1e-06, 1e+16). */
int pic_format_real_repr(char *out, double x, bool single);
/* v as Python's json.dumps(v, indent=2, sort_keys=True) writes it, with a
 * newline after, as transformers' to_json_string (PretrainedConfig's and
 * GenerationConfig's): one member a line, indented two spaces a level,
 * "key": value, an object's keys sorted (nested ones too), reals as
 * pic_format_real_repr's doubles; for the files transformers writes and
 * people read (config.json, generation_config.json). */
void pic_json_dump_indented(pic_buf *b, const json_t *v);
/* Set by a program whose reals are computed doubles, none from a float32
 * (pictl): each prints as the shortest that round-trips through double,
 * also one that happens to be exactly a float32, whose float32 form would
 * read back as another double. */
extern bool pic_json_doubles;

/* json_loadb, except that a raw NUL byte anywhere in text is malformed
 * JSON: jansson drops one that follows a number or a literal ({"a": 1\0}
 * reads as {"a": 1}). err then holds its line, its column (in characters,
 * as jansson counts them) and "a raw NUL byte (...)". */
json_t *pic_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err);

/* A record's context for messages: where it came from. */
typedef struct {
    const pic_reader *reader; /* file and line; may be NULL */
    const json_t *obj;
} pic_rec;

/* Accessors: a missing required field or a wrong type dies with
 * "FILE:LINE: field 'NAME': ...". The _opt forms return the default when the
 * field is absent or null. */
json_t *pic_field(pic_rec r, const char *name, bool required);
const char *pic_field_string_opt(pic_rec r, const char *name, const char *dflt);

/* New JSON arrays from C arrays (floats stored as their exact double value,
 * so they print as float32 shortest). */
json_t *pic_json_floats(const float *x, size_t n);
json_t *pic_json_ints(const int32_t *x, size_t n);

/* The id of a record as a string key (id may be a string or an integer). */
const char *pic_id_key(pic_rec r, char *tmp, size_t tmpsize);

#endif
